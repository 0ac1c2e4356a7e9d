// Config of the bus: the in-process bus (embedded default) or Kafka.
import { z } from "zod";
import { secretSchema, tlsSchema } from "./common.ts";

export const busSchema = z
  .strictObject({
    type: z.enum(["memory", "kafka"]).default("memory"),
    /** Prepended to every topic name (sigil.events → <prefix>sigil.events) and consumer group id; tests use it to isolate runs. */
    topic_prefix: z
      .string()
      .max(100)
      .regex(/^[a-zA-Z0-9._-]*$/, "only letters, digits, '.', '_' and '-' are allowed in Kafka topic names")
      .default(""),
    /** Partitions per topic when Sigil creates topics. */
    partitions: z.number().int().min(1).max(1024).default(6),
    memory: z
      .strictObject({
        /** Keep an on-disk journal (SQLite, in data_dir) so acknowledged messages and committed offsets survive a crash of the one-process setup. */
        journal: z.boolean().default(true),
        /** Journal file; relative paths resolve against data_dir. */
        journal_path: z.string().min(1).default("bus-journal.db"),
        /** normal: survives the process being killed; full: also survives power loss (an fsync per send). */
        journal_sync: z.enum(["normal", "full"]).default("normal"),
        /** Messages kept per partition after every group committed past them (dropped first when memory is short). */
        retention_messages: z.number().int().min(0).default(10_000),
        /** Back-pressure: bytes held per topic; a send beyond it waits for consumers to commit. */
        max_buffered_bytes: z.number().int().min(1024).default(64 * 1024 * 1024),
        /** How long a send waits for room before failing with bus_full. */
        send_timeout_ms: z.number().int().min(0).default(30_000),
        /** A consumer group with no members keeps its uncommitted messages this long (so a restarting role finds them). */
        empty_group_hold_ms: z.number().int().min(0).default(600_000),
      })
      .prefault({}),
    kafka: z
      .strictObject({
        brokers: z.array(z.string().min(1)).min(1).default(["127.0.0.1:19092"]),
        client_id: z.string().default("sigil"),
        replication_factor: z.number().int().min(1).default(1),
        /**
         * Producer compression: lz4 (the default) costs the least CPU per message on both ends, gzip
         * compresses the most (decision 0021). Any Kafka client reads both; a kafkajs client outside
         * Sigil needs an LZ4 codec installed.
         */
        compression: z.enum(["none", "gzip", "lz4"]).default("lz4"),
        connection_timeout_ms: z.number().int().positive().default(3000),
        request_timeout_ms: z.number().int().positive().default(30000),
        /** At start-up, keep retrying an unreachable cluster this long (capped exponential backoff with jitter) before failing. */
        startup_timeout_ms: z.number().int().min(0).default(60_000),
        /** Cap of the exponential backoff between retries (connections, sends, redeliveries). */
        retry_max_ms: z.number().int().positive().default(30_000),
        /** A member that sends no heartbeat this long is removed from its group (broker bounds: 6 s to 5 min by default). */
        session_timeout_ms: z.number().int().min(1000).default(30_000),
        heartbeat_interval_ms: z.number().int().min(100).default(3000),
        /** Longest a fetch waits on the broker for new data; also bounds how fast an idle member notices a rebalance. */
        max_wait_ms: z.number().int().min(10).max(30_000).default(1000),
        /** Partitions one consumer processes concurrently (order stays per partition). */
        consumer_concurrency: z.number().int().min(1).max(64).default(1),
        /** Uncompressed bytes per produce request; larger sends are split. */
        max_request_bytes: z.number().int().min(1024).default(1_000_000),
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
