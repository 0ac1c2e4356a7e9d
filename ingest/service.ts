// The ingest role: the receivers (HTTP NDJSON, OTLP/HTTP, syslog UDP/TCP/TLS) feeding the normalizer
// and the publisher, as a Lifecycle of named steps with the matching teardown (receivers stop taking
// work and finish what is in flight, then the producer closes). `sigil ingest` runs it on its own;
// `sigil start` composes it with the other roles.

import type { SigilConfig } from "../platform/config/schema.ts";
import type { Bus, Producer } from "../platform/bus/types.ts";
import { UsageError } from "../platform/errors.ts";
import { Lifecycle } from "../platform/lifecycle.ts";
import { RateLimiter, ReplayGuard } from "../platform/security/limits.ts";
import type { TokenVerifier } from "../platform/security/types.ts";
import { health as defaultHealth, type Health } from "../platform/telemetry/health.ts";
import type { Logger } from "../platform/telemetry/log.ts";
import { getParser, PARSER_NAMES } from "./parsers/registry.ts";
import { defaultParseContext, type ParseContext } from "./parsers/types.ts";
import { isValidTimezone } from "./parsers/common/time.ts";
import { Publisher } from "./publisher.ts";
import { startHttpReceiver } from "./receivers/http.ts";
import { startOtlpReceiver } from "./receivers/otlp.ts";
import type { Listener } from "./receivers/server.ts";
import { startSyslogStream, startSyslogUdp } from "./receivers/syslog.ts";

export interface IngestRoleOptions {
  config: SigilConfig;
  bus: Bus;
  verifier: TokenVerifier;
  log: Logger;
  health?: Health;
}

export interface IngestRole {
  lifecycle: Lifecycle;
  /** The listeners running now, with their bound addresses (port 0 in config picks a free one). */
  listeners(): Listener[];
}

/** Checks the settings the schema cannot (names from the parser registry, time zones). */
export function checkIngestConfig(config: SigilConfig): void {
  const ing = config.ingest;
  if (!isValidTimezone(ing.timezone)) throw new UsageError("config_bad_value", `ingest.timezone ${JSON.stringify(ing.timezone)} is not a time zone`, { location: { key: "ingest.timezone" }, hint: 'use an IANA name such as "Europe/Berlin", "UTC" or an offset such as "+02:00"' });
  for (const t of ["udp", "tcp", "tls"] as const) {
    const f = ing.syslog[t].format;
    if (!getParser(f)) throw new UsageError("config_bad_value", `ingest.syslog.${t}.format ${JSON.stringify(f)} is not a format`, { location: { key: `ingest.syslog.${t}.format` }, hint: `use one of: ${PARSER_NAMES.join(", ")}` });
  }
  for (const [key, l] of [["ingest.http", ing.http], ["ingest.otlp", ing.otlp], ["ingest.syslog.tls", ing.syslog.tls]] as const) {
    if (l.enabled && l.tls.enabled && (!l.tls.cert_file || !l.tls.key_file)) {
      throw new UsageError("tls_missing_file", `${key}.tls is enabled without cert_file and key_file`, { location: { key: `${key}.tls` }, hint: "run `sigil certs dev` for development certificates" });
    }
  }
  if (ing.syslog.tls.enabled && !ing.syslog.tls.tls.enabled) {
    throw new UsageError("config_bad_value", "ingest.syslog.tls is enabled but its tls.enabled is false", { location: { key: "ingest.syslog.tls.tls.enabled" }, hint: "set tls.enabled: true with a certificate and key, or use ingest.syslog.tcp" });
  }
}

export function ingestRole(opts: IngestRoleOptions): IngestRole {
  const { config, bus, verifier, log } = opts;
  const ing = config.ingest;
  const h = opts.health ?? defaultHealth;
  let producer: Producer | null = null;
  let publisher: Publisher | null = null;
  let ctx: ParseContext = defaultParseContext();
  const running: Listener[] = [];
  const lifecycle = new Lifecycle("ingest", log);

  lifecycle.add({
    name: "check ingest config",
    start: () => {
      checkIngestConfig(config);
      ctx = defaultParseContext({ timezone: ing.timezone, jsonLimits: { maxDepth: ing.limits.max_json_depth, maxFields: ing.limits.max_fields } });
    },
  });
  lifecycle.add({
    name: "bus producer",
    async start() {
      await bus.ensureTopics();
      producer = await bus.producer();
      publisher = new Publisher(producer, { maxPending: ing.max_pending_events, maxBatchEvents: ing.publish.max_batch_events, log });
      h.register("ingest.bus", async () => bus.health());
      h.register("ingest.backlog", () => ({ ok: (publisher?.pendingEvents ?? 0) < ing.max_pending_events, detail: `${publisher?.pendingEvents ?? 0} events pending towards the bus` }));
    },
    async stop() {
      h.unregister("ingest.bus");
      h.unregister("ingest.backlog");
      publisher?.close();
      const t0 = Date.now();
      await producer?.close();
      log.info({ ms: Date.now() - t0 }, "ingest producer closed");
    },
  });
  const replay = new ReplayGuard(config.security.tokens.replay_window_ms);
  const limiter = new RateLimiter(config.security.tokens.rate_limit_eps);
  const listener = (name: string, enabled: boolean, start: () => Promise<Listener>) => {
    if (!enabled) return;
    let l: Listener | null = null;
    lifecycle.add({
      name,
      async start() {
        l = await start();
        running.push(l);
        log.info({ listener: l.name, url: l.url }, "ingest listening");
      },
      async stop() {
        if (!l) return;
        const t0 = Date.now();
        await l.close();
        running.splice(running.indexOf(l), 1);
        log.info({ listener: l.name, ms: Date.now() - t0 }, "ingest listener stopped");
      },
    });
  };
  const deps = () => ({ config: ing, publisher: publisher!, ctx, log });
  listener("http receiver", ing.http.enabled, () => startHttpReceiver({ ...deps(), verifier, replay, limiter }));
  listener("otlp receiver", ing.otlp.enabled, () => startOtlpReceiver({ ...deps(), verifier, limiter }));
  listener("syslog udp receiver", ing.syslog.udp.enabled, () => startSyslogUdp(deps()));
  listener("syslog tcp receiver", ing.syslog.tcp.enabled, () => startSyslogStream(deps(), "tcp"));
  listener("syslog tls receiver", ing.syslog.tls.enabled, () => startSyslogStream(deps(), "tls"));
  return { lifecycle, listeners: () => [...running] };
}
