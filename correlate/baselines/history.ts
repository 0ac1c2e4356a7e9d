// The baseline history the console's Baselines page draws (schema/baseline-history.ts): every closed
// interval of every baseline, with its expected band, collected from the baselines stage and written to
// the store's `state` collection in batches. Bounded: one document per rule and entity, its points kept
// within a retention and a count, a cap on the baselines with history, documents no longer updated swept.

import type { Store } from "../../platform/store/types.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { describeError } from "../../platform/errors.ts";
import { BASELINE_HISTORY_KIND, baselineHistoryId, type BaselineHistory, type BaselinePoint } from "../../schema/baseline-history.ts";
import type { IntervalClose } from "./engine.ts";
import { metricName } from "./signal.ts";

/** Named defaults. */
export const HISTORY_DEFAULTS = {
  /** Points per baseline (the newest are kept). */
  maxPoints: 2_000,
  /** Points older than this before a baseline's newest point are dropped; documents not updated for this long are deleted. */
  retentionMs: 30 * 86_400_000,
  /** Baselines with history per process (the console lists 5 000); past it new entities get none until one is swept. */
  maxBaselines: 10_000,
  /** Quiet intervals (no events, value 0) written as points before a closed interval. */
  quietPoints: 48,
  /** Documents per store request. */
  batch: 500,
};

export type HistoryOptions = typeof HISTORY_DEFAULTS;

interface Pending {
  ruleId: string;
  ruleTitle: string;
  metric: string;
  field: string;
  value: string;
  intervalMs: number;
  points: BaselinePoint[];
}

const iso = (t: number) => new Date(t).toISOString();

/** Merges points by interval start (a later point for the same interval wins), oldest first, within the bounds. */
export function mergePoints(stored: BaselinePoint[], added: BaselinePoint[], opts: Pick<HistoryOptions, "maxPoints" | "retentionMs">): BaselinePoint[] {
  const byT = new Map<string, BaselinePoint>();
  for (const p of stored) if (p && typeof p.t === "string" && Number.isFinite(Date.parse(p.t))) byT.set(p.t, p);
  for (const p of added) byT.set(p.t, p);
  const all = [...byT.values()].sort((a, b) => Date.parse(a.t) - Date.parse(b.t));
  if (all.length === 0) return all;
  const newest = Date.parse(all[all.length - 1].t);
  let start = Math.max(0, all.length - opts.maxPoints);
  while (start < all.length && Date.parse(all[start].t) < newest - opts.retentionMs) start++;
  return all.slice(start);
}

export class BaselineHistoryWriter {
  readonly opts: HistoryOptions;
  /** Baselines with points not yet written, by document id. */
  private pending = new Map<string, Pending>();
  /** Baselines this process keeps history for (insertion order = least recently closed first). */
  private tracked = new Map<string, number>();
  private flushing: Promise<void> | null = null;
  /** Newest interval start seen (what "idle" is measured against). */
  private newest = -Infinity;
  readonly stats = { points: 0, written: 0, untracked: 0, failed: 0, swept: 0 };

  constructor(
    private readonly store: Store,
    opts: Partial<HistoryOptions> = {},
    private readonly log?: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.opts = { ...HISTORY_DEFAULTS, ...opts };
  }

  /** One closed interval (from the baselines stage; runs on the hot path of a batch: memory only). */
  add(c: IntervalClose): void {
    const r = c.a.rule;
    const field = r.entity.join(",");
    const id = baselineHistoryId(r.id, field, c.key);
    if (c.intervalStart > this.newest) this.newest = c.intervalStart;
    if (!this.tracked.has(id)) {
      if (this.tracked.size >= this.opts.maxBaselines && !this.evictIdle()) {
        this.stats.untracked++;
        return;
      }
    } else this.tracked.delete(id);
    this.tracked.set(id, c.intervalStart);
    let p = this.pending.get(id);
    if (!p) this.pending.set(id, (p = { ruleId: r.id, ruleTitle: r.title, metric: metricName(c.a), field, value: c.key, intervalMs: r.intervalMs, points: [] }));
    const quiet = Math.min(c.quietBefore, this.opts.quietPoints);
    for (let k = quiet; k >= 1; k--) p.points.push({ t: iso(c.intervalStart - k * r.intervalMs), observed: 0, low: null, high: null, center: null });
    p.points.push({ t: iso(c.intervalStart), observed: c.observed, low: c.expected?.low ?? null, high: c.expected?.high ?? null, center: c.expected?.center ?? null });
    if (p.points.length > this.opts.maxPoints * 2) p.points.splice(0, p.points.length - this.opts.maxPoints);
    this.stats.points += quiet + 1;
  }

  /** Frees the slot of the baseline whose last interval is oldest when it is older than the retention. */
  private evictIdle(): boolean {
    const first = this.tracked.entries().next();
    if (first.done) return false;
    const [id, last] = first.value;
    if (last >= this.newest - this.opts.retentionMs || this.pending.has(id)) return false;
    this.tracked.delete(id);
    return true;
  }

  /** Baselines with points waiting to be written. */
  get backlog(): number {
    return this.pending.size;
  }

  /** Writes every pending baseline: read, merge, write, in batches. Points that fail stay pending for the next flush. */
  flush(): Promise<void> {
    if (!this.flushing) this.flushing = this.doFlush().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    if (this.pending.size === 0) return;
    const work = this.pending;
    this.pending = new Map();
    const ids = [...work.keys()];
    for (let i = 0; i < ids.length; i += this.opts.batch) {
      const slice = ids.slice(i, i + this.opts.batch);
      try {
        const stored = new Map((await this.store.getMany("state", slice)).map((d) => [String(d["id"]), d as BaselineHistory]));
        const at = iso(this.now());
        const docs: BaselineHistory[] = slice.map((id) => {
          const p = work.get(id)!;
          const cur = stored.get(id);
          return {
            id,
            kind: BASELINE_HISTORY_KIND,
            "@timestamp": at,
            rule_id: p.ruleId,
            rule_title: p.ruleTitle,
            metric: p.metric,
            entity: { field: p.field, value: p.value },
            interval_ms: p.intervalMs,
            points: mergePoints(cur && cur.interval_ms === p.intervalMs && Array.isArray(cur.points) ? cur.points : [], p.points, this.opts),
          };
        });
        await this.store.put("state", docs);
        this.stats.written += docs.length;
      } catch (err) {
        // keep the points (merged with any added meanwhile) for the next flush
        this.stats.failed += slice.length;
        for (const id of slice) {
          const p = work.get(id)!;
          const later = this.pending.get(id);
          if (later) p.points.push(...later.points.splice(0));
          if (p.points.length > this.opts.maxPoints) p.points.splice(0, p.points.length - this.opts.maxPoints);
          this.pending.set(id, p);
        }
        this.log?.warn({ err: describeError(err), baselines: slice.length }, "could not write baseline history; kept for the next attempt");
      }
    }
  }

  /** Deletes history documents not updated within the retention (entities gone quiet, rules removed). */
  async sweep(maxDocs = 5_000): Promise<number> {
    const before = this.now() - this.opts.retentionMs;
    const r = await this.store.search("state", {
      query: { op: "term", field: "kind", value: BASELINE_HISTORY_KIND, wildcard: false, phrase: false },
      to: before,
      timeField: "@timestamp",
      size: Math.min(maxDocs, 10_000),
      sort: [{ field: "@timestamp", order: "asc" }],
    });
    const ids = r.hits.map((d) => String(d["id"]));
    for (let i = 0; i < ids.length; i += this.opts.batch) await this.store.delete("state", ids.slice(i, i + this.opts.batch));
    for (const id of ids) this.tracked.delete(id);
    this.stats.swept += ids.length;
    return ids.length;
  }
}
