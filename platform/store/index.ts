// The store: one interface, an embedded SQLite implementation and an Elasticsearch one, chosen by
// config, and the console's query language that both execute the same way.
export * from "./types.ts";
export { StoreRejectError, isStoreRejectError } from "./errors.ts";
export { createStore, openStore } from "./create.ts";
export { updateEach } from "./update-each.ts";
export { EmbeddedStore, embeddedOptionsFromConfig, type EmbeddedOptions } from "./embedded.ts";
export { parseQuery, queryFields, queryLimitsFromConfig, DEFAULT_QUERY_LIMITS, type QueryLimits } from "./query.ts";
export { canonicalize, fieldType, idField, isImmutable, tokens, type FieldType } from "./fields.ts";
export type { ElasticsearchStore, ElasticsearchOptions } from "./elasticsearch.ts";
