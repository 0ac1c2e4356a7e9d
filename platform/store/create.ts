// Picks the store implementation the config names: the embedded SQLite store under the data
// directory (default) or Elasticsearch. The caller calls init() (or uses openStore, which does).
import type { StoreConfig } from "../config/schema.ts";
import { EmbeddedStore, embeddedOptionsFromConfig } from "./embedded.ts";
import type { Store } from "./types.ts";

/** A store for the config, not yet initialized. */
export async function createStore(cfg: StoreConfig, dataDir: string): Promise<Store> {
  if (cfg.type === "embedded") return new EmbeddedStore(embeddedOptionsFromConfig(cfg, dataDir));
  const { ElasticsearchStore, elasticsearchOptionsFromConfig } = await import("./elasticsearch.ts");
  return new ElasticsearchStore(elasticsearchOptionsFromConfig(cfg));
}

/** createStore followed by init(): templates, tables and indexes exist when it resolves. */
export async function openStore(cfg: StoreConfig, dataDir: string): Promise<Store> {
  const store = await createStore(cfg, dataDir);
  await store.init();
  return store;
}
