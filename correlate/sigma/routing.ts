// Log-source routing of the compiled plan: which pipeline routes (Sigma logsources) an event
// satisfies. Decided once per distinct combination of route-field values and memoized in two levels:
// the routes' first ("anchor") fields (channel, dataset, module ...), then only the other fields the
// routes those anchors select still test (event code, registry event type ...). Bounded.

import type { JsonValue } from "../../schema/ecs.ts";
import type { FieldReader } from "./fields.ts";
import type { Route } from "./pipeline.ts";

/** Memo entries (both levels) before the memo starts over. */
const MAX_MEMO = 4096;

/** A set of satisfied routes (ascending route indices), shared by every event that satisfies it. */
export interface RouteSet {
  ids: number[];
  key: string;
  /** Whatever the plan attaches (its bucket of rules). */
  bucket: unknown;
}

interface Level1 {
  fields: number[];
  next: Map<unknown, unknown> | RouteSet | null;
}

const OBJECT = Symbol("object");
const EMPTY = Symbol("empty-list");

/**
 * A value as a memo key: scalars as they are; a one-element list of a scalar as that scalar (routes
 * treat both alike); other lists joined (rare); objects as one marker (routes ignore them).
 */
function memoKey(v: JsonValue | undefined): unknown {
  if (v === null || typeof v !== "object") return v;
  if (!Array.isArray(v)) return OBJECT;
  if (v.length === 0) return EMPTY;
  if (v.length === 1 && (typeof v[0] === "string" || typeof v[0] === "number" || typeof v[0] === "boolean")) return v[0];
  let s = "\u0002";
  for (const x of v) s += (x === null || typeof x === "object" ? "\u0003" : typeof x + ":" + String(x)) + "\u0001";
  return s;
}

/** Case-folded values of the route fields of the current event, each read once per event. */
class RouteFields {
  readonly paths: number[] = [];
  private readonly index = new Map<string, number>();
  private stamp = new Uint32Array(0);
  private vals: (string | string[] | null)[] = [];
  private gen = 1;

  constructor(readonly reader: FieldReader) {}

  idOf(field: string): number {
    let i = this.index.get(field);
    if (i === undefined) {
      i = this.paths.length;
      this.paths.push(this.reader.pathId(field));
      this.index.set(field, i);
      this.stamp = new Uint32Array(this.paths.length);
      this.vals = new Array(this.paths.length).fill(null);
    }
    return i;
  }

  reset(): void {
    this.gen = (this.gen + 1) >>> 0 || 1;
  }

  /** The field's value case-folded: a string, a list of strings (arrays), or null when absent. */
  get(i: number): string | string[] | null {
    if (this.stamp[i] !== this.gen) {
      this.stamp[i] = this.gen;
      const v = this.reader.get(this.paths[i]);
      this.vals[i] =
        v === undefined || v === null || (typeof v === "object" && !Array.isArray(v))
          ? null
          : Array.isArray(v)
            ? v.filter((x) => x !== null && typeof x !== "object").map((x) => String(x).toLowerCase())
            : String(v).toLowerCase();
    }
    return this.vals[i];
  }
}

type RouteTest = (f: RouteFields) => boolean;

/** A route's `when` as one closure: every field holds one of its values (case-insensitive). */
function compileRoute(r: Route, fields: RouteFields): RouteTest {
  const conds = Object.entries(r.when).map(([field, want]) => ({ id: fields.idOf(field), any: want.length === 1 && want[0] === "*", set: new Set(want) }));
  return (f) => {
    for (let i = 0; i < conds.length; i++) {
      const c = conds[i];
      const v = f.get(c.id);
      if (v === null) return false;
      if (c.any) continue;
      if (typeof v === "string") {
        if (!c.set.has(v)) return false;
      } else if (!v.some((x) => c.set.has(x))) return false;
    }
    return true;
  };
}

export class Router {
  private readonly fields: RouteFields;
  private readonly tests: RouteTest[];
  /** Routes grouped by their first `when` field (anchor) and its values ("*": any present value). */
  private readonly anchors: { field: number; byValue: Map<string, number[]>; any: number[] }[];
  /** Per route: the route-field ids of its other `when` fields. */
  private readonly rest: number[][];
  private readonly anchorIsField: boolean[];
  private readonly hits: number[] = [];
  private memo = new Map<unknown, unknown>();
  private single: Level1 | null = null;
  private sets = new Map<string, RouteSet>();
  private size = 0;

  constructor(
    readonly routes: Route[],
    reader: FieldReader,
  ) {
    this.fields = new RouteFields(reader);
    const byField = new Map<number, { field: number; byValue: Map<string, number[]>; any: number[] }>();
    routes.forEach((r, i) => {
      const field = this.fields.idOf(Object.keys(r.when)[0]);
      let a = byField.get(field);
      if (!a) byField.set(field, (a = { field, byValue: new Map(), any: [] }));
      for (const v of r.when[Object.keys(r.when)[0]]) {
        if (v === "*") a.any.push(i);
        else {
          const list = a.byValue.get(v);
          if (list) list.push(i);
          else a.byValue.set(v, [i]);
        }
      }
    });
    this.anchors = [...byField.values()];
    this.anchorIsField = [];
    for (const a of this.anchors) this.anchorIsField[a.field] = true;
    this.rest = routes.map((r) => Object.keys(r.when).slice(1).map((f) => this.fields.idOf(f)));
    this.tests = routes.map((r) => compileRoute(r, this.fields));
  }

  /** Indices of the routes the current event (the reader's) satisfies, ascending; a shared array. */
  routesOf(): number[] {
    const hits = this.hits;
    hits.length = 0;
    const f = this.fields;
    f.reset();
    for (const a of this.anchors) {
      const v = f.get(a.field);
      if (v === null) continue;
      if (a.any.length) for (const i of a.any) if (this.tests[i](f) && !hits.includes(i)) hits.push(i);
      if (typeof v === "string") this.check(a.byValue.get(v), hits);
      else for (const x of v) this.check(a.byValue.get(x), hits);
    }
    if (hits.length > 1) hits.sort((x, y) => x - y);
    return hits;
  }

  private check(list: number[] | undefined, hits: number[]): void {
    if (list === undefined) return;
    for (const i of list) if (this.tests[i](this.fields) && !hits.includes(i)) hits.push(i);
  }

  /** The route set of the current event, memoized by the values of the fields that decide it. */
  lookup(): RouteSet {
    if (this.size > MAX_MEMO) {
      this.memo = new Map();
      this.single = null;
      this.sets = new Map();
      this.size = 0;
    }
    const reader = this.fields.reader;
    const paths = this.fields.paths;
    let l1: Level1;
    if (this.anchors.length === 0) l1 = this.single ??= { fields: [], next: null };
    else {
      let m = this.memo;
      const last = this.anchors.length - 1;
      for (let i = 0; i < last; i++) {
        const k = memoKey(reader.get(paths[this.anchors[i].field]));
        let c = m.get(k) as Map<unknown, unknown> | undefined;
        if (c === undefined) m.set(k, (c = new Map()));
        m = c;
      }
      const k = memoKey(reader.get(paths[this.anchors[last].field]));
      let leaf = m.get(k) as Level1 | undefined;
      if (leaf === undefined) {
        leaf = this.level1();
        m.set(k, leaf);
        this.size++;
      }
      l1 = leaf;
    }
    const fs = l1.fields;
    if (fs.length === 0) {
      if (l1.next === null) l1.next = this.intern();
      return l1.next as RouteSet;
    }
    if (l1.next === null) l1.next = new Map();
    let m = l1.next as Map<unknown, unknown>;
    const last = fs.length - 1;
    for (let i = 0; i < last; i++) {
      const k = memoKey(reader.get(paths[fs[i]]));
      let c = m.get(k) as Map<unknown, unknown> | undefined;
      if (c === undefined) m.set(k, (c = new Map()));
      m = c;
    }
    const k = memoKey(reader.get(paths[fs[last]]));
    let set = m.get(k) as RouteSet | undefined;
    if (set === undefined) {
      set = this.intern();
      m.set(k, set);
      this.size++;
    }
    return set;
  }

  /** Level 1 for the current event: the non-anchor fields of the routes whose anchor it satisfies. */
  private level1(): Level1 {
    const f = this.fields;
    f.reset();
    const need = new Set<number>();
    const add = (i: number) => {
      for (const x of this.rest[i]) if (!this.anchorIsField[x]) need.add(x);
    };
    for (const a of this.anchors) {
      const v = f.get(a.field);
      if (v === null) continue;
      a.any.forEach(add);
      for (const x of typeof v === "string" ? [v] : v) a.byValue.get(x)?.forEach(add);
    }
    return { fields: [...need].sort((x, y) => x - y), next: null };
  }

  private intern(): RouteSet {
    const ids = this.routesOf();
    const key = ids.join(",");
    let s = this.sets.get(key);
    if (s === undefined) this.sets.set(key, (s = { ids: [...ids], key, bucket: null }));
    return s;
  }
}
