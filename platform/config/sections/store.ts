// Config of the store: the embedded on-disk store (default) or Elasticsearch.
import { z } from "zod";
import { secretSchema, tlsSchema } from "./common.ts";

export const storeSchema = z
  .strictObject({
    type: z.enum(["embedded", "elasticsearch"]).default("embedded"),
    embedded: z
      .strictObject({
        /** Database file; relative paths resolve against data_dir. */
        path: z.string().default("store.db"),
      })
      .prefault({}),
    elasticsearch: z
      .strictObject({
        node: z.string().url().default("http://127.0.0.1:19200"),
        /** Prepended to every index and template name; tests use it to isolate runs. */
        index_prefix: z.string().default("sigil-"),
        username: z.string().nullable().default(null),
        password: secretSchema,
        api_key: secretSchema,
        tls: tlsSchema,
        request_timeout_ms: z.number().int().positive().default(30000),
        max_retries: z.number().int().min(0).default(5),
        bulk_max_docs: z.number().int().positive().default(2000),
        refresh: z.enum(["false", "wait_for", "true"]).default("false"),
      })
      .prefault({}),
  })
  .prefault({});
export type StoreConfig = z.infer<typeof storeSchema>;
