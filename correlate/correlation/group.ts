// The state of one correlation group: its window of contributing events in event-time order
// (parallel arrays used as a deque), and the running aggregate over the current window.

import { quantileSorted } from "simple-statistics";
import type { JsonObject } from "../../schema/ecs.ts";
import { evalNnf, testNumeric, type Expr } from "./condition.ts";
import type { CompiledCorrelation } from "./plan.ts";
import type { HitEventRef } from "./types.ts";

export const T_EVENT_COUNT = 0;
export const T_VALUE_COUNT = 1;
export const T_TEMPORAL = 2;
export const T_ORDERED = 3;
export const T_SUM = 4;
export const T_AVG = 5;
export const T_PERCENTILE = 6;

export function typeCode(c: CompiledCorrelation): number {
  switch (c.rule.type) {
    case "event_count":
      return T_EVENT_COUNT;
    case "value_count":
      return T_VALUE_COUNT;
    case "temporal":
      return T_TEMPORAL;
    case "temporal_ordered":
      return T_ORDERED;
    case "value_sum":
      return T_SUM;
    case "value_avg":
      return T_AVG;
    case "value_percentile":
    case "value_median":
      return T_PERCENTILE;
  }
}

/** An entry's event reference: an event id (single event), or the events of an inner correlation hit. */
export type RefSlot = string | HitEventRef[];

export class Group {
  /** Stamp of the latest update (least-recently-updated order, for eviction and idle expiry). */
  touch = 0;
  /** Events earlier than this belong to an already reported hit (arrival mode). */
  floor = -Infinity;
  /** Latest event time in the group. */
  newest = -Infinity;
  /** Event time at which the current window closes (close mode), NaN when none is pending. */
  closeAt = NaN;
  /** Deque head and start of the incremental window. */
  h = 0;
  w = 0;
  t: number[] = [];
  ids: RefSlot[] = [];
  /** 1-based input lines (0 = none) and file indexes (-1 = none); allocated when first needed. */
  ln: number[] | null = null;
  fl: number[] | null = null;
  /** Per-entry value: the distinct-value key, the number, or the rule position. */
  v: (number | string)[] | null;
  // running aggregate over [w, end)
  n = 0;
  dm: Map<string, number> | null = null;
  sv: number[] | null = null;
  rc: number[] | null = null;
  mask = 0;
  S: number[] | null = null;
  chain = 0;
  /** Entity fields of the newest event (kept for close-mode windows, whose hits fire later). */
  entity: JsonObject | null = null;
  dirtyEpoch = -1;
  dead = false;

  constructor(
    public key: string,
    public corr: CompiledCorrelation,
    public tc: number,
  ) {
    this.v = null;
    this.init();
  }

  private init(): void {
    const tc = this.tc;
    const r = this.corr.refIds.length;
    if (tc !== T_EVENT_COUNT && this.v === null) this.v = [];
    if (tc === T_VALUE_COUNT && this.dm === null) this.dm = new Map();
    else if (tc === T_PERCENTILE && this.sv === null) this.sv = [];
    else if (tc === T_TEMPORAL && (this.rc === null || this.rc.length !== r)) this.rc = new Array<number>(r).fill(0);
    else if (tc === T_ORDERED && (this.S === null || this.S.length !== r * r)) this.S = new Array<number>(r * r).fill(-Infinity);
  }

  /** Re-initializes a removed group for a new key (the engine pools groups to spare the allocator). */
  reuse(key: string, corr: CompiledCorrelation, tc: number): void {
    this.key = key;
    this.corr = corr;
    this.tc = tc;
    this.touch = 0;
    this.floor = -Infinity;
    this.newest = -Infinity;
    this.closeAt = NaN;
    this.entity = null;
    this.dead = false;
    this.ln = null;
    this.fl = null;
    this.init();
    this.clearEntries();
    this.resetAgg();
  }

  get size(): number {
    return this.t.length - this.h;
  }

  /** First index in [h, end) with time >= x. */
  lowerBound(x: number): number {
    let lo = this.h;
    let hi = this.t.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.t[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index in [h, end) with time > x. */
  upperBound(x: number): number {
    let lo = this.h;
    let hi = this.t.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.t[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts an entry at index p (p = end appends); returns p. */
  insert(p: number, time: number, ref: RefSlot, line: number, file: number, val: number | string): number {
    const end = this.t.length;
    if (line > 0 && this.ln === null) this.ln = new Array<number>(end).fill(0);
    if (file >= 0 && this.fl === null) this.fl = new Array<number>(end).fill(-1);
    if (p === end) {
      this.t.push(time);
      this.ids.push(ref);
      if (this.ln !== null) this.ln.push(line);
      if (this.fl !== null) this.fl.push(file);
      if (this.v !== null) this.v.push(val);
    } else {
      this.t.splice(p, 0, time);
      this.ids.splice(p, 0, ref);
      if (this.ln !== null) this.ln.splice(p, 0, line);
      if (this.fl !== null) this.fl.splice(p, 0, file);
      if (this.v !== null) this.v.splice(p, 0, val);
    }
    return p;
  }

  /** Drops entries before index `to` (exclusive); compacts the arrays now and then. */
  dropFront(to: number): void {
    if (to <= this.h) return;
    this.h = to;
    if (this.w < to) this.w = to;
    if (this.h === this.t.length) {
      this.clearEntries();
      return;
    }
    if (this.h >= 32 && this.h * 2 >= this.t.length) {
      const k = this.h;
      this.t.splice(0, k);
      this.ids.splice(0, k);
      if (this.ln !== null) this.ln.splice(0, k);
      if (this.fl !== null) this.fl.splice(0, k);
      if (this.v !== null) this.v.splice(0, k);
      this.h = 0;
      this.w -= k;
    }
  }

  clearEntries(): void {
    this.t.length = 0;
    this.ids.length = 0;
    if (this.ln !== null) this.ln.length = 0;
    if (this.fl !== null) this.fl.length = 0;
    if (this.v !== null) this.v.length = 0;
    this.h = 0;
    this.w = 0;
  }

  // ---- running aggregate over [w, end) ----

  resetAgg(): void {
    this.n = 0;
    this.mask = 0;
    this.chain = 0;
    if (this.dm !== null) this.dm.clear();
    if (this.sv !== null) this.sv.length = 0;
    if (this.rc !== null) this.rc.fill(0);
    if (this.S !== null) this.S.fill(-Infinity);
  }

  addAgg(i: number): void {
    switch (this.tc) {
      case T_VALUE_COUNT: {
        const k = this.v![i] as string;
        const dm = this.dm!;
        dm.set(k, (dm.get(k) ?? 0) + 1);
        break;
      }
      case T_TEMPORAL: {
        const r = this.v![i] as number;
        if (this.rc![r]++ === 0) this.mask |= 1 << r;
        break;
      }
      case T_ORDERED:
        this.chain = this.orderedStep(this.v![i] as number, this.t[i]);
        break;
      case T_SUM:
      case T_AVG:
        this.n += this.v![i] as number;
        break;
      case T_PERCENTILE:
        sortedInsert(this.sv!, this.v![i] as number);
        break;
    }
  }

  removeAgg(i: number): void {
    switch (this.tc) {
      case T_VALUE_COUNT: {
        const k = this.v![i] as string;
        const dm = this.dm!;
        const c = dm.get(k)!;
        if (c <= 1) dm.delete(k);
        else dm.set(k, c - 1);
        break;
      }
      case T_TEMPORAL: {
        const r = this.v![i] as number;
        if (--this.rc![r] === 0) this.mask &= ~(1 << r);
        break;
      }
      case T_SUM:
      case T_AVG:
        this.n -= this.v![i] as number;
        break;
      case T_PERCENTILE:
        sortedRemove(this.sv!, this.v![i] as number);
        break;
      // T_ORDERED: chains carry their start time; an expired start simply stops counting
    }
  }

  /**
   * temporal_ordered: S[r*R + L-1] is the latest start time of an in-order chain of length L ending at
   * an event of rule r. Adding an event of rule r at time t extends the best chains of earlier rules;
   * returns the longest chain ending at this event whose start lies within the timespan.
   */
  private orderedStep(r: number, t: number): number {
    const S = this.S!;
    const R = this.corr.refIds.length;
    const lo = t - this.corr.rule.timespanMs;
    let best = 1;
    // longer chains first, so S[r] updates don't feed into themselves (only r' < r are read anyway)
    for (let L = r + 1; L >= 2; L--) {
      let cand = -Infinity;
      for (let q = 0; q < r; q++) {
        const s = S[q * R + L - 2];
        if (s > cand) cand = s;
      }
      if (cand >= lo) {
        if (cand > S[r * R + L - 1]) S[r * R + L - 1] = cand;
        if (L > best) best = L;
      }
    }
    if (t > S[r * R]) S[r * R] = t;
    return best;
  }

  /** The current window's aggregate (arrival mode, in-order path). */
  aggValue(): number {
    switch (this.tc) {
      case T_EVENT_COUNT:
        return this.t.length - this.w;
      case T_VALUE_COUNT:
        return this.dm!.size;
      case T_TEMPORAL:
        return popcount(this.mask);
      case T_ORDERED:
        return this.chain;
      case T_SUM:
        return this.n;
      case T_AVG:
        return this.n / (this.t.length - this.w);
      case T_PERCENTILE:
        return percentileOf(this.sv!, this.corr.rule.percentile ?? 50);
    }
    return 0;
  }

  /** Recomputes the running aggregate for the window ending at the newest entry. */
  rebuildAgg(): void {
    this.resetAgg();
    if (this.size === 0) {
      this.w = this.h;
      return;
    }
    const last = this.t[this.t.length - 1];
    this.w = this.lowerBound(last - this.corr.rule.timespanMs);
    for (let i = this.w; i < this.t.length; i++) this.addAgg(i);
  }

  /** Aggregate over entries [a, b] from scratch; sets `rangeMask` for temporal types. */
  rangeValue(a: number, b: number): number {
    const count = b - a + 1;
    switch (this.tc) {
      case T_EVENT_COUNT:
        return count;
      case T_VALUE_COUNT: {
        const s = new Set<string>();
        for (let i = a; i <= b; i++) s.add(this.v![i] as string);
        return s.size;
      }
      case T_TEMPORAL: {
        let m = 0;
        for (let i = a; i <= b; i++) m |= 1 << (this.v![i] as number);
        rangeMask = m;
        return popcount(m);
      }
      case T_ORDERED: {
        let m = 0;
        for (let i = a; i <= b; i++) m |= 1 << (this.v![i] as number);
        rangeMask = m;
        return longestOrderedChain(this, a, b);
      }
      case T_SUM:
      case T_AVG: {
        let s = 0;
        for (let i = a; i <= b; i++) s += this.v![i] as number;
        return this.tc === T_SUM ? s : s / count;
      }
      case T_PERCENTILE: {
        const vals: number[] = [];
        for (let i = a; i <= b; i++) vals.push(this.v![i] as number);
        vals.sort((x, y) => x - y);
        return percentileOf(vals, this.corr.rule.percentile ?? 50);
      }
    }
    return 0;
  }
}

/** Set by Group.rangeValue for temporal types: the rules present in the range. */
export let rangeMask = 0;

/**
 * Whether a window [a, b] with aggregate `value` (and, for temporal types, the rules present `mask`)
 * satisfies the correlation's condition.
 */
export function satisfied(g: Group, value: number, mask: number, a: number, b: number): boolean {
  const cond = g.corr.rule.condition;
  if (cond.kind === "numeric") return testNumeric(cond, value);
  if (g.tc === T_TEMPORAL) return evalNnf(cond.nnf, mask, mask);
  return orderedExpression(g, cond.nnf, mask, a, b);
}

/**
 * temporal_ordered with an expression: some set X of the rules present forms an in-order chain in
 * the window, and the expression holds with X as its positive references and every negated rule
 * absent from the window.
 */
function orderedExpression(g: Group, nnf: Expr, _mask: number, a: number, b: number): boolean {
  let present = 0;
  for (let i = a; i <= b; i++) present |= 1 << (g.v![i] as number);
  if (!evalNnf(nnf, present, present)) return false;
  for (let x = present; ; x = (x - 1) & present) {
    if (evalNnf(nnf, x, present) && chainThrough(g, x, a, b)) return true;
    if (x === 0) break;
  }
  return false;
}

/** Whether the rules in `set` occur in [a, b] in their listed order (a subsequence). */
function chainThrough(g: Group, set: number, a: number, b: number): boolean {
  if (set === 0) return true;
  let want = lowestBit(set);
  let rest = set & ~(1 << want);
  for (let i = a; i <= b; i++) {
    if ((g.v![i] as number) === want) {
      if (rest === 0) return true;
      want = lowestBit(rest);
      rest &= ~(1 << want);
    }
  }
  return false;
}

function longestOrderedChain(g: Group, a: number, b: number): number {
  const R = g.corr.refIds.length;
  const best = new Array<number>(R).fill(0); // longest chain ending at rule r so far
  let max = 0;
  for (let i = a; i <= b; i++) {
    const r = g.v![i] as number;
    let L = 1;
    for (let q = 0; q < r; q++) if (best[q] + 1 > L) L = best[q] + 1;
    if (L > best[r]) best[r] = L;
    if (L > max) max = L;
  }
  return max;
}

function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

export function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function percentileOf(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return quantileSorted(sorted, Math.min(1, Math.max(0, p / 100)));
}

function sortedInsert(a: number[], x: number): void {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  a.splice(lo, 0, x);
}

function sortedRemove(a: number[], x: number): void {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo < a.length && a[lo] === x) a.splice(lo, 1);
}
