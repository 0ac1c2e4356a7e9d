// The baseline engine: per anomaly rule and entity, a metric per interval in event time (event
// count, distinct count, sum, first-seen values), a bounded history of past intervals, and when an
// interval closes (the watermark passed its end) a comparison with what the history expects
// (robust statistics, quantiles or EWMA, seasonal once enough history exists). State is bounded
// (entities, distinct values, seen values) and snapshots for checkpointing.

import { hash } from "node:crypto";
import type { JsonObject } from "../../schema/ecs.ts";
import { entityFieldsOf } from "../../schema/signal.ts";
import { GroupBudget, type Evictable } from "../correlation/engine.ts";
import { MinHeap } from "../correlation/heap.ts";
import { compileAccessor, type Accessor, type FieldResolver } from "../correlation/plan.ts";
import { TouchQueue } from "../correlation/touch-queue.ts";
import type { HitEventRef } from "../correlation/types.ts";
import type { AnomalyRule } from "./rule.ts";
import { ewmaExpectation, ewmaUpdate, expectationSorted, score as scoreOf, type Ewma, type Expectation } from "./stats.ts";

const DAY = 86_400_000;
/** Event references kept per interval (the first ones; first_seen also keeps the events of new values). */
const REFS_PER_INTERVAL = 10;
/** New values listed per interval on a first_seen anomaly. */
const NEW_VALUES_KEPT = 50;
/** Open intervals per entity (out-of-order events across an interval boundary, within the lateness). */
const MAX_OPEN = 4;
const SPARE_INTERVALS = 1_024;

/** The spread a score divides by never goes below this (a flat history would make any wiggle infinite). */
function minSpreadOf(r: AnomalyRule, center: number): number {
  return r.minSpread ?? (r.metric === "sum" ? minSpreadOfSum(center) : 1);
}

/** Sums: 1% of the center, at least 1. */
function minSpreadOfSum(center: number): number {
  return Math.max(1, Math.abs(center) * 0.01);
}

export interface CompiledAnomaly {
  index: number;
  rule: AnomalyRule;
  entity: Accessor[];
  field: Accessor | null;
  /** Every field path the rule reads (routing projections). */
  readPaths: string[];
  periodDay: number;
  periodWeek: number;
}

export function compileAnomalies(rules: AnomalyRule[], resolveField?: (field: string, rule: AnomalyRule) => string[]): CompiledAnomaly[] {
  return rules.map((rule, index) => {
    const cand = (f: string) => (resolveField ? resolveField(f, rule) : [f]);
    const ent = rule.entity.map(cand);
    const fld = rule.field ? cand(rule.field) : null;
    return {
      index,
      rule,
      entity: ent.map(compileAccessor),
      field: fld ? compileAccessor(fld) : null,
      readPaths: [...new Set([...ent.flat(), ...(fld ?? [])])],
      periodDay: rule.intervalMs < DAY && DAY % rule.intervalMs === 0 ? DAY / rule.intervalMs : 0,
      periodWeek: (7 * DAY) % rule.intervalMs === 0 ? (7 * DAY) / rule.intervalMs : 0,
    };
  });
}

/** A raised anomaly. */
export interface AnomalyHit {
  ruleId: string;
  key: string;
  entity: Record<string, string>;
  intervalStart: number;
  intervalMs: number;
  observed: number;
  expected: { low: number; high: number; center: number };
  score: number;
  /** How the expectation was formed: method, seasonality used, number of past intervals. */
  basis: { method: string; seasonality: string; samples: number };
  /** first_seen: the values never seen before for this entity. */
  newValues?: string[];
  /** distinct_count: the count hit the cap and is a lower bound. */
  saturated?: boolean;
  events: HitEventRef[];
  eventCount: number;
  entityFields: JsonObject;
  id: string;
}

/** An observation not added to a baseline, with the reason (late ones are reported, never silently lost). */
export interface BaselineDrop {
  reason: "late" | "missing_field" | "bad_value" | "evicted";
  ruleId: string;
  time: number;
  file?: string;
  line?: number;
  detail?: string;
}

export interface BaselineSink {
  anomaly(a: AnomalyHit): void;
  dropped?(d: BaselineDrop): void;
  /** Every closed interval of every entity, with its band once the baseline has learned (the history the console draws). */
  interval?(c: IntervalClose): void;
}

/** A closed interval of one entity's baseline. */
export interface IntervalClose {
  a: CompiledAnomaly;
  /** The entity value (entity fields joined as in AnomalyHit.key). */
  key: string;
  intervalStart: number;
  observed: number;
  /** The expected band, null during warm-up. */
  expected: { low: number; high: number; center: number } | null;
  /** Intervals without events between this entity's previous closed interval and this one (their value was 0). */
  quietBefore: number;
}

export interface BaselineOptions {
  allowedLatenessMs: number;
  budget?: GroupBudget;
  maxDistinctValues?: number;
  maxSeenValues?: number;
  maxFutureMs?: number;
  now?: () => number;
  trackChanges?: boolean;
  /** The event time moves only through advance() (the runner: the slowest of its inputs), not with every observation. */
  externalTime?: boolean;
}

export interface Observation {
  event: JsonObject;
  time: number;
  eventId?: string;
  file?: string;
  line?: number;
}

class Interval {
  /** Makes a finished interval reusable for another (the engine pools them). */
  reset(idx: number): this {
    this.idx = idx;
    this.value = 0;
    this.set?.clear();
    this.saturated = false;
    this.newValues = null;
    this.refs = [];
    this.count = 0;
    this.entity = null;
    this.lastTime = -Infinity;
    return this;
  }
  value = 0;
  set: Set<string> | null = null;
  saturated = false;
  newValues: string[] | null = null;
  refs: HitEventRef[] = [];
  count = 0;
  entity: JsonObject | null = null;
  lastTime = -Infinity;
  constructor(public idx: number) {}
}

export class Entity {
  touch = 0;
  dead = false;
  dirtyEpoch = -1;
  open: Interval[] = [];
  /** Ring of past interval values: hist[idx % H]. */
  hist: Float32Array;
  /** Newest interval recorded in hist (-1: none yet); first interval of the entity. */
  last = -1;
  first = -1;
  ewma: Ewma = { mean: 0, variance: 0, n: 0 };
  seen: Map<string, number> | null = null;
  constructor(
    readonly key: string,
    readonly a: CompiledAnomaly,
  ) {
    this.hist = new Float32Array(a.rule.historyIntervals);
    if (a.rule.metric === "first_seen") this.seen = new Map();
  }
}

export interface BaselineStats {
  observations: number;
  anomalies: number;
  intervals: number;
  late: number;
  missingField: number;
  badValue: number;
  evicted: number;
  expired: number;
  entities: number;
}

/** Serialized entity: [key, hist, last, first, ewma, seen, open intervals]. */
export type EntityState = [string, number[], number, number, [number, number, number], [string, number][] | null, IntervalState[]];
/** [idx, value, distinct values, saturated, new values, refs, count, entity fields, last time]. */
export type IntervalState = [number, number, string[] | null, boolean, string[] | null, HitEventRef[], number, JsonObject | null, number | null];

export interface BaselineSnapshot {
  v: 1;
  maxTime: number | null;
  rules: Record<string, { fp: string; entities: EntityState[] }>;
}
export interface BaselineDelta {
  v: 1;
  maxTime: number | null;
  upserts: Record<string, { fp: string; entities: EntityState[] }>;
  deletes: Record<string, string[]>;
}

function fingerprint(a: CompiledAnomaly): string {
  const r = a.rule;
  return hash("sha256", JSON.stringify([r.entity, r.metric, r.field, r.intervalMs, r.historyIntervals, a.readPaths]), "hex").slice(0, 16);
}

export class BaselineEngine implements Evictable {
  readonly stats: BaselineStats = { observations: 0, anomalies: 0, intervals: 0, late: 0, missingField: 0, badValue: 0, evicted: 0, expired: 0, entities: 0 };
  maxTime = -Infinity;
  private maps: Map<string, Entity>[];
  private readonly fps: string[];
  private readonly lru = new TouchQueue<Entity>();
  /** Pending interval closes: end time → (rule, interval index). */
  private readonly closes = new MinHeap<{ a: CompiledAnomaly; idx: number }>();
  private readonly scheduled: Set<number>[];
  private readonly budget: GroupBudget;
  private readonly lateness: number;
  private readonly maxDistinct: number;
  private readonly maxSeen: number;
  private readonly maxFuture: number;
  private readonly external: boolean;
  private readonly now: () => number;
  private readonly track: boolean;
  private epoch = 0;
  private dirty: Entity[] = [];
  private deleted = new Map<string, string[]>();
  private savedMaxTime = -Infinity;
  /** Reused buffer for the samples of one interval's expectation, and which seasonality they are. */
  private readonly scratch: Float64Array;
  private seasonality = "none";
  /** Finished intervals kept for reuse. */
  private readonly spare: Interval[] = [];

  constructor(
    readonly anomalies: CompiledAnomaly[],
    private readonly sink: BaselineSink,
    opts: BaselineOptions,
  ) {
    this.lateness = opts.allowedLatenessMs;
    this.budget = opts.budget ?? new GroupBudget(200_000);
    this.budget.engines.add(this);
    this.budget.queues.add(this.lru);
    this.maxDistinct = opts.maxDistinctValues ?? 10_000;
    this.maxSeen = opts.maxSeenValues ?? 1_000;
    this.maxFuture = opts.maxFutureMs ?? 0;
    this.external = opts.externalTime ?? false;
    this.now = opts.now ?? Date.now;
    this.track = opts.trackChanges ?? false;
    this.maps = anomalies.map(() => new Map());
    this.scheduled = anomalies.map(() => new Set());
    this.fps = anomalies.map(fingerprint);
    this.scratch = new Float64Array(Math.max(1, ...anomalies.map((a) => a.rule.historyIntervals)));
  }

  get watermark(): number {
    return this.maxTime - this.lateness;
  }

  /** One event selected by anomaly rule `a` (its selection matched). */
  observe(a: CompiledAnomaly, o: Observation): void {
    this.stats.observations++;
    const t = o.time;
    if (!Number.isFinite(t)) {
      this.stats.badValue++;
      this.sink.dropped?.({ reason: "bad_value", ruleId: a.rule.id, time: t, file: o.file, line: o.line, detail: "the event has no valid @timestamp" });
      return;
    }
    if (t > this.maxTime) {
      if (this.maxFuture > 0 && t > this.now() + this.maxFuture) {
        this.stats.badValue++;
        this.sink.dropped?.({ reason: "bad_value", ruleId: a.rule.id, time: t, file: o.file, line: o.line, detail: `the event time is more than ${this.maxFuture} ms ahead of the clock` });
        return;
      }
      if (!this.external) this.maxTime = t;
    }
    const wm = this.maxTime - this.lateness;
    if (t < wm) {
      this.stats.late++;
      this.sink.dropped?.({ reason: "late", ruleId: a.rule.id, time: t, file: o.file, line: o.line, detail: `${wm - t} ms behind the watermark` });
      return;
    }
    const key = entityKey(a.entity, o.event);
    if (key === null) {
      this.stats.missingField++;
      return;
    }
    let v: string | number | null = null;
    const metric = a.rule.metric;
    if (metric !== "event_count") {
      const raw = a.field!(o.event);
      if (raw === undefined || raw === null || raw === "") {
        this.stats.missingField++;
        return;
      }
      if (metric === "sum") {
        const n = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : NaN;
        if (!Number.isFinite(n)) {
          this.stats.badValue++;
          this.sink.dropped?.({ reason: "bad_value", ruleId: a.rule.id, time: t, file: o.file, line: o.line, detail: `${a.rule.field} is not a number` });
          return;
        }
        v = n;
      } else v = typeof raw === "string" ? raw : typeof raw === "object" ? JSON.stringify(raw) : String(raw);
    }
    const map = this.maps[a.index];
    let e = map.get(key);
    if (e === undefined) {
      this.budget.reserve();
      e = new Entity(key, a);
      map.set(key, e);
      this.budget.live++;
      this.stats.entities++;
    }
    this.lru.push(e, this.budget.next());
    if ((this.budget.seq & 1023) === 0) this.lru.maybeCompact(this.budget.live);
    if (this.track && e.dirtyEpoch !== this.epoch) {
      e.dirtyEpoch = this.epoch;
      this.dirty.push(e);
    }
    const idx = Math.floor(t / a.rule.intervalMs);
    if (idx <= e.last) {
      // that interval of this entity is already closed (it was closed before the watermark passed it: an eviction/restore edge)
      this.stats.late++;
      this.sink.dropped?.({ reason: "late", ruleId: a.rule.id, time: t, file: o.file, line: o.line, detail: "its interval is already closed" });
      return;
    }
    let iv: Interval | undefined;
    const open = e.open;
    for (let i = open.length - 1; i >= 0; i--)
      if (open[i].idx === idx) {
        iv = open[i];
        break;
      }
    if (iv === undefined) {
      iv = this.spare.length ? this.spare.pop()!.reset(idx) : new Interval(idx);
      let p = open.length;
      while (p > 0 && open[p - 1].idx > idx) p--;
      open.splice(p, 0, iv);
      if (open.length > MAX_OPEN) this.closeInterval(e, open[0]);
      this.schedule(a, idx);
    }
    iv.count++;
    switch (metric) {
      case "event_count":
        iv.value++;
        break;
      case "sum":
        iv.value += v as number;
        break;
      case "distinct_count": {
        if (iv.set === null) iv.set = new Set();
        if (iv.set.size < this.maxDistinct) iv.set.add(v as string);
        else if (!iv.set.has(v as string)) iv.saturated = true;
        break;
      }
      case "first_seen": {
        const s = v as string;
        const seen = e.seen!;
        const prev = seen.get(s);
        const fresh = prev === undefined || prev < idx - a.rule.historyIntervals;
        if (prev !== undefined) seen.delete(s);
        seen.set(s, Math.max(prev ?? -Infinity, idx));
        if (seen.size > this.maxSeen) seen.delete(seen.keys().next().value as string);
        if (fresh) {
          if (iv.newValues === null) iv.newValues = [];
          iv.value++;
          if (iv.newValues.length < NEW_VALUES_KEPT) {
            iv.newValues.push(s);
            iv.refs.push(refOf(o));
          }
        }
        break;
      }
    }
    if (iv.refs.length < REFS_PER_INTERVAL && metric !== "first_seen") iv.refs.push(refOf(o));
    if (t >= iv.lastTime) {
      iv.lastTime = t;
      // the entity fields of the interval's latest event, sampled: every event while the interval is
      // young, then every 16th (copying them from every event of a busy interval costs more than
      // the metric update itself)
      if (iv.count <= REFS_PER_INTERVAL || (iv.count & 15) === 0 || iv.entity === null) iv.entity = entityFieldsOf(o.event as Parameters<typeof entityFieldsOf>[0]);
    }
    if (this.closes.size > 0 && this.closes.peekKey() <= wm) this.drainCloses(wm);
    this.expire(8);
  }

  private schedule(a: CompiledAnomaly, idx: number): void {
    const set = this.scheduled[a.index];
    if (set.has(idx)) return;
    set.add(idx);
    this.closes.push((idx + 1) * a.rule.intervalMs, { a, idx });
  }

  /** Moves the watermark (idle partitions, end of input): closes every interval that ended before it. */
  advance(watermark: number): void {
    if (watermark + this.lateness > this.maxTime) this.maxTime = watermark === Infinity ? Infinity : watermark + this.lateness;
    this.drainCloses(this.maxTime - this.lateness);
    this.expire(this.lru.entries);
  }

  flush(): void {
    this.advance(Infinity);
  }

  private drainCloses(wm: number): void {
    while (this.closes.size > 0 && this.closes.peekKey() <= wm) {
      const { a, idx } = this.closes.pop()!;
      this.scheduled[a.index].delete(idx);
      for (const e of this.maps[a.index].values()) {
        const iv = e.open.length ? e.open[0] : undefined;
        if (iv && iv.idx <= idx) {
          // every open interval up to idx closes (in order)
          while (e.open.length && e.open[0].idx <= idx) this.closeInterval(e, e.open[0]);
        }
      }
    }
  }

  /** Records a finished interval in the entity's history and raises an anomaly when it stands out. */
  private closeInterval(e: Entity, iv: Interval): void {
    const i = e.open.indexOf(iv);
    if (i >= 0) e.open.splice(i, 1);
    this.markDirty(e);
    const a = e.a;
    const r = a.rule;
    const H = r.historyIntervals;
    if (e.first < 0) e.first = iv.idx;
    // intervals without events since the last one: zeros (the entity was quiet)
    if (e.last >= 0) {
      const gap = Math.min(iv.idx - e.last - 1, H);
      for (let k = 1; k <= gap; k++) {
        const j = iv.idx - gap - 1 + k;
        e.hist[j % H] = 0;
        if (r.method === "ewma") ewmaUpdate(e.ewma, 0, r.alpha);
      }
    }
    const observed = r.metric === "distinct_count" ? (iv.set?.size ?? 0) : iv.value;
    const from = Math.max(e.first, iv.idx - H);
    const filled = iv.idx - from;
    this.stats.intervals++;
    let band: Expectation | null = null;
    if (filled >= r.warmup) {
      let exp: Expectation;
      let n: number;
      let seasonality = "none";
      if (r.method === "ewma") {
        exp = ewmaExpectation(e.ewma, r.score, minSpreadOf(r, e.ewma.mean));
        n = e.ewma.n;
      } else {
        n = this.samples(e, iv.idx, from);
        seasonality = this.seasonality;
        exp = expectationSorted(this.scratch, n, r.method, r.score, r.minSpread ?? (r.metric === "sum" ? minSpreadOfSum : 1));
      }
      const s = scoreOf(observed, exp, r.method, r.score);
      const up = s >= r.score && (r.minValue === null || observed >= r.minValue);
      const down = s <= -r.score && (r.minValue === null || observed <= r.minValue);
      const fire = r.direction === "up" ? up : r.direction === "down" ? down : up || down;
      if (fire) this.raise(e, iv, observed, exp, s, { method: r.method, seasonality, samples: n });
      band = exp;
    }
    if (this.sink.interval) {
      const quietBefore = e.last >= 0 ? Math.max(0, iv.idx - e.last - 1) : 0;
      this.sink.interval({ a, key: e.key, intervalStart: iv.idx * r.intervalMs, observed, expected: band ? { low: round(band.low), high: round(band.high), center: round(band.center) } : null, quietBefore });
    }
    e.hist[iv.idx % H] = observed;
    e.last = Math.max(e.last, iv.idx);
    if (r.method === "ewma") ewmaUpdate(e.ewma, observed, r.alpha);
    if (this.spare.length < SPARE_INTERVALS) this.spare.push(iv);
  }

  /**
   * Fills the scratch buffer (sorted) with the past values an interval is compared with: the same hour
   * of the week, else of the day, once there are enough of them; else every interval of the history.
   * Returns how many; `this.seasonality` says which.
   */
  private samples(e: Entity, idx: number, from: number): number {
    const a = e.a;
    const r = a.rule;
    const want = r.seasonality;
    let n = 0;
    this.seasonality = "none";
    if ((want === "auto" || want === "day_of_week") && a.periodWeek > 1) {
      n = this.pick(e, idx, from, a.periodWeek);
      if (n >= r.minSeasonalSamples) this.seasonality = "day_of_week";
    }
    if (this.seasonality === "none" && (want === "auto" || want === "hour_of_day") && a.periodDay > 1) {
      n = this.pick(e, idx, from, a.periodDay);
      if (n >= r.minSeasonalSamples) this.seasonality = "hour_of_day";
    }
    if (this.seasonality === "none") n = this.pick(e, idx, from, 1);
    this.scratch.subarray(0, n).sort();
    return n;
  }

  /** History values at idx - period, idx - 2·period, ... back to `from`, into the scratch buffer. */
  private pick(e: Entity, idx: number, from: number, period: number): number {
    const H = e.a.rule.historyIntervals;
    const buf = this.scratch;
    let n = 0;
    for (let j = idx - period; j >= from; j -= period) buf[n++] = e.hist[j % H];
    return n;
  }

  private raise(e: Entity, iv: Interval, observed: number, exp: Expectation, s: number, basis: AnomalyHit["basis"]): void {
    const r = e.a.rule;
    const start = iv.idx * r.intervalMs;
    const hit: AnomalyHit = {
      ruleId: r.id,
      key: e.key,
      entity: entityObject(r.entity, e.key),
      intervalStart: start,
      intervalMs: r.intervalMs,
      observed,
      expected: { low: round(exp.low), high: round(exp.high), center: round(exp.center) },
      score: round(s),
      basis,
      events: iv.refs.slice(),
      eventCount: iv.count,
      entityFields: iv.entity ?? {},
      id: hash("sha256", ["sigil.anomaly", r.id, e.key, String(start)].join("\u0000") + "\u0000", "hex").slice(0, 32),
    };
    if (iv.newValues) hit.newValues = iv.newValues.slice();
    if (iv.saturated) hit.saturated = true;
    this.stats.anomalies++;
    this.sink.anomaly(hit);
  }

  private expire(limit: number): void {
    // an entity is idle when its whole history lies behind the watermark and nothing is open
    const lru = this.lru;
    for (let steps = 0; steps < limit; steps++) {
      const e = lru.peek();
      if (e === null) return;
      const r = e.a.rule;
      const horizon = Math.floor((this.maxTime - this.lateness) / r.intervalMs) - r.historyIntervals;
      if (e.open.length > 0 || !(e.last < horizon)) return;
      lru.shift();
      this.removeEntity(e);
      this.stats.expired++;
    }
  }

  private markDirty(e: Entity): void {
    if (this.track && e.dirtyEpoch !== this.epoch) {
      e.dirtyEpoch = this.epoch;
      this.dirty.push(e);
    }
  }

  private removeEntity(e: Entity): void {
    if (e.dead) return;
    e.dead = true;
    this.maps[e.a.index].delete(e.key);
    this.budget.live--;
    this.stats.entities--;
    if (!this.track) return;
    let list = this.deleted.get(e.a.rule.id);
    if (!list) this.deleted.set(e.a.rule.id, (list = []));
    list.push(e.key);
  }

  stalestTouch(): number {
    return this.lru.peekStamp();
  }

  evictStalest(): void {
    const e = this.lru.peek();
    if (e === null) return;
    this.removeEntity(e);
    this.stats.evicted++;
    this.sink.dropped?.({ reason: "evicted", ruleId: e.a.rule.id, time: this.maxTime, detail: `entity ${e.key} evicted: correlate.baselines.max_entities reached` });
  }

  entityCount(): number {
    return this.maps.reduce((s, m) => s + m.size, 0);
  }

  close(): void {
    for (const m of this.maps) for (const e of m.values()) e.dead = true;
    this.budget.live -= this.entityCount();
    this.maps = this.anomalies.map(() => new Map());
    for (const s of this.scheduled) s.clear();
    this.closes.clear();
    this.lru.reset();
    this.stats.entities = 0;
    this.budget.engines.delete(this);
    this.budget.queues.delete(this.lru);
  }

  // ---- snapshots ----

  snapshot(): BaselineSnapshot {
    const rules: BaselineSnapshot["rules"] = {};
    for (const a of this.anomalies) rules[a.rule.id] = { fp: this.fps[a.index], entities: [...this.maps[a.index].values()].map(entityState) };
    this.epoch++;
    this.dirty = [];
    this.deleted = new Map();
    this.savedMaxTime = this.maxTime;
    return { v: 1, maxTime: Number.isFinite(this.maxTime) ? this.maxTime : null, rules };
  }

  delta(): BaselineDelta | null {
    if (!this.track) throw new Error("delta() needs an engine created with trackChanges");
    if (this.dirty.length === 0 && this.deleted.size === 0 && this.maxTime === this.savedMaxTime) return null;
    const upserts: BaselineDelta["upserts"] = {};
    for (const e of this.dirty) {
      if (e.dead) continue;
      let u = upserts[e.a.rule.id];
      if (!u) upserts[e.a.rule.id] = u = { fp: this.fps[e.a.index], entities: [] };
      u.entities.push(entityState(e));
    }
    const deletes: BaselineDelta["deletes"] = {};
    for (const [id, keys] of this.deleted) deletes[id] = keys;
    this.epoch++;
    this.dirty = [];
    this.deleted = new Map();
    this.savedMaxTime = this.maxTime;
    return { v: 1, maxTime: Number.isFinite(this.maxTime) ? this.maxTime : null, upserts, deletes };
  }

  restore(snap: BaselineSnapshot | null, deltas: BaselineDelta[] = []): { restored: number; dropped: number } {
    this.close();
    this.budget.engines.add(this);
    this.budget.queues.add(this.lru);
    this.maxTime = -Infinity;
    let dropped = 0;
    const merged = new Map<string, Map<string, EntityState>>();
    const byId = new Map(this.anomalies.map((a) => [a.rule.id, a]));
    const apply = (id: string, fp: string, states: EntityState[]) => {
      const a = byId.get(id);
      if (!a || this.fps[a.index] !== fp) {
        dropped += states.length;
        return;
      }
      let m = merged.get(id);
      if (!m) merged.set(id, (m = new Map()));
      for (const s of states) m.set(s[0], s);
    };
    if (snap) {
      this.maxTime = snap.maxTime ?? -Infinity;
      for (const [id, r] of Object.entries(snap.rules)) apply(id, r.fp, r.entities);
    }
    for (const d of deltas) {
      if (d.maxTime !== null && d.maxTime > this.maxTime) this.maxTime = d.maxTime;
      for (const [id, keys] of Object.entries(d.deletes)) for (const k of keys) merged.get(id)?.delete(k);
      for (const [id, r] of Object.entries(d.upserts)) apply(id, r.fp, r.entities);
    }
    let restored = 0;
    for (const [id, m] of merged) {
      const a = byId.get(id)!;
      for (const s of m.values()) {
        this.budget.reserve();
        const e = new Entity(s[0], a);
        const H = a.rule.historyIntervals;
        for (let i = 0; i < Math.min(H, s[1].length); i++) e.hist[i] = s[1][i];
        e.last = s[2];
        e.first = s[3];
        e.ewma = { mean: s[4][0], variance: s[4][1], n: s[4][2] };
        if (e.seen && s[5]) for (const [v, i] of s[5]) e.seen.set(v, i);
        for (const is of s[6]) {
          const iv = new Interval(is[0]);
          iv.value = is[1];
          iv.set = is[2] ? new Set(is[2]) : null;
          iv.saturated = is[3];
          iv.newValues = is[4];
          iv.refs = is[5];
          iv.count = is[6];
          iv.entity = is[7];
          iv.lastTime = is[8] ?? -Infinity;
          e.open.push(iv);
          this.schedule(a, iv.idx);
        }
        this.maps[a.index].set(e.key, e);
        this.budget.live++;
        this.lru.push(e, this.budget.next());
        restored++;
      }
    }
    this.stats.entities = restored;
    this.savedMaxTime = this.maxTime;
    this.epoch++;
    this.dirty = [];
    this.deleted = new Map();
    return { restored, dropped };
  }
}

function entityState(e: Entity): EntityState {
  return [
    e.key,
    Array.from(e.hist),
    e.last,
    e.first,
    [e.ewma.mean, e.ewma.variance, e.ewma.n],
    e.seen ? [...e.seen.entries()] : null,
    e.open.map((iv): IntervalState => [iv.idx, iv.value, iv.set ? [...iv.set] : null, iv.saturated, iv.newValues, iv.refs, iv.count, iv.entity, Number.isFinite(iv.lastTime) ? iv.lastTime : null]),
  ];
}

function refOf(o: Observation): HitEventRef {
  const r: HitEventRef = { id: o.eventId ?? "", time: o.time };
  if (o.file !== undefined) r.file = o.file;
  if (o.line !== undefined) r.line = o.line;
  return r;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function scalar(v: unknown): string | null {
  if (v === undefined || v === null || v === "") return null;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** The entity key of an event: one value as is, several as a JSON array; null when any is missing. */
export function entityKey(acc: Accessor[], e: JsonObject): string | null {
  if (acc.length === 1) return scalar(acc[0](e));
  const parts: string[] = [];
  for (const a of acc) {
    const k = scalar(a(e));
    if (k === null) return null;
    parts.push(k);
  }
  return JSON.stringify(parts);
}

export function entityObject(fields: string[], key: string): Record<string, string> {
  if (fields.length === 1) return { [fields[0]]: key };
  const vals = JSON.parse(key) as string[];
  const out: Record<string, string> = {};
  fields.forEach((f, i) => (out[f] = vals[i]));
  return out;
}

export type { FieldResolver };
