// `sigil ingest`: the ingest role as its own process: the HTTP NDJSON, OTLP/HTTP and syslog receivers
// normalizing to ECS and publishing to sigil.events (bad input to sigil.dlq). Stops gracefully on SIGTERM.
import path from "node:path";
import { loadConfig } from "../../platform/config/load.ts";
import { createBus } from "../../platform/bus/create.ts";
import { Lifecycle } from "../../platform/lifecycle.ts";
import { CachedTokenVerifier, TokenStore } from "../../platform/security/tokens.ts";
import { auditConfigChange } from "../../platform/security/audit.ts";
import { logger, setLogLevel } from "../../platform/telemetry/log.ts";
import { monitorBus } from "../../platform/telemetry/lag.ts";
import { registerDependencyChecks, telemetryStep } from "../../platform/telemetry/role.ts";
import { ingestRole } from "../../ingest/service.ts";
import { EXIT, configOption, type Command } from "../command.ts";
import { openStore, runUntilSignal } from "../roles.ts";

export const command: Command = {
  name: "ingest",
  summary: "run the ingest role: HTTP NDJSON, OTLP/HTTP and syslog receivers publishing ECS events to the bus",
  usage: "ingest [--config <file>]",
  description: `
Listens for logs and traces (addresses from ingest.* in the config; defaults on 127.0.0.1):
  HTTP NDJSON  POST /v1/ingest on :8088 (agent records or raw JSON lines; token, gzip, batch headers)
  OTLP/HTTP    POST /v1/logs and /v1/traces on :4318 (JSON or protobuf; token)
  syslog       UDP and TCP on :5514 (octet counting or newline framing), TLS on :6514 when enabled
Each record is normalized to ECS and published to sigil.events; records that cannot be normalized
go to sigil.dlq with the reason. Clients are answered only after the bus accepted their batch; when
the bus is behind, HTTP and OTLP answer 429 with Retry-After and syslog TCP stops reading.
Tokens: \`sigil tokens create --name <host>\`. Health: GET /healthz and /readyz on every HTTP listener.
SIGTERM stops taking work, finishes the batches in flight and exits 0.`,
  options: { config: configOption },
  async run(args, ctx) {
    const config = loadConfig({ file: (args.values.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
    setLogLevel(config.telemetry.log_level ?? "info");
    const log = logger("ingest");
    const store = await openStore(config, ctx.cwd);
    const bus = monitorBus(await createBus(config.bus, { dataDir: path.resolve(ctx.cwd, config.data_dir), logger: logger("bus") }));
    const telemetry = telemetryStep(config.telemetry, log);
    let unregister: (() => void) | null = null;
    const base = new Lifecycle("ingest-process", log)
      .add({ name: "store", start: () => store.init(), stop: () => store.close() })
      .add({ name: "config audit", start: () => auditConfigChange(store, "ingest", config).then(() => undefined, (err: Error) => log.warn({ err: err.message }, "could not record the config in the audit log")) })
      .add(telemetry)
      // the store holds the agent tokens: ingest is not ready when it cannot verify them
      .add({ name: "store check", start: () => void (unregister = registerDependencyChecks("ingest", { store })), stop: () => unregister?.() });
    const verifier = new CachedTokenVerifier(new TokenStore(store), config.security.tokens.refresh_ms);
    const role = ingestRole({ config, bus, verifier, log });
    try {
      await runUntilSignal([base, role.lifecycle], ctx.signal, log, () => {
        for (const l of role.listeners()) ctx.stderr.write(`sigil ingest: ${l.name} listening on ${l.url}\n`);
        if (telemetry.url()) ctx.stderr.write(`sigil ingest: telemetry on ${telemetry.url()}\n`);
        log.info({ listeners: role.listeners().map((l) => l.url) }, "ingest role running");
      });
    } finally {
      const t0 = Date.now();
      await bus.close();
      log.info({ ms: Date.now() - t0 }, "bus closed");
    }
    return EXIT.ok;
  },
};
