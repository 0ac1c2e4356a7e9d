// Composition helpers for role commands (`sigil correlate`, `sigil start`): the configured store and
// bus, and running a set of lifecycles until SIGINT/SIGTERM, then stopping them in reverse order.
import fs from "node:fs";
import path from "node:path";
import type { SigilConfig } from "../platform/config/schema.ts";
import { UsageError } from "../platform/errors.ts";
import type { Lifecycle } from "../platform/lifecycle.ts";
import type { Store } from "../platform/store/types.ts";
import type { Logger } from "../platform/telemetry/log.ts";
import { health } from "../platform/telemetry/health.ts";

/** The store the config names (embedded under data_dir, or Elasticsearch). */
export async function openStore(config: SigilConfig, cwd: string): Promise<Store> {
  if (config.store.type === "embedded") {
    const { EmbeddedStore, embeddedOptionsFromConfig } = await import("../platform/store/embedded.ts");
    const dataDir = path.resolve(cwd, config.data_dir);
    fs.mkdirSync(dataDir, { recursive: true });
    return new EmbeddedStore(embeddedOptionsFromConfig(config.store, dataDir));
  }
  const file = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../platform/store/elasticsearch.ts");
  if (!fs.existsSync(file)) {
    throw new UsageError("store_unavailable", "the Elasticsearch store is not available in this build", { hint: "use store.type: embedded" });
  }
  const mod = (await import(file)) as { createElasticsearchStore?: (c: SigilConfig) => Store | Promise<Store>; ElasticsearchStore?: { fromConfig(c: SigilConfig): Store | Promise<Store> } };
  if (mod.createElasticsearchStore) return mod.createElasticsearchStore(config);
  if (mod.ElasticsearchStore) return mod.ElasticsearchStore.fromConfig(config);
  throw new UsageError("store_unavailable", "the Elasticsearch store module exports no factory", { hint: "use store.type: embedded" });
}

/**
 * Rule directories from the config, resolved against cwd; the default relative dirs (rules/sigma,
 * rules/correlation, rules/anomaly) fall back to the project's own rule pack when cwd has none.
 */
export function resolveRuleDirs(dirs: string[], cwd: string): string[] {
  const project = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
  return dirs.map((d) => {
    const here = path.resolve(cwd, d);
    if (fs.existsSync(here) || path.isAbsolute(d)) return here;
    const packaged = path.resolve(project, d);
    return fs.existsSync(packaged) ? packaged : here;
  });
}

/** Starts the lifecycles in order; resolves when `signal` fires and every lifecycle has stopped. */
export async function runUntilSignal(lifecycles: Lifecycle[], signal: AbortSignal, log: Logger, onStarted?: () => void | Promise<void>): Promise<void> {
  const started: Lifecycle[] = [];
  try {
    for (const l of lifecycles) {
      await l.start();
      started.push(l);
    }
    await onStarted?.();
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    // readiness fails from here on, so load balancers stop sending work while batches finish
    health.drain();
    log.info("shutting down: finishing in-flight batches");
  } finally {
    for (const l of started.reverse()) await l.stop();
  }
}
