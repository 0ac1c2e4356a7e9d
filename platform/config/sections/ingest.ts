// Config of the ingest role: HTTP NDJSON, syslog and OTLP receivers, input limits, publishing to the bus.
import { z } from "zod";
import { hostSchema, portSchema, tlsSchema } from "./common.ts";

const listener = (port: number, enabled = true) =>
  z
    .strictObject({
      enabled: z.boolean().default(enabled),
      host: hostSchema.default("127.0.0.1"),
      port: portSchema.default(port),
      tls: tlsSchema,
    })
    .prefault({});

const syslogListener = (port: number, enabled = true) =>
  z
    .strictObject({
      enabled: z.boolean().default(enabled),
      host: hostSchema.default("127.0.0.1"),
      port: portSchema.default(port),
      tls: tlsSchema,
      /** Parser for the messages (a name from `sigil normalize --list-formats`); both syslog parsers read RFC 3164 and 5424. */
      format: z.string().min(1).default("syslog-rfc5424"),
    })
    .prefault({});

export const ingestSchema = z
  .strictObject({
    http: listener(8088),
    otlp: listener(4318),
    syslog: z
      .strictObject({
        udp: syslogListener(5514),
        tcp: syslogListener(5514),
        /** Syslog over TLS (RFC 5425); tls.enabled must be true with a certificate and key. */
        tls: syslogListener(6514, false),
        /** Open TCP/TLS connections at most; further connections are refused. */
        max_connections: z.number().int().positive().default(1024),
        /** A TCP/TLS connection silent this long is closed. */
        idle_timeout_ms: z.number().int().positive().default(300_000),
      })
      .prefault({}),
    /** Time zone (IANA name or +hh:mm) for timestamps that carry none (RFC 3164 syslog, Apache error logs). */
    timezone: z.string().min(1).default("UTC"),
    limits: z
      .strictObject({
        max_body_bytes: z.number().int().positive().default(10 * 1024 * 1024),
        max_line_bytes: z.number().int().positive().default(256 * 1024),
        max_events_per_batch: z.number().int().positive().default(10_000),
        max_json_depth: z.number().int().positive().default(64),
        max_fields: z.number().int().positive().default(4096),
        /** HTTP and OTLP requests being processed at once (each up to max_body_bytes in memory); more get 429 with Retry-After. */
        max_inflight_requests: z.number().int().positive().default(16),
      })
      .prefault({}),
    publish: z
      .strictObject({
        /** Events per produce request; larger batches are split. */
        max_batch_events: z.number().int().positive().default(5_000),
        /** Syslog messages wait at most this long to be batched with others before they are published. */
        linger_ms: z.number().int().min(0).default(10),
      })
      .prefault({}),
    /** Largest number of events buffered towards the bus before receivers answer 429. */
    max_pending_events: z.number().int().positive().default(100_000),
  })
  .prefault({});
export type IngestConfig = z.infer<typeof ingestSchema>;
