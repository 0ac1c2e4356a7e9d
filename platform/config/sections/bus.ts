// Config of the bus: the in-process bus (embedded default) or Kafka.
import { z } from "zod";
import { secretSchema, tlsSchema } from "./common.ts";

export const busSchema = z
  .strictObject({
    type: z.enum(["memory", "kafka"]).default("memory"),
    /** Prepended to every topic name (sigil.events → <prefix>sigil.events); tests use it to isolate runs. */
    topic_prefix: z.string().default(""),
    /** Partitions per topic when Sigil creates topics. */
    partitions: z.number().int().min(1).max(1024).default(6),
    memory: z
      .strictObject({
        /** Keep an on-disk journal so acknowledged messages survive a crash of the one-process setup. */
        journal: z.boolean().default(true),
        /** Messages kept per partition after every group committed past them. */
        retention_messages: z.number().int().min(0).default(100_000),
      })
      .prefault({}),
    kafka: z
      .strictObject({
        brokers: z.array(z.string().min(1)).min(1).default(["127.0.0.1:19092"]),
        client_id: z.string().default("sigil"),
        replication_factor: z.number().int().min(1).default(1),
        compression: z.enum(["none", "gzip"]).default("gzip"),
        connection_timeout_ms: z.number().int().positive().default(3000),
        request_timeout_ms: z.number().int().positive().default(30000),
        tls: tlsSchema,
        sasl: z
          .strictObject({
            mechanism: z.enum(["none", "plain", "scram-sha-256", "scram-sha-512"]).default("none"),
            username: z.string().nullable().default(null),
            password: secretSchema,
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .prefault({});
export type BusConfig = z.infer<typeof busSchema>;
