// The process-wide Prometheus registry every role registers its metrics in (served on /metrics).
import client from "prom-client";

export const registry = new client.Registry();
let defaultsOn = false;

/** Adds Node process metrics (CPU, memory, event loop lag) once per process. */
export function collectProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  client.collectDefaultMetrics({ register: registry, prefix: "sigil_" });
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
