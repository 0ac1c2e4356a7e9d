// The root of Sigil's typed config: one strict object per section, named defaults for everything,
// so Sigil starts with no config file at all. Unknown keys are errors.
import { z } from "zod";
import { busSchema } from "./sections/bus.ts";
import { storeSchema } from "./sections/store.ts";
import { ingestSchema } from "./sections/ingest.ts";
import { correlateSchema } from "./sections/correlate.ts";
import { consoleSchema } from "./sections/console.ts";
import { telemetrySchema } from "./sections/telemetry.ts";
import { securitySchema } from "./sections/security.ts";
import { indexSchema } from "./sections/index.ts";

export const configSchema = z.strictObject({
  /** Name of this instance in logs and metrics; defaults to the host name. */
  node_name: z.string().nullable().default(null),
  /** Where the embedded store, the bus journal, users, tokens and local state live. */
  data_dir: z.string().default(".sigil/data"),
  bus: busSchema,
  store: storeSchema,
  ingest: ingestSchema,
  correlate: correlateSchema,
  index: indexSchema,
  console: consoleSchema,
  telemetry: telemetrySchema,
  security: securitySchema,
});

export type SigilConfig = z.infer<typeof configSchema>;
export type { BusConfig } from "./sections/bus.ts";
export type { StoreConfig } from "./sections/store.ts";
export type { IngestConfig } from "./sections/ingest.ts";
export type { CorrelateConfig } from "./sections/correlate.ts";
export type { ConsoleConfig } from "./sections/console.ts";
export type { TelemetryConfig } from "./sections/telemetry.ts";
export type { SecurityConfig } from "./sections/security.ts";
export type { IndexConfig } from "./sections/index.ts";
export type { TlsConfig, SecretRef } from "./sections/common.ts";
