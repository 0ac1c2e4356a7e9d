// Config of Sigil's own telemetry: structured logs and the metrics/health listener.
import { z } from "zod";
import { hostSchema, portSchema, secretSchema, tlsSchema } from "./common.ts";

export const telemetrySchema = z
  .strictObject({
    log_level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
    metrics: z
      .strictObject({
        enabled: z.boolean().default(true),
        host: hostSchema.default("127.0.0.1"),
        /** 0 picks a free port; each role of a multi-role process shares one listener. */
        port: portSchema.default(9464),
        tls: tlsSchema,
        /** Bearer token guarding /metrics and the details of /readyz (a file or env reference). */
        token: secretSchema,
      })
      .prefault({}),
    /** What /readyz asks of a role besides a reachable bus and store: its consumers caught up within a bound. */
    ready: z
      .strictObject({
        /** Messages a consumer group of this process may be behind (summed over its partitions) and still be ready. */
        max_lag_messages: z.number().int().min(0).default(50_000),
        /** How often consumer lag is read from the bus (sigil_bus_consumer_lag_messages). */
        lag_interval_ms: z.number().int().min(250).max(300_000).default(5_000),
      })
      .prefault({}),
  })
  .prefault({});
export type TelemetryConfig = z.infer<typeof telemetrySchema>;
