// Per-event field access for the compiled plan. Every field path a plan reads is resolved at compile
// time to a small integer id over a tree of path prefixes (`winlog`, `winlog.event_data`, ...); per
// event, each prefix object and each path value is looked up at most once, with stamped caches that
// are never cleared, so reading a field costs one property load and an absent field about the same.

import type { JsonValue } from "../../schema/ecs.ts";

type Obj = Record<string, unknown>;

/**
 * Path semantics (kept from the first engine, tests pin them): nested objects first; where nesting
 * stops, literal dotted keys at that level (`{"winlog.event_data": {...}}`, Filebeat-style flat
 * documents), longest first; a list on the way yields the values of every element, flattened one
 * level (kubernetes volumes, okta targets).
 */
export function slowGetter(path: string): (e: unknown) => JsonValue | undefined {
  const parts = path.split(".");
  const n = parts.length;
  // joined[i][j] = parts[i..j] joined with dots, precomputed so lookups never build strings.
  const joined: string[][] = parts.map((_, i) => parts.map((__, j) => (j >= i ? parts.slice(i, j + 1).join(".") : "")));
  const from = (o: unknown, i: number): JsonValue | undefined => {
    for (; i < n; i++) {
      if (o === null || typeof o !== "object") return undefined;
      if (Array.isArray(o)) {
        const out: JsonValue[] = [];
        for (const x of o) {
          const r = from(x, i);
          if (r === undefined) continue;
          if (Array.isArray(r)) out.push(...r);
          else out.push(r);
        }
        return out.length ? out : undefined;
      }
      const rec = o as Obj;
      const next = rec[parts[i]];
      if (next !== undefined && Object.prototype.hasOwnProperty.call(rec, parts[i])) {
        const r = from(next, i + 1);
        if (r !== undefined) return r;
      }
      // Nesting stops here: try the longest literal dotted keys at this level.
      const row = joined[i];
      for (let j = n - 1; j > i; j--) {
        const k = row[j];
        const v = rec[k];
        if (v !== undefined && Object.prototype.hasOwnProperty.call(rec, k)) {
          const r = from(v, j + 1);
          if (r !== undefined) return r;
        }
      }
      return undefined;
    }
    return o as JsonValue;
  };
  return (e) => from(e, 0);
}

/** Whether a plain property read of `k` could find something on Object.prototype. */
function inherited(k: string): boolean {
  return k in Object.prototype;
}

function hasDottedKey(o: Obj): boolean {
  for (const k in o) if (k.indexOf(".") >= 0) return true;
  return false;
}

/**
 * Field paths of one plan, and the current event. Register every path before the first event
 * (`pathId`); per event call `reset`, then `get`. Not re-entrant: one reader per plan.
 */
export class FieldReader {
  // Prefix nodes; node 0 is the event itself.
  private readonly nodeParent: number[] = [-1];
  private readonly nodeKey: string[] = [""];
  private readonly nodeSafe: boolean[] = [true];
  private readonly nodeIds = new Map<string, number>();
  // Leaf paths: the parent node and the last key.
  private readonly pathParent: number[] = [];
  private readonly pathKey: string[] = [];
  private readonly pathSafe: boolean[] = [];
  private readonly pathSlow: ((e: unknown) => JsonValue | undefined)[] = [];
  private readonly pathIds = new Map<string, number>();
  readonly paths: string[] = [];

  private event: Obj = {};
  private gen = 1;
  private objStamp = new Uint32Array(1);
  private objVal: (Obj | undefined)[] = [undefined];
  private cleanStamp = new Uint32Array(1);
  private cleanVal = new Uint8Array(1);
  private dottedStamp = new Uint32Array(1);
  private dottedVal = new Uint8Array(1);
  private valStamp = new Uint32Array(0);
  private val: (JsonValue | undefined)[] = [];

  /** The id of a dotted field path (registered on first use). */
  pathId(path: string): number {
    let id = this.pathIds.get(path);
    if (id !== undefined) return id;
    const parts = path.split(".");
    let node = 0;
    let safe = true;
    for (let i = 0; i < parts.length - 1; i++) {
      node = this.nodeId(node, parts[i]);
      if (!this.nodeSafe[node]) safe = false;
    }
    const last = parts[parts.length - 1];
    id = this.paths.length;
    this.paths.push(path);
    this.pathParent.push(node);
    this.pathKey.push(last);
    this.pathSafe.push(safe && !inherited(last));
    this.pathSlow.push(slowGetter(path));
    this.pathIds.set(path, id);
    const vs = new Uint32Array(this.paths.length);
    vs.set(this.valStamp);
    this.valStamp = vs;
    this.val.push(undefined);
    return id;
  }

  private nodeId(parent: number, key: string): number {
    const k = `${parent}\u0000${key}`;
    let id = this.nodeIds.get(k);
    if (id !== undefined) return id;
    id = this.nodeKey.length;
    this.nodeParent.push(parent);
    this.nodeKey.push(key);
    this.nodeSafe.push(this.nodeSafe[parent] && !inherited(key));
    this.nodeIds.set(k, id);
    const grow = (a: Uint32Array) => {
      const b = new Uint32Array(id! + 1);
      b.set(a);
      return b;
    };
    this.objStamp = grow(this.objStamp);
    this.cleanStamp = grow(this.cleanStamp);
    this.dottedStamp = grow(this.dottedStamp);
    const cv = new Uint8Array(id + 1);
    cv.set(this.cleanVal);
    this.cleanVal = cv;
    const dv = new Uint8Array(id + 1);
    dv.set(this.dottedVal);
    this.dottedVal = dv;
    this.objVal.push(undefined);
    return id;
  }

  /** Starts a new event: every cached value becomes stale (nothing is cleared). */
  reset(event: Obj): void {
    this.event = event;
    this.gen = (this.gen + 1) >>> 0 || 1;
  }

  get current(): Obj {
    return this.event;
  }

  /** The plain object at a prefix node, or undefined (absent, a scalar, null or a list). */
  private obj(node: number): Obj | undefined {
    if (node === 0) return this.event;
    if (this.objStamp[node] === this.gen) return this.objVal[node];
    this.objStamp[node] = this.gen;
    let r: Obj | undefined;
    const p = this.obj(this.nodeParent[node]);
    if (p !== undefined) {
      const k = this.nodeKey[node];
      const v = p[k];
      if (v !== null && typeof v === "object" && !Array.isArray(v) && (this.nodeSafe[node] || Object.prototype.hasOwnProperty.call(p, k))) r = v as Obj;
    }
    this.objVal[node] = r;
    return r;
  }

  private dotted(node: number): boolean {
    if (this.dottedStamp[node] !== this.gen) {
      this.dottedStamp[node] = this.gen;
      const o = this.obj(node);
      this.dottedVal[node] = o !== undefined && hasDottedKey(o) ? 1 : 0;
    }
    return this.dottedVal[node] === 1;
  }

  /**
   * True when a path under `node` that the nested walk did not find is absent for the slow semantics
   * too: no list on the way down to `node` and no dotted key in any object strictly above it.
   */
  private clean(node: number): boolean {
    if (node === 0) return true;
    if (this.cleanStamp[node] === this.gen) return this.cleanVal[node] === 1;
    this.cleanStamp[node] = this.gen;
    const parent = this.nodeParent[node];
    let c = this.clean(parent) && !this.dotted(parent);
    if (c) {
      const p = this.obj(parent);
      if (p !== undefined && Array.isArray(p[this.nodeKey[node]])) c = false;
    }
    this.cleanVal[node] = c ? 1 : 0;
    return c;
  }

  /** The value of a registered path in the current event (undefined when absent). */
  get(id: number): JsonValue | undefined {
    if (this.valStamp[id] === this.gen) return this.val[id];
    this.valStamp[id] = this.gen;
    const parent = this.pathParent[id];
    const o = this.obj(parent);
    let v: unknown = undefined;
    if (o !== undefined) {
      const k = this.pathKey[id];
      v = o[k];
      if (v !== undefined && !this.pathSafe[id] && !Object.prototype.hasOwnProperty.call(o, k)) v = undefined;
    }
    if (v === undefined && !this.clean(parent)) v = this.pathSlow[id](this.event);
    this.val[id] = v as JsonValue | undefined;
    return v as JsonValue | undefined;
  }

  /** The plain object at a path (e.g. `winlog.event_data`), or undefined. */
  object(id: number): Obj | undefined {
    const v = this.get(id);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined;
  }
}

/** One candidate of a slot: a field path id, or a template of literal text and path ids. */
type Candidate = number | (string | number)[];

/** A slot: a Sigma field resolved to its ordered candidate event fields (first present wins). */
export interface SlotDef {
  key: string;
  candidates: Candidate[];
}

/** Compiles a candidate list (`a.b`, or `{a}\{b}` templates) to reader path ids. */
export function slotDef(reader: FieldReader, candidates: string[]): SlotDef {
  return {
    key: candidates.join("\u0001"),
    candidates: candidates.map((c) => {
      if (!c.includes("{")) return reader.pathId(c);
      const pieces: (string | number)[] = [];
      const re = /\{([^}]+)\}|[^{]+/g;
      let m: RegExpExecArray | null;
      while ((m = re.exec(c))) pieces.push(m[1] !== undefined ? reader.pathId(m[1]) : m[0]);
      return pieces;
    }),
  };
}

/** Where keyword searches look: see keywordRoots. Paths registered once per reader. */
export interface KeywordPaths {
  eventData: number;
  userData: number;
  message: number;
}

export function keywordPaths(reader: FieldReader): KeywordPaths {
  return { eventData: reader.pathId("winlog.event_data"), userData: reader.pathId("winlog.user_data"), message: reader.pathId("message") };
}

/**
 * Per-event state of the compiled plan: slot values read once (the first present candidate) and
 * case-folded once, on demand, all stamped per event.
 */
export class EvalContext {
  event: Record<string, unknown> = {};
  private gen = 1;
  private readonly stamp: Uint32Array;
  private readonly raw: (JsonValue | undefined)[];
  private readonly str: (string | null)[];
  private readonly low: (string | null)[];
  private readonly lowStamp: Uint32Array;
  private texts: string[] | null = null;
  private textsLower: string[] | null = null;

  constructor(
    readonly reader: FieldReader,
    private readonly slots: SlotDef[],
    private readonly kw: KeywordPaths,
  ) {
    this.stamp = new Uint32Array(slots.length);
    this.lowStamp = new Uint32Array(slots.length);
    this.raw = new Array(slots.length).fill(undefined);
    this.str = new Array(slots.length).fill(null);
    this.low = new Array(slots.length).fill(null);
  }

  /** Starts an event (the reader must have been reset to the same event). */
  reset(event: Record<string, unknown>): void {
    this.event = event;
    this.gen = (this.gen + 1) >>> 0 || 1;
    this.texts = null;
    this.textsLower = null;
  }

  private read(slot: number): JsonValue | undefined {
    const cands = this.slots[slot].candidates;
    for (let i = 0; i < cands.length; i++) {
      const c = cands[i];
      const v = typeof c === "number" ? this.reader.get(c) : this.template(c);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** `{a}\{b}`: the fields joined, or undefined when one of them is absent or not a scalar. */
  private template(pieces: (string | number)[]): string | undefined {
    let out = "";
    for (let j = 0; j < pieces.length; j++) {
      const p = pieces[j];
      if (typeof p === "string") out += p;
      else {
        const x = this.reader.get(p);
        if (x === undefined || x === null || typeof x === "object") return undefined;
        out += String(x);
      }
    }
    return out;
  }

  value(slot: number): JsonValue | undefined {
    if (this.stamp[slot] !== this.gen) {
      this.stamp[slot] = this.gen;
      const v = this.read(slot);
      this.raw[slot] = v;
      this.str[slot] = v === undefined || v === null ? null : typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : null;
    }
    return this.raw[slot];
  }

  /** The scalar value as a string (numbers and booleans stringified); null for absent/null/array/object. */
  text(slot: number): string | null {
    this.value(slot);
    return this.str[slot];
  }

  /** Case-folded text(slot). */
  lower(slot: number): string | null {
    if (this.lowStamp[slot] !== this.gen) {
      this.lowStamp[slot] = this.gen;
      const s = this.text(slot);
      this.low[slot] = s === null ? null : s.toLowerCase();
    }
    return this.low[slot];
  }

  /** The values keyword searches look in (see keywordRoots), as a list (built on first use per event). */
  allTexts(): string[] {
    if (this.texts === null) {
      const out: string[] = [];
      const roots = keywordRoots(this.reader, this.kw);
      if (roots === null) collectTexts(this.event, out, 0);
      else for (const r of roots) collectTexts(r, out, 0);
      this.texts = out;
    }
    return this.texts;
  }

  allTextsLower(): string[] {
    if (this.textsLower === null) this.textsLower = this.allTexts().map((s) => s.toLowerCase());
    return this.textsLower;
  }
}

const ONE: unknown[] = [undefined];
const TWO: unknown[] = [undefined, undefined];

/**
 * The roots of the keyword haystack of the current event; null = the whole event. A Windows record's
 * content is its EventData and UserData (its ECS fields are copies of them, its winlog header is
 * metadata): keywords search those values, or the rendered message when the record has no data. Any
 * other event: every string, number and boolean in it. Returns a shared array: use before the next call.
 */
export function keywordRoots(reader: FieldReader, kw: KeywordPaths): unknown[] | null {
  const ed = reader.object(kw.eventData);
  const ud = reader.object(kw.userData);
  if (ed === undefined && ud === undefined) return null;
  const edFull = ed !== undefined && hasAnyKey(ed);
  const udFull = ud !== undefined && hasAnyKey(ud);
  if (edFull && udFull) {
    TWO[0] = ed;
    TWO[1] = ud;
    return TWO;
  }
  if (edFull || udFull) {
    ONE[0] = edFull ? ed : ud;
    return ONE;
  }
  const m = reader.get(kw.message);
  ONE[0] = typeof m === "string" ? m : undefined;
  return ONE;
}

function hasAnyKey(o: Obj): boolean {
  for (const _ in o) return true;
  return false;
}

/** Every string of a value (numbers and booleans stringified), depth and count bounded. */
export function collectTexts(v: unknown, out: string[], depth: number): void {
  if (depth > 32 || out.length > 10_000) return;
  if (typeof v === "string") out.push(v);
  else if (typeof v === "number" || typeof v === "boolean") out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) collectTexts(x, out, depth + 1);
  else if (v !== null && typeof v === "object") for (const k in v as Obj) collectTexts((v as Obj)[k], out, depth + 1);
}
