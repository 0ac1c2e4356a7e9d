// Config of the ingest role: HTTP NDJSON, syslog and OTLP receivers, and input limits.
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

export const ingestSchema = z
  .strictObject({
    http: listener(8088),
    otlp: listener(4318),
    syslog: z
      .strictObject({
        udp: listener(5514),
        tcp: listener(5514),
        tls: listener(6514, false),
      })
      .prefault({}),
    limits: z
      .strictObject({
        max_body_bytes: z.number().int().positive().default(10 * 1024 * 1024),
        max_line_bytes: z.number().int().positive().default(256 * 1024),
        max_events_per_batch: z.number().int().positive().default(10_000),
        max_json_depth: z.number().int().positive().default(64),
        max_fields: z.number().int().positive().default(4096),
      })
      .prefault({}),
    /** Largest number of events buffered towards the bus before receivers answer 429. */
    max_pending_events: z.number().int().positive().default(100_000),
  })
  .prefault({});
export type IngestConfig = z.infer<typeof ingestSchema>;
