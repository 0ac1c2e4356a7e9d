// The state of one correlation group: its window of contributing events in event-time order
// (parallel arrays used as a deque), and the running aggregate over the current window. For the
// temporal types, each entry's rule position lives in the time array, so a match touches one number
// array, not two: packed into the same number (time * 32 + position, exact for whole-millisecond times
// up to year 6000 and up to 32 rules), else interleaved (time at t[2i], position at t[2i + 1]); a group
// that meets a time the packed form cannot hold exactly switches to the interleaved one.

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

const EMPTY_NUM: number[] = [];
const EMPTY_REF: RefSlot[] = [];
const EMPTY_VAL: (number | string)[] = [];
/** First capacity of a group's arrays: most groups hold a few events below their threshold. */
const FIRST_CAPACITY = 4;

/** A JS array of exactly `n` slots (holey; only [0, end) is ever read). */
function slots<T>(n: number): T[] {
  return new Array<T>(n);
}

/** The `live` entries of `a` from index `from`, at the front of an array of capacity `cap` (`a` itself when it has that capacity). */
function moved<T>(a: T[], cap: number, from: number, live: number): T[] {
  const out = cap === a.length ? a : slots<T>(cap);
  for (let i = 0; i < live; i++) out[i] = a[from + i];
  return out;
}

/** Whether a type keeps each entry's rule position in the time array (see the top). */
export function positional(tc: number): boolean {
  return tc === T_TEMPORAL || tc === T_ORDERED;
}

/** Group.bits: interleaved entries (two slots each), packed entries, an entry holds an inner hit. */
const SH = 1;
const PK = 2;
const NESTED = 4;

/** Packed entries: time * PACK + rule position. */
const PACK = 32;
/** Largest |time| the packed form holds exactly (time * PACK + 31 < 2^53). */
const PACK_MAX_TIME = 2 ** 47;

/** Whether a time fits the packed form exactly. */
export function packable(time: number): boolean {
  return Number.isInteger(time) && time <= PACK_MAX_TIME && time >= -PACK_MAX_TIME;
}

export class Group {
  /** Stamp of the latest update (least-recently-updated order, for eviction and idle expiry). */
  touch = 0;
  /**
   * Events earlier than this belong to an already reported hit (arrival mode); null: none yet. Fields
   * that are rarely set start as null, so V8 does not keep a boxed double in every group.
   */
  floor: number | null = null;
  /** Event time at which the current window closes (close mode); null when none is pending. */
  closeAt: number | null = null;
  /**
   * Entries live in [h, end) of arrays with explicit capacity (JS arrays grown by push reserve 16
   * slots at once, which would dominate a small group's memory). w: start of the incremental window.
   */
  h = 0;
  w = 0;
  end = 0;
  /** Layout and content flags in one field (one word per group): SH, PK, NESTED. */
  bits = 0;
  /** Entry times (and for the temporal types, rule positions: see `sh`, `pk`). */
  t: number[] = EMPTY_NUM;
  ids: RefSlot[] = EMPTY_REF;
  /** 1-based input lines (0 = none) and file indexes (-1 = none); allocated when first needed. */
  ln: number[] | null = null;
  fl: number[] | null = null;
  /** Per-entry value: the distinct-value key or the number (null for event_count and the temporal types). */
  v: (number | string)[] | null;
  /**
   * Running aggregate over [w, end), by type: distinct-value counts (value_count), sorted values
   * (percentile), the chain table (temporal_ordered), [sum] (sum, avg); temporal needs only `mask`.
   */
  agg: Map<string, number> | number[] | null = null;
  /** Rules present in the window (temporal) and the chain length ending at the newest event (ordered). */
  mask = 0;
  chain = 0;
  /** Entity fields of the newest event (kept for close-mode windows, whose hits fire later). */
  entity: JsonObject | null = null;
  dirtyEpoch = -1;
  dead = false;

  /** log2 of the slots per entry in `t`: 1 for interleaved temporal entries (time, rule position), else 0. */
  get sh(): number {
    return this.bits & SH;
  }
  /** Whether `t` holds packed temporal entries (time * 32 + rule position). */
  get pk(): boolean {
    return (this.bits & PK) !== 0;
  }
  /**
   * Whether an entry since the arrays were last emptied carries an inner hit's events (an array, not an
   * event id): when not, a hit counts its events without reading each reference (no cache miss per id).
   */
  get nested(): boolean {
    return (this.bits & NESTED) !== 0;
  }
  private set nested(on: boolean) {
    this.bits = on ? this.bits | NESTED : this.bits & ~NESTED;
  }
  /** Sets the layout: packed, interleaved (sh 1) or plain (neither). */
  private layout(pk: boolean, sh: number): void {
    this.bits = (this.bits & NESTED) | (pk ? PK : 0) | (sh === 1 ? SH : 0);
  }

  constructor(
    public key: string,
    public corr: CompiledCorrelation,
    public tc: number,
  ) {
    this.v = null;
    this.init();
  }

  /** Sets up the value array and the aggregate for the group's type; `keepAgg`: the aggregate already fits (reuse). */
  private init(keepAgg = false): void {
    const tc = this.tc;
    const r = this.corr.refIds.length;
    const pos = positional(tc);
    const pk = pos && r <= PACK;
    const sh = pos && !pk ? 1 : 0;
    if (sh !== this.sh || pk !== this.pk) {
      // a pooled group of another layout: start from empty arrays
      this.t = EMPTY_NUM;
      this.ids = EMPTY_REF;
      this.ln = null;
      this.fl = null;
      this.layout(pk, sh);
    }
    if (tc !== T_EVENT_COUNT && !pos) {
      if (this.v === null || this.v.length !== this.ids.length) this.v = this.ids.length ? slots(this.ids.length) : EMPTY_VAL;
    } else this.v = null;
    if (keepAgg) return;
    if (tc === T_VALUE_COUNT) this.agg = new Map();
    else if (tc === T_PERCENTILE) this.agg = [];
    // temporal: the rules present are `mask` alone (see dropAgg), no per-rule state
    else if (tc === T_ORDERED) this.agg = new Array<number>(r * r).fill(-Infinity);
    else if (tc === T_SUM || tc === T_AVG) {
      // a double array from the start (sums are rarely small integers)
      const sum = [0.5];
      sum[0] = 0;
      this.agg = sum;
    }
    else this.agg = null;
  }

  /** Re-initializes a removed group for a new key (the engine pools groups to spare the allocator). */
  reuse(key: string, corr: CompiledCorrelation, tc: number): void {
    // a pooled group of the same type and rule count keeps its aggregate (resetAgg clears it), so a
    // new group allocates nothing that would have to be promoted
    const keepAgg = this.agg !== null && this.tc === tc && this.corr.refIds.length === corr.refIds.length;
    this.key = key;
    this.corr = corr;
    this.tc = tc;
    this.touch = 0;
    this.floor = null;
    this.closeAt = null;
    this.entity = null;
    this.dead = false;
    this.ln = null;
    this.fl = null;
    this.clearEntries();
    this.init(keepAgg);
    this.resetAgg();
  }

  get size(): number {
    return this.end - this.h;
  }

  /** Event time of entry i. */
  time(i: number): number {
    return this.pk ? Math.floor(this.t[i] / PACK) : this.t[i << this.sh];
  }

  /** Rule position of entry i (temporal types). */
  pos(i: number): number {
    if (this.pk) {
      const x = this.t[i];
      return x - Math.floor(x / PACK) * PACK;
    }
    return this.t[(i << 1) | 1];
  }

  /** Latest event time in the group (entries are sorted; after a hit, the hit's last event). */
  newest(): number {
    return this.end > this.h ? this.time(this.end - 1) : (this.floor ?? -Infinity);
  }

  /** Entry times [h, end) (checkpoints). */
  times(): number[] {
    const out = new Array<number>(this.end - this.h);
    for (let i = this.h; i < this.end; i++) out[i - this.h] = this.time(i);
    return out;
  }

  /** Per-entry values [h, end): the rule positions for the temporal types (checkpoints); null when none. */
  values(): (number | string)[] | null {
    if (!positional(this.tc)) return this.v === null ? null : this.v.slice(this.h, this.end);
    const out = new Array<number>(this.end - this.h);
    for (let i = this.h; i < this.end; i++) out[i - this.h] = this.pos(i);
    return out;
  }

  /** Switches packed entries to the interleaved form (a time the packed form cannot hold arrived). */
  private unpack(): void {
    const cap = this.ids.length;
    const t = this.t;
    const out = slots<number>(cap << 1);
    for (let i = this.h; i < this.end; i++) {
      const x = t[i];
      const time = Math.floor(x / PACK);
      out[i << 1] = time;
      out[(i << 1) | 1] = x - time * PACK;
    }
    this.t = cap === 0 ? EMPTY_NUM : out;
    this.layout(false, 1);
  }

  /** Loads entries from a checkpoint: times, references, lines, files, values (arrays of one length, owned by the group). */
  load(times: number[], refs: RefSlot[], lines: number[] | null, files: number[] | null, vals: (number | string)[] | null): void {
    const n = times.length;
    this.ids = refs;
    this.ln = lines;
    this.fl = files;
    this.h = 0;
    this.w = 0;
    this.end = n;
    this.nested = refs.some((r) => typeof r !== "string");
    const posOf = (i: number) => (vals !== null && typeof vals[i] === "number" ? (vals[i] as number) : 0);
    if (this.pk && !times.every(packable)) this.layout(false, 1);
    if (this.pk) {
      const t = slots<number>(n);
      for (let i = 0; i < n; i++) t[i] = times[i] * PACK + posOf(i);
      this.t = t;
    } else if (this.sh === 1) {
      const t = slots<number>(n << 1);
      for (let i = 0; i < n; i++) {
        t[i << 1] = times[i];
        t[(i << 1) | 1] = posOf(i);
      }
      this.t = t;
    } else {
      this.t = times;
      if (this.v !== null) this.v = vals ?? new Array(n);
    }
  }

  private get dm(): Map<string, number> {
    return this.agg as Map<string, number>;
  }
  /** Sorted values (percentile), chain table (ordered), [sum] (sum, avg). */
  private get arr(): number[] {
    return this.agg as number[];
  }

  /** First index in [h, end) with time >= x. */
  lowerBound(x: number): number {
    let lo = this.h;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.time(mid) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index in [h, end) with time > x. */
  upperBound(x: number): number {
    let lo = this.h;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.time(mid) <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts an entry at index p (p = end appends); returns the index it landed at. */
  insert(p: number, time: number, ref: RefSlot, line: number, file: number, val: number | string): number {
    if (line > 0 && this.ln === null) this.ln = slots<number>(this.ids.length).fill(0);
    if (file >= 0 && this.fl === null) this.fl = slots<number>(this.ids.length).fill(-1);
    if (this.pk && !packable(time)) this.unpack();
    if (this.end === this.ids.length) p -= this.grow();
    const t = this.t;
    const ids = this.ids;
    const ln = this.ln;
    const fl = this.fl;
    const v = this.v;
    if (this.sh === 1) {
      for (let i = this.end; i > p; i--) {
        t[i << 1] = t[(i - 1) << 1];
        t[(i << 1) | 1] = t[((i - 1) << 1) | 1];
        ids[i] = ids[i - 1];
        if (ln !== null) ln[i] = ln[i - 1];
        if (fl !== null) fl[i] = fl[i - 1];
      }
      t[p << 1] = time;
      t[(p << 1) | 1] = val as number;
    } else {
      for (let i = this.end; i > p; i--) {
        t[i] = t[i - 1];
        ids[i] = ids[i - 1];
        if (ln !== null) ln[i] = ln[i - 1];
        if (fl !== null) fl[i] = fl[i - 1];
        if (v !== null) v[i] = v[i - 1];
      }
      t[p] = this.pk ? time * PACK + (val as number) : time;
      if (v !== null) v[p] = val;
    }
    ids[p] = ref;
    if (typeof ref !== "string") this.nested = true;
    if (ln !== null) ln[p] = line;
    if (fl !== null) fl[p] = file;
    this.end++;
    return p;
  }

  /**
   * Makes room for one more entry: moves the live entries to the front when at least half the
   * arrays is dropped space, else doubles the capacity. Returns by how much indexes shifted down.
   */
  private grow(): number {
    const live = this.end - this.h;
    const shift = this.h;
    const had = this.ids.length;
    const cap = had === 0 ? FIRST_CAPACITY : live * 2 <= had ? had : had * 2;
    const oldEnd = this.end;
    const sh = this.sh;
    this.t = moved(this.t, cap << sh, shift << sh, live << sh);
    const ids = moved(this.ids, cap, shift, live);
    // slots moved from keep no references (numbers may stay: they hold nothing)
    if (ids === this.ids) for (let i = live; i < oldEnd; i++) ids[i] = "";
    this.ids = ids;
    if (this.ln !== null) this.ln = moved(this.ln, cap, shift, live);
    if (this.fl !== null) this.fl = moved(this.fl, cap, shift, live);
    if (this.v !== null) this.v = moved(this.v, cap, shift, live);
    this.h = 0;
    this.w -= shift;
    if (this.w < 0) this.w = 0;
    this.end = live;
    return shift;
  }

  /** Drops entries before index `to` (exclusive). */
  dropFront(to: number): void {
    if (to <= this.h) return;
    // release references held by dropped slots (event ids, inner hits)
    for (let i = this.h; i < to; i++) this.ids[i] = "";
    this.h = to;
    if (this.w < to) this.w = to;
    if (this.h === this.end) this.clearEntries();
  }

  clearEntries(): void {
    if (this.ids.length > 64) {
      // a burst made the arrays large: give the memory back
      this.t = EMPTY_NUM;
      this.ids = EMPTY_REF;
      if (this.ln !== null) this.ln = EMPTY_NUM;
      if (this.fl !== null) this.fl = EMPTY_NUM;
      if (this.v !== null) this.v = EMPTY_VAL;
    } else for (let i = this.h; i < this.end; i++) this.ids[i] = "";
    this.h = 0;
    this.w = 0;
    this.end = 0;
    this.nested = false;
  }

  // ---- running aggregate over [w, end) ----

  resetAgg(): void {
    this.mask = 0;
    this.chain = 0;
    switch (this.tc) {
      case T_VALUE_COUNT:
        this.dm.clear();
        break;
      case T_PERCENTILE:
        this.arr.length = 0;
        break;
      case T_ORDERED:
        this.arr.fill(-Infinity);
        break;
      case T_SUM:
      case T_AVG:
        this.arr[0] = 0;
        break;
    }
  }

  addAgg(i: number): void {
    switch (this.tc) {
      case T_VALUE_COUNT: {
        const k = this.v![i] as string;
        const dm = this.dm;
        dm.set(k, (dm.get(k) ?? 0) + 1);
        break;
      }
      case T_TEMPORAL:
        this.mask |= 1 << this.pos(i);
        break;
      case T_ORDERED:
        this.chain = this.orderedStep(this.pos(i), this.time(i));
        break;
      case T_SUM:
      case T_AVG:
        this.arr[0] += this.v![i] as number;
        break;
      case T_PERCENTILE:
        sortedInsert(this.arr, this.v![i] as number);
        break;
    }
  }

  removeAgg(i: number): void {
    switch (this.tc) {
      case T_VALUE_COUNT: {
        const k = this.v![i] as string;
        const dm = this.dm;
        const c = dm.get(k)!;
        if (c <= 1) dm.delete(k);
        else dm.set(k, c - 1);
        break;
      }
      case T_SUM:
      case T_AVG:
        this.arr[0] -= this.v![i] as number;
        break;
      case T_PERCENTILE:
        sortedRemove(this.arr, this.v![i] as number);
        break;
      // T_ORDERED: chains carry their start time; an expired start simply stops counting
    }
  }

  /**
   * Takes the entries [w, to) out of the running aggregate: the window now starts at `to`. For
   * temporal, a rule whose entries left stays in `mask` if it occurs again in [to, end): a forward
   * scan that stops once every such rule is found. The scans for one rule cover disjoint ranges
   * (the next one starts past the occurrence this one found), so the cost is amortized O(rules) per
   * entry, and the common case reads only the cache line the window start is on.
   */
  dropAgg(to: number): void {
    let w = this.w;
    if (to <= w) return;
    if (this.tc === T_TEMPORAL) {
      let gone = 0;
      for (; w < to; w++) gone |= 1 << this.pos(w);
      this.w = to;
      let need = gone & this.mask;
      if (need === 0) return;
      const end = this.end;
      for (let i = to; i < end && need !== 0; i++) need &= ~(1 << this.pos(i));
      this.mask &= ~need;
      return;
    }
    for (; w < to; w++) this.removeAgg(w);
    this.w = to;
  }

  /**
   * temporal_ordered: S[r*R + L-1] is the latest start time of an in-order chain of length L ending at
   * an event of rule r. Adding an event of rule r at time t extends the best chains of earlier rules;
   * returns the longest chain ending at this event whose start lies within the timespan.
   */
  private orderedStep(r: number, t: number): number {
    const S = this.arr;
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
        return this.end - this.w;
      case T_VALUE_COUNT:
        return this.dm.size;
      case T_TEMPORAL:
        return popcount(this.mask);
      case T_ORDERED:
        return this.chain;
      case T_SUM:
        return this.arr[0];
      case T_AVG:
        return this.arr[0] / (this.end - this.w);
      case T_PERCENTILE:
        return percentileOf(this.arr, this.corr.rule.percentile ?? 50);
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
    const last = this.time(this.end - 1);
    this.w = this.lowerBound(last - this.corr.rule.timespanMs);
    for (let i = this.w; i < this.end; i++) this.addAgg(i);
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
        for (let i = a; i <= b; i++) m |= 1 << this.pos(i);
        rangeMask = m;
        return popcount(m);
      }
      case T_ORDERED: {
        let m = 0;
        for (let i = a; i <= b; i++) m |= 1 << this.pos(i);
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
  for (let i = a; i <= b; i++) present |= 1 << g.pos(i);
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
    if (g.pos(i) === want) {
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
    const r = g.pos(i);
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
