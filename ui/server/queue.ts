// The live queue's reads from the store: a snapshot of the alerts a filter selects (newest update first,
// up to the configured bound) and the counts by status for that filter.

import type { Store } from "../../platform/store/types.ts";
import type { Alert } from "../../schema/signal.ts";
import { FILTER_STATUSES, filterToQuery, summarizeAlert, type AlertFilter } from "../shared/alert-filter.ts";
import type { Snapshot } from "./live/hub.ts";

export async function queueCounts(store: Store, filter: AlertFilter, me: string): Promise<Record<string, number>> {
  const buckets = await store.terms("alerts", { query: filterToQuery(filter, me, { withStatus: false }) }, "status", 16);
  const counts: Record<string, number> = {};
  for (const s of FILTER_STATUSES) counts[s] = 0;
  for (const b of buckets) if ((FILTER_STATUSES as readonly string[]).includes(b.key)) counts[b.key] = b.count;
  return counts;
}

export async function queueSnapshot(store: Store, filter: AlertFilter, me: string, max: number): Promise<Snapshot> {
  const query = filterToQuery(filter, me);
  const alerts: Snapshot["alerts"] = [];
  let after: string | undefined;
  let total = 0;
  let lowerBound = false;
  while (alerts.length < max) {
    const r = await store.search("alerts", {
      query,
      sort: [{ field: "updated", order: "desc" }],
      size: Math.min(10_000, max - alerts.length),
      after,
      timeField: "updated",
      trackTotalUpTo: 1_000_000,
    });
    if (after === undefined) {
      total = r.total;
      lowerBound = r.totalIsLowerBound;
    }
    for (const d of r.hits) alerts.push(summarizeAlert(d as Alert));
    if (!r.next || r.hits.length === 0) break;
    after = r.next;
  }
  const counts = await queueCounts(store, filter, me);
  return { alerts, total, truncated: lowerBound || total > alerts.length, counts };
}
