// The process-wide Prometheus registry every role registers its metrics in (served on /metrics).
import { PerformanceObserver, constants } from "node:perf_hooks";
import v8 from "node:v8";
import client from "prom-client";

export const registry = new client.Registry();
let defaultsOn = false;

/** Adds Node process metrics (CPU, memory, event loop lag) once per process. */
export function collectProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  client.collectDefaultMetrics({ register: registry, prefix: "sigil_" });
  // the heap right after each full collection: what is live, without the garbage a sawtooth of
  // "heap used" carries between collections (a leak shows here as steady growth; a plateau is a bound)
  const live = new client.Gauge({ name: "sigil_nodejs_heap_live_bytes", help: "V8 heap in use right after the last full (mark-compact) garbage collection", registers: [registry] });
  live.set(v8.getHeapStatistics().used_heap_size);
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (((e as unknown as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        live.set(v8.getHeapStatistics().used_heap_size);
        break;
      }
    }
  });
  obs.observe({ entryTypes: ["gc"] });
}

/** Returns the existing metric of that name or registers the one `make` builds. */
export function metric<T extends client.Metric<string>>(name: string, make: () => T): T {
  const existing = registry.getSingleMetric(name) as T | undefined;
  if (existing) return existing;
  const m = make();
  registry.registerMetric(m);
  return m;
}

export { client as prom };
