// The baseline history the console's Baselines page draws (schema/baseline-history.ts): every closed
// interval of every baseline, with its expected band, collected from the baselines stage and written to
// the store's `state` collection in batches. Bounded: one document per rule and entity, its points kept
// within a retention and a count, a cap on the baselines with history, documents no longer updated swept.

import type { Store } from "../../platform/store/types.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { describeError } from "../../platform/errors.ts";
import { isStoreRejectError } from "../../platform/store/errors.ts";
import { BASELINE_HISTORY_KIND, BASELINE_SUMMARY_KIND, baselineHistoryId, baselineSummaryId, type BaselineHistory, type BaselinePoint, type BaselineSummary } from "../../schema/baseline-history.ts";
import type { CompiledAnomaly, IntervalClose } from "./engine.ts";
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

/** A baseline this process keeps history for, with the points not yet written. */
interface Tracked {
  a: CompiledAnomaly;
  key: string;
  id: string | null;
  /** Newest interval start added. */
  last: number;
  /** Points not yet written, flat: t, observed, low, high, center (NaN for no band). */
  pts: number[];
  queued: boolean;
}

const PT = 5;

const iso = (t: number) => new Date(t).toISOString();
const orNull = (x: number) => (Number.isNaN(x) ? null : x);

function toPoints(pts: number[]): BaselinePoint[] {
  const out: BaselinePoint[] = [];
  for (let i = 0; i + PT <= pts.length; i += PT) out.push({ t: iso(pts[i]), observed: pts[i + 1], low: orNull(pts[i + 2]), high: orNull(pts[i + 3]), center: orNull(pts[i + 4]) });
  return out;
}

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
  /** Tracked baselines by rule id and entity value. */
  private byRule = new Map<string, Map<string, Tracked>>();
  private count = 0;
  /** Baselines with points waiting to be written. */
  private dirty: Tracked[] = [];
  private flushing: Promise<void> | null = null;
  /** Newest interval start seen (what "idle" is measured against), and when idle ones were last looked for. */
  private newest = -Infinity;
  private lastScan = -Infinity;
  readonly stats = { points: 0, written: 0, untracked: 0, failed: 0, refused: 0, swept: 0 };

  constructor(
    private readonly store: Store,
    opts: Partial<HistoryOptions> = {},
    private readonly log?: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.opts = { ...HISTORY_DEFAULTS, ...opts };
  }

  /** One closed interval (from the baselines stage, on the hot path of a batch: memory only, a few numbers). */
  add(c: IntervalClose): void {
    const r = c.a.rule;
    if (c.intervalStart > this.newest) this.newest = c.intervalStart;
    let m = this.byRule.get(r.id);
    if (m === undefined) this.byRule.set(r.id, (m = new Map()));
    let t = m.get(c.key);
    if (t === undefined) {
      if (this.count >= this.opts.maxBaselines && !this.evictIdle()) {
        this.stats.untracked++;
        return;
      }
      t = { a: c.a, key: c.key, id: null, last: c.intervalStart, pts: [], queued: false };
      m.set(c.key, t);
      this.count++;
    }
    t.a = c.a; // the rule as last loaded (a hot swap may change its title)
    if (c.intervalStart > t.last) t.last = c.intervalStart;
    const quiet = Math.min(c.quietBefore, this.opts.quietPoints);
    const pts = t.pts;
    for (let k = quiet; k >= 1; k--) pts.push(c.intervalStart - k * r.intervalMs, 0, NaN, NaN, NaN);
    const e = c.expected;
    pts.push(c.intervalStart, c.observed, e ? e.low : NaN, e ? e.high : NaN, e ? e.center : NaN);
    if (pts.length > this.opts.maxPoints * 2 * PT) pts.splice(0, pts.length - this.opts.maxPoints * PT);
    if (!t.queued) {
      t.queued = true;
      this.dirty.push(t);
    }
    this.stats.points += quiet + 1;
  }

  /** Frees the slots of baselines idle for longer than the retention (looked for once per newer interval). */
  private evictIdle(): boolean {
    if (this.newest === this.lastScan) return false;
    this.lastScan = this.newest;
    const horizon = this.newest - this.opts.retentionMs;
    let freed = 0;
    for (const [rule, m] of this.byRule) {
      for (const [key, t] of m) {
        if (t.last < horizon && !t.queued) {
          m.delete(key);
          freed++;
        }
      }
      if (m.size === 0) this.byRule.delete(rule);
    }
    this.count -= freed;
    return freed > 0;
  }

  /** Baselines with points waiting to be written. */
  get backlog(): number {
    return this.dirty.length;
  }

  /** Writes every pending baseline: read, merge, write, in batches. Points that fail stay pending for the next flush. */
  flush(): Promise<void> {
    if (!this.flushing) this.flushing = this.doFlush().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    if (this.dirty.length === 0) return;
    const work = this.dirty;
    this.dirty = [];
    const taken = new Map<Tracked, number[]>();
    for (const t of work) {
      taken.set(t, t.pts);
      t.pts = [];
      t.queued = false;
    }
    for (let i = 0; i < work.length; i += this.opts.batch) {
      const slice = work.slice(i, i + this.opts.batch);
      for (const t of slice) t.id ??= baselineHistoryId(t.a.rule.id, t.a.rule.entity.join(","), t.key);
      let docs: BaselineHistory[] = [];
      try {
        const stored = new Map((await this.store.getMany("state", slice.map((t) => t.id!))).map((d) => [String(d["id"]), d as BaselineHistory]));
        const at = iso(this.now());
        docs = slice.map((t) => {
          const r = t.a.rule;
          const cur = stored.get(t.id!);
          return {
            id: t.id!,
            kind: BASELINE_HISTORY_KIND,
            "@timestamp": at,
            rule_id: r.id,
            rule_title: r.title,
            metric: metricName(t.a),
            entity: { field: r.entity.join(","), value: t.key },
            interval_ms: r.intervalMs,
            points: mergePoints(cur && cur.interval_ms === r.intervalMs && Array.isArray(cur.points) ? cur.points : [], toPoints(taken.get(t)!), this.opts),
          };
        });
        const summaries: BaselineSummary[] = docs.map((d) => ({
          id: baselineSummaryId(d.id),
          kind: BASELINE_SUMMARY_KIND,
          "@timestamp": d["@timestamp"],
          history_id: d.id,
          rule_id: d.rule_id,
          rule_title: d.rule_title,
          metric: d.metric,
          entity: d.entity,
          interval_ms: d.interval_ms,
          point_count: d.points.length,
          last_point: d.points[d.points.length - 1] ?? null,
        }));
        await this.store.put("state", [...docs, ...summaries]);
        this.stats.written += docs.length;
      } catch (err) {
        if (isStoreRejectError(err)) {
          // refused for what they are (not because the store is away): writing them again cannot help
          this.stats.refused += err.rejected.length;
          this.stats.written += docs.length - err.rejected.filter((x) => x.index < docs.length).length;
          this.log?.error({ refused: err.rejected.length, first: err.rejected[0] ? { id: err.rejected[0].id, code: err.rejected[0].code, reason: err.rejected[0].reason } : null }, "the store refused baseline history documents; their points are dropped");
          continue;
        }
        // the points go back in front of any added meanwhile, for the next flush
        this.stats.failed += slice.length;
        for (const t of slice) {
          t.pts = taken.get(t)!.concat(t.pts);
          if (t.pts.length > this.opts.maxPoints * PT) t.pts.splice(0, t.pts.length - this.opts.maxPoints * PT);
          if (!t.queued) {
            t.queued = true;
            this.dirty.push(t);
          }
        }
        this.log?.warn({ err: describeError(err), baselines: slice.length }, "could not write baseline history; kept for the next attempt");
      }
    }
  }

  /** Deletes history documents (and their summaries) not updated within the retention (entities gone quiet, rules removed). */
  async sweep(maxDocs = 5_000): Promise<number> {
    const before = this.now() - this.opts.retentionMs;
    const r = await this.store.search("state", {
      query: { op: "term", field: "kind", value: BASELINE_SUMMARY_KIND, wildcard: false, phrase: false },
      to: before,
      timeField: "@timestamp",
      size: Math.min(maxDocs, 10_000),
      sort: [{ field: "@timestamp", order: "asc" }],
    });
    const ids = r.hits.flatMap((d) => [String(d["history_id"]), String(d["id"])]);
    for (let i = 0; i < ids.length; i += this.opts.batch) await this.store.delete("state", ids.slice(i, i + this.opts.batch));
    this.stats.swept += r.hits.length;
    return r.hits.length;
  }
}
