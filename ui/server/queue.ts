// The live queue's reads from the store: a snapshot of the alerts a filter selects (newest update first,
// up to the configured bound) and the counts by status for that filter.

import type { Store } from "../../platform/store/types.ts";
import type { Alert } from "../../schema/signal.ts";
import { FILTER_STATUSES, filterToQuery, summarizeAlert, type AlertFilter } from "../shared/alert-filter.ts";
import type { Snapshot, SnapshotPage } from "./live/hub.ts";

export async function queueCounts(store: Store, filter: AlertFilter, me: string): Promise<Record<string, number>> {
  const buckets = await store.terms("alerts", { query: filterToQuery(filter, me, { withStatus: false }) }, "status", 16);
  const counts: Record<string, number> = {};
  for (const s of FILTER_STATUSES) counts[s] = 0;
  for (const b of buckets) if ((FILTER_STATUSES as readonly string[]).includes(b.key)) counts[b.key] = b.count;
  return counts;
}

/**
 * The alerts a filter selects, newest update first, up to `max`, as pages: a small first page (the queue
 * shows it at once) and larger ones after it.
 */
export async function* queueSnapshotPages(store: Store, filter: AlertFilter, me: string, max: number, firstPage = 100, pageSize = 2000): AsyncGenerator<SnapshotPage> {
  const query = filterToQuery(filter, me);
  let after: string | undefined;
  let total = 0;
  let lowerBound = false;
  let sent = 0;
  for (let first = true; ; first = false) {
    const size = Math.max(1, Math.min(first ? firstPage : pageSize, 10_000, max - sent));
    const r = await store.search("alerts", { query, sort: [{ field: "updated", order: "desc" }], size, after, timeField: "updated", trackTotalUpTo: 1_000_000 });
    if (first) {
      total = r.total;
      lowerBound = r.totalIsLowerBound;
    }
    sent += r.hits.length;
    const last = !r.next || r.hits.length === 0 || sent >= max;
    yield { alerts: r.hits.map((d) => summarizeAlert(d as Alert)), total, truncated: last && (lowerBound || total > sent), last };
    if (last) return;
    after = r.next;
  }
}

export async function queueSnapshot(store: Store, filter: AlertFilter, me: string, max: number): Promise<Snapshot> {
  const alerts: Snapshot["alerts"] = [];
  let total = 0;
  let truncated = false;
  for await (const page of queueSnapshotPages(store, filter, me, max, Math.min(max, 10_000), 10_000)) {
    alerts.push(...page.alerts);
    total = page.total;
    truncated = page.truncated;
  }
  const counts = await queueCounts(store, filter, me);
  return { alerts, total, truncated, counts };
}
