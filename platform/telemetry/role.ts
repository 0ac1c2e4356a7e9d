// What every role process does for its own telemetry, as named lifecycle steps: the /metrics, /healthz and
// /readyz listener with process metrics and the consumer-lag monitor; and the readiness checks of a
// role's dependencies (reachable bus and store).

import type { Bus } from "../bus/types.ts";
import type { Store } from "../store/types.ts";
import type { TelemetryConfig } from "../config/sections/telemetry.ts";
import { readSecret } from "../config/secret.ts";
import type { Step } from "../lifecycle.ts";
import { health as defaultHealth, type Health } from "./health.ts";
import { consumerLag, type ConsumerLagMonitor } from "./lag.ts";
import type { Logger } from "./log.ts";
import { collectProcessMetrics } from "./metrics.ts";
import { startTelemetryServer, type TelemetryServer } from "./server.ts";

export interface TelemetryStep extends Step {
  /** The listener's base URL once started (null when telemetry.metrics.enabled is false). */
  url(): string | null;
}

/**
 * The telemetry listener step (one per process, whatever roles it runs): process metrics, the listener
 * on telemetry.metrics.host:port and the consumer-lag monitor with its readiness check.
 */
export function telemetryStep(cfg: TelemetryConfig, log: Logger, opts: { health?: Health; lag?: ConsumerLagMonitor; env?: NodeJS.ProcessEnv } = {}): TelemetryStep {
  const h = opts.health ?? defaultHealth;
  const lag = opts.lag ?? consumerLag;
  let server: TelemetryServer | null = null;
  return {
    name: "telemetry listener",
    async start() {
      lag.configure({ intervalMs: cfg.ready.lag_interval_ms, maxLag: cfg.ready.max_lag_messages, log });
      lag.register(h);
      lag.start();
      if (!cfg.metrics.enabled) return;
      collectProcessMetrics();
      const m = cfg.metrics;
      server = await startTelemetryServer({ host: m.host, port: m.port, tls: m.tls, token: readSecret(m.token, "telemetry.metrics.token", opts.env), health: h, log });
      log.info({ url: server.url }, "telemetry listening (/metrics, /healthz, /readyz)");
    },
    async stop() {
      lag.stop();
      h.unregister("bus.consumer_lag");
      await server?.close();
      server = null;
    },
    url: () => server?.url ?? null,
  };
}

/**
 * Registers `<role>.bus` and `<role>.store` readiness checks (either may be absent); returns the
 * function that removes them.
 */
export function registerDependencyChecks(role: string, deps: { bus?: Bus | null; store?: Store | null }, health: Health = defaultHealth): () => void {
  const names: string[] = [];
  const { bus, store } = deps;
  if (bus) {
    health.register(`${role}.bus`, async () => {
      const r = await bus.health();
      return { ok: r.ok, detail: r.detail };
    });
    names.push(`${role}.bus`);
  }
  if (store) {
    // a store with a circuit breaker (Elasticsearch) is not ready while the breaker refuses writes
    const breaker = (store as { breaker?: { describe(): { ok: boolean; detail: string } } }).breaker;
    health.register(`${role}.store`, async () => {
      const b = breaker?.describe();
      if (b && !b.ok) return b;
      const r = await store.health();
      return { ok: r.ok, detail: r.detail };
    });
    names.push(`${role}.store`);
  }
  return () => {
    for (const n of names) health.unregister(n);
  };
}
