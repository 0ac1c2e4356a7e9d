// Config of the store: the embedded on-disk store (default) or Elasticsearch, retention, and the
// limits of the console's query language.
import { z } from "zod";
import { secretSchema, tlsSchema } from "./common.ts";

export const storeSchema = z
  .strictObject({
    type: z.enum(["embedded", "elasticsearch"]).default("embedded"),
    /** How long events and signals are kept; null keeps them until a size bound removes them. */
    retention: z
      .strictObject({
        events_days: z.number().positive().nullable().default(30),
        signals_days: z.number().positive().nullable().default(90),
        /** How often the store enforces retention and size bounds (0 = only when asked). */
        check_interval_s: z.number().int().min(0).default(600),
      })
      .prefault({}),
    /** Limits on the console's query language (platform/store/query.ts). */
    query: z
      .strictObject({
        max_length: z.number().int().min(1).max(1_000_000).default(8192),
        max_clauses: z.number().int().min(1).max(10_000).default(1024),
        max_depth: z.number().int().min(1).max(100).default(20),
        max_fields: z.number().int().min(1).max(1000).default(64),
      })
      .prefault({}),
    embedded: z
      .strictObject({
        /** Database file; relative paths resolve against data_dir. */
        path: z.string().default("store.db"),
        /** "full" fsyncs every commit (survives power loss); "normal" survives a killed process, not a power cut. */
        synchronous: z.enum(["full", "normal"]).default("full"),
        /** SQLite page cache per connection, MiB. */
        cache_mb: z.number().int().min(1).max(65536).default(64),
        /** Oldest events are deleted when the database grows past this many MiB (null = no bound). */
        max_size_mb: z.number().int().positive().nullable().default(null),
        /** Worker threads that run searches off the main thread (0 = run them in-process). */
        query_workers: z.number().int().min(0).max(8).default(1),
        /** Documents larger than this (serialized JSON, bytes) are rejected with a reason. */
        max_doc_bytes: z.number().int().positive().default(4 * 1024 * 1024),
      })
      .prefault({}),
    elasticsearch: z
      .strictObject({
        node: z.string().url().default("http://127.0.0.1:19200"),
        /** Prepended to every index and template name; tests use it to isolate runs. */
        index_prefix: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, "lowercase letters, digits, _ . - (an index-name prefix)").default("sigil-"),
        username: z.string().nullable().default(null),
        password: secretSchema,
        api_key: secretSchema,
        tls: tlsSchema,
        request_timeout_ms: z.number().int().positive().default(30000),
        max_retries: z.number().int().min(0).default(5),
        /** First retry delay; doubles per attempt up to max_backoff_ms, with full jitter. */
        backoff_ms: z.number().int().positive().default(200),
        max_backoff_ms: z.number().int().positive().default(10000),
        bulk_max_docs: z.number().int().positive().default(2000),
        bulk_max_bytes: z.number().int().positive().default(10 * 1024 * 1024),
        refresh: z.enum(["false", "wait_for", "true"]).default("false"),
        /** Events and signals go to one index per day, week or month of their @timestamp (retention drops whole indices), or one index. */
        time_index_interval: z.enum(["day", "week", "month", "none"]).default("day"),
        /** Upper bound on time-based indices per collection; documents that would open more are rejected with a reason. */
        max_time_indices: z.number().int().positive().default(1000),
        shards: z.number().int().min(1).default(1),
        replicas: z.number().int().min(0).default(0),
        /** Mapped fields per index; dynamic fields beyond it are kept in _source but not indexed. */
        total_fields_limit: z.number().int().min(100).default(5000),
      })
      .prefault({}),
  })
  .prefault({});
export type StoreConfig = z.infer<typeof storeSchema>;
