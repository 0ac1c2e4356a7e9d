// The correlation engine: evaluates every Sigma correlation type over rule matches in event time,
// with sliding windows, bounded lateness, bounded state and snapshots for checkpointing.
// Semantics (firing, suppression, lateness, eviction) are documented in docs/decisions/0015.

import { hash } from "node:crypto";
import type { JsonObject } from "../../schema/ecs.ts";
import { setField } from "../../schema/fields.ts";
import { entityFieldsOf } from "../../schema/signal.ts";
import { Group, rangeMask, satisfied, typeCode, T_ORDERED, T_PERCENTILE, T_SUM, T_AVG, T_TEMPORAL, T_VALUE_COUNT, type RefSlot } from "./group.ts";
import { MinHeap } from "./heap.ts";
import { STAMP_LIMIT, TouchQueue, type Touchable } from "./touch-queue.ts";
import type { Accessor, CompiledCorrelation, CorrelationPlan, Edge } from "./plan.ts";
import type { CorrelationHit, DroppedMatch, EngineSink, EngineStats, HitEventRef, Match } from "./types.ts";

export interface EngineOptions {
  /** Event-time lateness accepted; older matches are counted and reported as late. */
  allowedLatenessMs: number;
  /** Shared cap on live groups across engines (one engine per partition). */
  budget?: GroupBudget;
  /** Cap on events kept per group window; the oldest are dropped beyond it. */
  maxWindowEvents?: number;
  /** Cap on event references carried by one hit. */
  maxEventRefs?: number;
  /** Matches with an event time further than this ahead of the wall clock are rejected (0: no check). */
  maxFutureMs?: number;
  /** Wall clock for the future check (tests). */
  now?: () => number;
  /** Record changed and removed groups for delta checkpoints (the runner turns it on). */
  trackChanges?: boolean;
  /**
   * The event time moves only through advance() (the runner: the slowest of its inputs), not with every
   * match: a match is late when it is older than that time minus the lateness.
   */
  externalTime?: boolean;
  /**
   * Chained correlations whose group lives on another partition: return false to have the inner hit
   * forwarded (sink.forward) instead of evaluated here. Default: everything is local.
   */
  isLocal?: (outer: CompiledCorrelation, outerKey: string, innerKey: string) => boolean;
}

export interface ForwardSink {
  /** An inner correlation hit for an outer correlation whose group is owned elsewhere. */
  forward(outer: CompiledCorrelation, key: string, match: Match): void;
}

/** Serialized group: [key, floor, newest, closeAt, times, refs, lines, files, values, entity]. */
export type GroupState = [string, number | null, number | null, number | null, number[], RefSlot[], number[] | null, number[] | null, (number | string)[] | null, JsonObject | null];

export interface EngineSnapshot {
  v: 1;
  maxTime: number | null;
  /** Files referenced by entries (index into this table). */
  files: string[];
  correlations: Record<string, { fp: string; groups: GroupState[] }>;
}

export interface EngineDelta {
  v: 1;
  maxTime: number | null;
  files: string[];
  upserts: Record<string, { fp: string; groups: GroupState[] }>;
  deletes: Record<string, string[]>;
}

/** An engine whose state units (groups, entities) a budget can evict. */
export interface Evictable {
  /** Update stamp of the stalest unit (Infinity when none). */
  stalestTouch(): number;
  evictStalest(): void;
}

/**
 * The cap on live groups (or baseline entities), shared by the engines of one process. When full,
 * the stalest unit (least recently updated, across engines) is evicted.
 */
export class GroupBudget {
  live = 0;
  seq = 0;
  evicted = 0;
  readonly engines = new Set<Evictable>();
  /** The engines' queues stamped from `seq` (renumbered together when it reaches STAMP_LIMIT). */
  readonly queues = new Set<TouchQueue<Touchable>>();
  constructor(readonly max: number) {}

  /** The next update stamp. Once every 2^30 updates the live stamps are renumbered 1..n, so stamps stay small integers. */
  next(): number {
    if (this.seq >= STAMP_LIMIT - 1) this.seq = TouchQueue.renumber(this.queues);
    return ++this.seq;
  }

  /** Makes room for one group. */
  reserve(): void {
    while (this.live >= this.max) {
      let victim: Evictable | null = null;
      let oldest = Infinity;
      for (const e of this.engines) {
        const t = e.stalestTouch();
        if (t < oldest) {
          oldest = t;
          victim = e;
        }
      }
      if (!victim) return;
      victim.evictStalest();
      this.evicted++;
    }
  }
}

const EMPTY: Edge[] = [];
const EXPIRE_STEP = 8;
const POOL_MAX = 4_096;

export class CorrelationEngine {
  plan: CorrelationPlan;
  readonly stats: EngineStats = { matches: 0, hits: 0, late: 0, suppressed: 0, missingGroupField: 0, badValue: 0, evicted: 0, expired: 0, groups: 0 };
  /** Latest event time seen; the watermark is this minus the allowed lateness. */
  maxTime = -Infinity;
  private maps: Map<string, Group>[] = [];
  private tcs: number[] = [];
  /** Groups in least-recently-updated order. */
  private readonly lru = new TouchQueue<Group>();
  private readonly closes = new MinHeap<Group>();
  private readonly budget: GroupBudget;
  private readonly lateness: number;
  private readonly maxWindow: number;
  private readonly maxRefs: number;
  private readonly maxFuture: number;
  private readonly track: boolean;
  private readonly external: boolean;
  private readonly now: () => number;
  private files: string[] = [];
  private fileIndex = new Map<string, number>();
  private epoch = 0;
  private savedMaxTime = -Infinity;
  /** Removed groups kept for reuse (bounded). */
  private pool: Group[] = [];
  private dirty: Group[] = [];
  private deleted: Map<string, string[]> = new Map();
  forwardSink: ForwardSink | null = null;

  constructor(
    plan: CorrelationPlan,
    private readonly sink: EngineSink,
    private readonly opts: EngineOptions,
  ) {
    this.plan = plan;
    this.lateness = opts.allowedLatenessMs;
    this.maxWindow = opts.maxWindowEvents ?? 10_000;
    this.maxRefs = opts.maxEventRefs ?? 1_000;
    this.maxFuture = opts.maxFutureMs ?? 0;
    this.track = opts.trackChanges ?? false;
    this.external = opts.externalTime ?? false;
    this.now = opts.now ?? Date.now;
    this.budget = opts.budget ?? new GroupBudget(1_000_000);
    this.budget.engines.add(this);
    this.budget.queues.add(this.lru);
    this.setPlan(plan);
  }

  private setPlan(plan: CorrelationPlan): void {
    this.plan = plan;
    this.maps = plan.correlations.map(() => new Map<string, Group>());
    this.tcs = plan.correlations.map(typeCode);
  }

  /** The event-time watermark: matches older than this are late. */
  get watermark(): number {
    return this.maxTime - this.lateness;
  }

  /** Whether any correlation consumes matches of this rule. */
  wants(ruleId: string): boolean {
    return this.plan.byRule.has(ruleId);
  }

  /** Feeds one rule match; hits are reported to the sink synchronously. */
  onMatch(m: Match, only?: readonly string[]): void {
    const edges = this.plan.edges.get(m.ruleId) ?? EMPTY;
    if (edges.length === 0) return;
    this.stats.matches++;
    const t = m.time;
    if (!Number.isFinite(t)) {
      this.drop("bad_value", m, undefined, "the event has no valid @timestamp");
      return;
    }
    if (t > this.maxTime) {
      // a clock far in the future would make every later event late: refuse it
      if (this.maxFuture > 0 && t > this.now() + this.maxFuture) {
        this.drop("bad_value", m, undefined, `the event time is more than ${this.maxFuture} ms ahead of the clock`);
        return;
      }
      if (!this.external) this.maxTime = t;
    }
    const wm = this.maxTime - this.lateness;
    if (t < wm) {
      this.stats.late++;
      this.sink.dropped?.({ reason: "late", ruleId: m.ruleId, time: t, file: m.file, line: m.line, eventId: m.eventId, behindMs: wm - t });
      return;
    }
    for (let i = 0; i < edges.length; i++) {
      const e = edges[i];
      if (only !== undefined && !only.includes(e.c.id)) continue;
      this.feed(e, m);
    }
    if (this.closes.size > 0 && this.closes.peekKey() < wm) this.drainCloses(wm);
    this.expire(EXPIRE_STEP);
  }

  /** Moves the watermark forward (idle partitions, end of input): closes windows, expires idle groups. */
  advance(watermark: number): void {
    if (watermark + this.lateness > this.maxTime) this.maxTime = watermark === Infinity ? Infinity : watermark + this.lateness;
    const wm = this.maxTime - this.lateness;
    this.drainCloses(wm);
    this.expire(this.lru.entries);
  }

  /** End of input: every window closes. */
  flush(): void {
    this.advance(Infinity);
  }

  private drop(reason: DroppedMatch["reason"], m: Match, c: CompiledCorrelation | undefined, detail?: string): void {
    if (reason === "bad_value") this.stats.badValue++;
    this.sink.dropped?.({ reason, ruleId: m.ruleId, correlationId: c?.id, time: m.time, file: m.file, line: m.line, eventId: m.eventId, detail });
  }

  private feed(e: Edge, m: Match): void {
    const c = e.c;
    const tc = this.tcs[c.index];
    const key = groupKey(e.group, m.event);
    if (key === null) {
      this.stats.missingGroupField++;
      return;
    }
    let val: number | string = 0;
    if (tc === T_VALUE_COUNT) {
      const v = valueKey(e.value, m.event);
      if (v === null) {
        this.stats.missingGroupField++;
        return;
      }
      val = v;
    } else if (tc === T_SUM || tc === T_AVG || tc === T_PERCENTILE) {
      const raw = e.value[0](m.event);
      if (raw === undefined || raw === null) {
        this.stats.missingGroupField++;
        return;
      }
      const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
      if (!Number.isFinite(n)) {
        this.drop("bad_value", m, c, `${c.rule.field[0]} is not a number`);
        return;
      }
      val = n;
    } else if (tc === T_TEMPORAL || tc === T_ORDERED) {
      val = e.pos;
    }
    const map = this.maps[c.index];
    let g = map.get(key);
    if (g === undefined) {
      this.budget.reserve();
      g = this.pool.pop();
      if (g !== undefined) g.reuse(key, c, tc);
      else g = new Group(key, c, tc);
      map.set(key, g);
      this.budget.live++;
      this.stats.groups++;
      this.linkTail(g);
    } else if (g.floor !== null && (g.h === g.end || m.time < g.time(g.end - 1)) && m.time < g.floor) {
      // older than the last hit's events. Entries kept after a hit are never older than its floor, so
      // only a match older than the newest entry (or into an empty group) can be: the floor, a boxed
      // number elsewhere in the heap, is read only then
      this.stats.suppressed++;
      return;
    } else this.touchGroup(g);
    if (this.track && g.dirtyEpoch !== this.epoch) {
      g.dirtyEpoch = this.epoch;
      this.dirty.push(g);
    }
    const t = m.time;
    const T = c.rule.timespanMs;
    // entries older than any window that can still change are useless (arrival mode; in close mode a
    // pending window keeps every entry from its anchor until drainCloses decides it)
    if (c.mode === "arrival" && g.h < g.end && g.time(g.h) < this.maxTime - this.lateness - T) this.purge(g, this.maxTime - this.lateness - T);
    if (g.end - g.h >= this.maxWindow) this.overflow(g);
    const ref: RefSlot = m.refs ?? m.eventId ?? "";
    const line = m.line ?? 0;
    const file = m.file === undefined ? -1 : this.fileId(m.file);
    const inOrder = g.h === g.end || t >= g.time(g.end - 1);
    if (c.mode === "close" && inOrder) g.entity = entityOf(m);
    const p = g.insert(inOrder ? g.end : g.upperBound(t), t, ref, line, file, val);
    if (c.mode === "close") {
      const anchor = g.time(g.h);
      if (g.closeAt === null || anchor + T < g.closeAt) {
        g.closeAt = anchor + T;
        this.closes.push(g.closeAt, g);
      }
      return;
    }
    if (inOrder) {
      g.addAgg(p);
      const lo = t - T;
      let w = g.w;
      while (g.time(w) < lo) w++;
      g.dropAgg(w);
      const value = g.aggValue();
      const end = g.end - 1;
      if (satisfied(g, value, g.mask, g.w, end)) {
        const hit = this.makeHit(g, g.w, end, value, m);
        g.floor = t;
        g.clearEntries();
        g.resetAgg();
        this.publish(c, hit);
      }
      return;
    }
    // out of order, within the allowed lateness: every window ending at this event or at a later one
    // within the timespan now holds one more event
    const last = g.end - 1;
    for (let j = p; j <= last && g.time(j) <= t + T; j++) {
      const a = g.lowerBound(g.time(j) - T);
      const value = g.rangeValue(a, j);
      if (satisfied(g, value, rangeMask, a, j)) {
        const hit = this.makeHit(g, a, j, value, m);
        g.floor = g.time(j);
        g.dropFront(j + 1);
        g.rebuildAgg();
        this.publish(c, hit);
        return;
      }
    }
    g.rebuildAgg();
  }

  private purge(g: Group, horizon: number): void {
    // usually one or two entries: a forward scan reads the cache line the oldest entry is on, where a
    // binary search would read several (and each entry is scanned past once, when it is dropped)
    let to = g.h + 1;
    while (to < g.end && g.time(to) < horizon) to++;
    if (g.corr.mode === "arrival") g.dropAgg(to);
    g.dropFront(to);
  }

  private overflow(g: Group): void {
    if (g.corr.mode === "arrival" && g.w === g.h) g.dropAgg(g.h + 1);
    g.dropFront(g.h + 1);
  }

  private drainCloses(wm: number): void {
    while (this.closes.size > 0 && this.closes.peekKey() < wm) {
      const key = this.closes.peekKey();
      const g = this.closes.pop()!;
      if (g.dead || g.closeAt === null || g.closeAt !== key) continue;
      const end = g.upperBound(key);
      if (end > g.h) {
        const a = g.h;
        const b = end - 1;
        const value = g.rangeValue(a, b);
        if (satisfied(g, value, rangeMask, a, b)) {
          const hit = this.makeHit(g, a, b, value, null);
          g.dropFront(end);
          this.markDirty(g);
          this.publish(g.corr, hit);
        } else {
          g.dropFront(end);
          this.markDirty(g);
        }
      }
      if (g.size > 0) {
        g.closeAt = g.time(g.h) + g.corr.rule.timespanMs;
        this.closes.push(g.closeAt, g);
      } else {
        g.closeAt = null;
        this.removeGroup(g);
      }
    }
  }

  /**
   * Removes idle groups (nothing in them can join a window that is still open), stalest first. Groups
   * with a pending window close are left to drainCloses. Stops at the first live group or after
   * `limit` steps, so the per-event cost stays bounded.
   */
  private expire(limit: number): void {
    const lru = this.lru;
    for (let steps = 0; steps < limit; steps++) {
      const g = lru.peek();
      if (g === null) return;
      if (g.closeAt !== null) {
        // a pending window close owns it (drainCloses); keep it in the order, look further
        lru.shift();
        lru.push(g, this.budget.next());
        continue;
      }
      if (!(g.newest() < this.maxTime - this.lateness - g.corr.rule.timespanMs)) return;
      lru.shift();
      this.removeGroup(g);
      this.stats.expired++;
    }
  }

  private makeHit(g: Group, a: number, b: number, value: number, current: Match | null): CorrelationHit {
    const c = g.corr;
    const count = countRefs(g, a, b);
    const events: HitEventRef[] = [];
    const cap = this.maxRefs;
    const headKeep = count > cap ? Math.floor(cap / 4) : count;
    const tailFrom = count > cap ? count - (cap - headKeep) : count;
    let k = 0;
    // the first event may sit inside an inner hit (chained correlations)
    let first = g.time(a);
    const nested = g.nested;
    for (let i = a; i <= b; i++) {
      const slot = g.ids[i];
      // without inner hits every slot is an event id: no need to read each one's type (a cache miss)
      if (!nested || typeof slot === "string") {
        const id = slot as string;
        if (k < headKeep || k >= tailFrom) {
          const line = g.ln !== null ? g.ln[i] : 0;
          const file = g.fl !== null ? g.fl[i] : -1;
          const r: HitEventRef = { id, time: g.time(i) };
          if (file >= 0) r.file = this.files[file];
          if (line > 0) r.line = line;
          events.push(r);
        }
        k++;
      } else
        for (const r of slot as HitEventRef[]) {
          if (r.time < first) first = r.time;
          if (k < headKeep || k >= tailFrom) events.push(r);
          k++;
        }
    }
    const last = g.time(b);
    const id = hitId("sigil.correlation", c.id, g.key, String(first), String(last), refKey(events[0]), refKey(events[events.length - 1]), String(count));
    return {
      ruleId: c.id,
      type: c.rule.type,
      group: groupObject(c, g.key),
      key: routeKey(c, g.key),
      value,
      firstSeen: first,
      lastSeen: last,
      timespanMs: c.rule.timespanMs,
      events,
      eventCount: count,
      entity: current ? entityOf(current) : (g.entity ?? {}),
      id,
    };
  }

  private publish(c: CompiledCorrelation, hit: CorrelationHit): void {
    this.stats.hits++;
    this.sink.hit(hit);
    for (const outer of c.consumers) {
      const event = syntheticEvent(c, hit);
      const m: Match = { ruleId: c.id, ruleName: c.rule.meta.name, event, time: hit.lastSeen, eventId: hit.id, refs: hit.events };
      const key = groupKey(outer.groupPaths.get(c.id)!, event);
      if (key === null) {
        this.stats.missingGroupField++;
        continue;
      }
      if (this.opts.isLocal && !this.opts.isLocal(outer, routeKey(outer, key), hit.key)) {
        this.forwardSink?.forward(outer, routeKey(outer, key), m);
        continue;
      }
      this.feed(edgeOf(this.plan, outer, c.id), m);
    }
  }

  /** Feeds a forwarded inner hit (received from another partition) to one outer correlation. */
  onForwarded(outerId: string, m: Match): void {
    const c = this.plan.byId.get(outerId);
    if (!c || !c.positionOf.has(m.ruleId)) return;
    if (m.time > this.maxTime && !this.external) this.maxTime = m.time;
    this.feed(edgeOf(this.plan, c, m.ruleId), m);
  }

  // ---- groups, LRU, budget ----

  private linkTail(g: Group): void {
    this.lru.push(g, this.budget.next());
    if ((this.budget.seq & 1023) === 0) this.lru.maybeCompact(this.budget.live);
  }

  private touchGroup(g: Group): void {
    this.lru.push(g, this.budget.next());
    if ((this.budget.seq & 1023) === 0) this.lru.maybeCompact(this.budget.live);
  }

  private markDirty(g: Group): void {
    if (this.track && g.dirtyEpoch !== this.epoch) {
      g.dirtyEpoch = this.epoch;
      this.dirty.push(g);
    }
  }

  private removeGroup(g: Group): void {
    if (g.dead) return;
    g.dead = true;
    this.maps[g.corr.index].delete(g.key);
    this.budget.live--;
    this.stats.groups--;
    if (this.pool.length < POOL_MAX) this.pool.push(g);
    if (!this.track) return;
    let list = this.deleted.get(g.corr.id);
    if (!list) this.deleted.set(g.corr.id, (list = []));
    list.push(g.key);
  }

  stalestTouch(): number {
    return this.lru.peekStamp();
  }

  evictStalest(): void {
    const g = this.lru.peek();
    if (g === null) return;
    this.removeGroup(g);
    this.stats.evicted++;
    this.sink.dropped?.({ reason: "evicted", ruleId: g.corr.id, correlationId: g.corr.id, time: g.newest(), detail: `group ${g.key} evicted: correlate.max_groups reached` });
  }

  /**
   * Events held in the groups' windows (the state beyond the group count that grows with the rules'
   * timespans). A walk over the groups: for a metrics scrape, not per event.
   */
  entryCount(): number {
    let n = 0;
    for (const m of this.maps) for (const g of m.values()) n += g.end - g.h;
    return n;
  }

  /** Live groups of one correlation (tests, metrics). */
  groupCount(correlationId?: string): number {
    if (correlationId === undefined) return this.maps.reduce((s, m) => s + m.size, 0);
    const c = this.plan.correlations.find((x) => x.id === correlationId);
    return c ? this.maps[c.index].size : 0;
  }

  /** Releases this engine's groups from the shared budget (partition revoked). */
  close(): void {
    for (const m of this.maps) for (const g of m.values()) g.dead = true;
    this.budget.live -= this.maps.reduce((s, m) => s + m.size, 0);
    this.maps = this.plan.correlations.map(() => new Map());
    this.lru.reset();
    this.closes.clear();
    this.stats.groups = 0;
    this.budget.engines.delete(this);
    this.budget.queues.delete(this.lru);
  }

  // ---- snapshots ----

  private fileId(f: string): number {
    let i = this.fileIndex.get(f);
    if (i === undefined) {
      i = this.files.length;
      this.files.push(f);
      this.fileIndex.set(f, i);
    }
    return i;
  }

  /** The whole state, JSON-serializable. Also starts a new delta epoch. */
  snapshot(): EngineSnapshot {
    const correlations: EngineSnapshot["correlations"] = {};
    for (const c of this.plan.correlations) {
      const groups: GroupState[] = [];
      for (const g of this.maps[c.index].values()) groups.push(groupState(g));
      correlations[c.id] = { fp: c.fingerprint, groups };
    }
    this.epoch++;
    this.dirty = [];
    this.deleted = new Map();
    this.savedMaxTime = this.maxTime;
    return { v: 1, maxTime: finiteOrNull(this.maxTime), files: [...this.files], correlations };
  }

  /** What changed since the last snapshot or delta (needs trackChanges); null when nothing did. */
  delta(): EngineDelta | null {
    if (!this.track) throw new Error("delta() needs an engine created with trackChanges");
    if (this.dirty.length === 0 && this.deleted.size === 0 && this.maxTime === this.savedMaxTime) return null;
    this.savedMaxTime = this.maxTime;
    const upserts: EngineDelta["upserts"] = {};
    for (const g of this.dirty) {
      if (g.dead) continue;
      let u = upserts[g.corr.id];
      if (!u) upserts[g.corr.id] = u = { fp: g.corr.fingerprint, groups: [] };
      u.groups.push(groupState(g));
    }
    const deletes: EngineDelta["deletes"] = {};
    for (const [id, keys] of this.deleted) deletes[id] = keys;
    this.epoch++;
    this.dirty = [];
    this.deleted = new Map();
    return { v: 1, maxTime: finiteOrNull(this.maxTime), files: [...this.files], upserts, deletes };
  }

  /** Replaces the state with a snapshot plus deltas (in order). State of changed rules is dropped. */
  restore(snap: EngineSnapshot | null, deltas: EngineDelta[] = []): { restored: number; dropped: number } {
    this.close();
    this.budget.engines.add(this);
    this.budget.queues.add(this.lru);
    this.files = [];
    this.fileIndex = new Map();
    this.maxTime = -Infinity;
    let dropped = 0;
    // merged view: correlation id → key → state
    const merged = new Map<string, Map<string, GroupState>>();
    const apply = (id: string, fp: string, groups: GroupState[], files: string[]) => {
      const c = this.plan.byId.get(id);
      if (!c || c.fingerprint !== fp) {
        dropped += groups.length;
        return;
      }
      let m = merged.get(id);
      if (!m) merged.set(id, (m = new Map()));
      for (const gs of groups) m.set(gs[0], remapFiles(gs, files, (f) => this.fileId(f)));
    };
    if (snap) {
      this.maxTime = snap.maxTime ?? -Infinity;
      for (const [id, s] of Object.entries(snap.correlations)) apply(id, s.fp, s.groups, snap.files);
    }
    for (const d of deltas) {
      if (d.maxTime !== null && d.maxTime > this.maxTime) this.maxTime = d.maxTime;
      for (const [id, keys] of Object.entries(d.deletes)) for (const k of keys) merged.get(id)?.delete(k);
      for (const [id, s] of Object.entries(d.upserts)) apply(id, s.fp, s.groups, d.files);
    }
    let restored = 0;
    for (const [id, m] of merged) {
      const c = this.plan.byId.get(id)!;
      const tc = this.tcs[c.index];
      // oldest first, so the LRU order approximates staleness
      const states = [...m.values()].sort((x, y) => (x[2] ?? -Infinity) - (y[2] ?? -Infinity));
      for (const gs of states) {
        this.budget.reserve();
        const g = new Group(gs[0], c, tc);
        g.floor = gs[1];
        g.load(gs[4], gs[5], gs[6], gs[7], gs[8]);
        g.entity = gs[9];
        if (c.mode === "arrival") g.rebuildAgg();
        if (gs[3] !== null) {
          g.closeAt = gs[3];
          this.closes.push(g.closeAt, g);
        }
        this.maps[c.index].set(g.key, g);
        this.budget.live++;
        this.linkTail(g);
        restored++;
      }
    }
    this.stats.groups = restored;
    this.savedMaxTime = this.maxTime;
    this.epoch++;
    this.dirty = [];
    this.deleted = new Map();
    return { restored, dropped };
  }

  /** Swaps in a new plan (rules changed); groups of unchanged correlations keep their state. */
  swapPlan(plan: CorrelationPlan): void {
    const snap = this.snapshot();
    this.close();
    this.setPlan(plan);
    this.restore(snap);
  }
}

/**
 * schema/event-id.ts derivedId, computed with the one-shot hash (same bytes: each part followed by
 * NUL), about twice as fast; hits are frequent enough for it to matter. A test pins the equality.
 */
export function hitId(...parts: string[]): string {
  return hash("sha256", parts.join("\u0000") + "\u0000", "hex").slice(0, 32);
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function groupState(g: Group): GroupState {
  const h = g.h;
  const sl = <T>(a: T[] | null): T[] | null => (a === null ? null : a.slice(h, g.end));
  return [g.key, g.floor, finiteOrNull(g.newest()), g.closeAt, g.times(), sl(g.ids)!, sl(g.ln), sl(g.fl), g.values(), g.corr.mode === "close" ? g.entity : null];
}

function remapFiles(gs: GroupState, files: string[], id: (f: string) => number): GroupState {
  if (gs[7] === null) return gs;
  const fl = gs[7].map((i) => (i >= 0 && i < files.length ? id(files[i]) : -1));
  return [gs[0], gs[1], gs[2], gs[3], gs[4], gs[5], gs[6], fl, gs[8], gs[9]];
}

/** The edge from a referenced rule into one correlation. */
function edgeOf(plan: CorrelationPlan, c: CompiledCorrelation, ruleId: string): Edge {
  return plan.edges.get(ruleId)!.find((e) => e.c === c)!;
}

/** An event reference as it enters a hit id: the event id, else where it came from. */
function refKey(r: HitEventRef | undefined): string {
  return r ? r.id || `${r.file ?? ""}:${r.line ?? 0}` : "";
}

function countRefs(g: Group, a: number, b: number): number {
  if (!g.nested) return b - a + 1;
  let n = 0;
  for (let i = a; i <= b; i++) {
    const s = g.ids[i];
    n += typeof s === "string" ? 1 : s.length;
  }
  return n;
}

function entityOf(m: Match): JsonObject {
  return entityFieldsOf(m.event as Parameters<typeof entityFieldsOf>[0]);
}

/** A value as a group or distinct key; null when missing or empty. */
function scalarKey(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return v === "" ? null : v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** The group key of an event: one value as is, several as a JSON array, none (global group) "". */
export function groupKey(paths: Accessor[], event: JsonObject): string | null {
  if (paths.length === 0) return "";
  if (paths.length === 1) return scalarKey(paths[0](event));
  const parts: string[] = [];
  for (const p of paths) {
    const k = scalarKey(p(event));
    if (k === null) return null;
    parts.push(k);
  }
  return JSON.stringify(parts);
}

function valueKey(paths: Accessor[], event: JsonObject): string | null {
  if (paths.length === 1) return scalarKey(paths[0](event));
  const parts: string[] = [];
  for (const p of paths) {
    const k = scalarKey(p(event));
    if (k === null) return null;
    parts.push(k);
  }
  return JSON.stringify(parts);
}

/** Group-by name → value, from a group key. */
export function groupObject(c: CompiledCorrelation, key: string): Record<string, string> {
  const names = c.groupNames;
  if (names.length === 0) return {};
  if (names.length === 1) return { [names[0]]: key };
  const vals = JSON.parse(key) as string[];
  const out: Record<string, string> = {};
  names.forEach((n, i) => (out[n] = vals[i]));
  return out;
}

/**
 * The partition key on `sigil.signals` for a group: the group-by value(s); a correlation without
 * group-by has one global group, keyed by the correlation id so it lives on one partition.
 */
export function routeKey(c: CompiledCorrelation, key: string): string {
  return key === "" ? `correlation:${c.id}` : key;
}

/** The event an inner hit becomes for an outer correlation: its group values and last event's entities. */
function syntheticEvent(c: CompiledCorrelation, hit: CorrelationHit): JsonObject {
  const ev = JSON.parse(JSON.stringify(hit.entity)) as JsonObject;
  ev["@timestamp"] = new Date(hit.lastSeen).toISOString();
  for (const [name, value] of Object.entries(hit.group)) setField(ev, name, value);
  ev["event"] = { id: hit.id, kind: "signal" };
  ev["rule"] = { id: c.id, name: c.rule.meta.name ?? null, title: c.rule.meta.title };
  return ev;
}

