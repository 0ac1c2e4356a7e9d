// The store's metrics, updated once per batch or query: documents written by outcome, operation
// latency, retries. Labels are bounded: store kind, collection, operation, outcome.
import { metric, prom } from "../telemetry/metrics.ts";

export const docsWritten = metric(
  "sigil_store_docs_written_total",
  () => new prom.Counter({ name: "sigil_store_docs_written_total", help: "Documents put into the store, by outcome (created, existing, rejected)", labelNames: ["store", "collection", "outcome"] }),
);

export const opSeconds = metric(
  "sigil_store_operation_seconds",
  () =>
    new prom.Histogram({
      name: "sigil_store_operation_seconds",
      help: "Time per store operation (one put batch, one search, ...)",
      labelNames: ["store", "op"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
);

export const retries = metric(
  "sigil_store_retries_total",
  () => new prom.Counter({ name: "sigil_store_retries_total", help: "Requests to the store retried after a transient failure", labelNames: ["store", "reason"] }),
);

export const retentionDeleted = metric(
  "sigil_store_retention_deleted_total",
  () => new prom.Counter({ name: "sigil_store_retention_deleted_total", help: "Documents (embedded) or indices (Elasticsearch) removed by retention and size bounds", labelNames: ["store", "collection"] }),
);

/** Times an async operation into opSeconds. */
export async function timed<T>(store: string, op: string, fn: () => Promise<T> | T): Promise<T> {
  const end = opSeconds.startTimer({ store, op });
  try {
    return await fn();
  } finally {
    end();
  }
}
