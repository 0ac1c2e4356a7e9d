// Compiles loaded rules and pipelines into an immutable plan: rules indexed by logsource (routes) and
// by the literals a match requires (prefilter), field names resolved to ECS slots, values compiled to
// closures. The per-event path reads fields once into slot caches and evaluates candidate rules only.

import { compileString, foldCase, type CompiledString } from "./glob.ts";
import { inNetwork } from "./cidr.ts";
import { GramIndex } from "./prefilter.ts";
import { logsourceContains, resolveField, type FieldTarget, type Pipeline, type Route } from "./pipeline.ts";
import { literalString, STAR, type SigmaString, type Token } from "./sigma-string.ts";
import type { CondNode } from "./condition.ts";
import type { DetectionIR, DetectionRule, EntryIR, FilterDoc, Logsource, LoadedRules, RuleMeta, TimePart, ValueIR } from "./types.ts";
import type { JsonValue } from "../../schema/ecs.ts";

/** What a match reports about its rule. */
export interface RuleInfo extends RuleMeta {
  logsource: Logsource;
  file: string;
  line: number;
}

export type Match = (ctx: EvalContext) => boolean;

interface Slot {
  id: number;
  key: string;
  get: (e: unknown) => JsonValue | undefined;
}

/** Literal requirement: the rule can only match when one of these (slot, literal) pairs occurs. */
type Req = { slot: number; lit: string }[] | null;

export interface CompiledRule {
  index: number;
  info: RuleInfo;
  match: Match;
  req: Req;
  inactive?: string;
}

const KEYWORD_SLOT = -1;
const MAX_ROUTE_CACHE = 4096;

/** Per-event state: slot caches stamped with a generation so nothing is cleared between events. */
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
    private readonly slots: Slot[],
  ) {
    this.stamp = new Uint32Array(slots.length);
    this.lowStamp = new Uint32Array(slots.length);
    this.raw = new Array(slots.length).fill(undefined);
    this.str = new Array(slots.length).fill(null);
    this.low = new Array(slots.length).fill(null);
  }

  reset(event: Record<string, unknown>): void {
    this.event = event;
    this.gen = (this.gen + 1) >>> 0 || 1;
    this.texts = null;
    this.textsLower = null;
  }

  value(slot: number): JsonValue | undefined {
    if (this.stamp[slot] !== this.gen) {
      this.stamp[slot] = this.gen;
      const v = this.slots[slot].get(this.event);
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

  /** Text the prefilter scans for a slot: the folded scalar, or folded array elements joined. */
  scanText(slot: number): string | null {
    const s = this.lower(slot);
    if (s !== null) return s;
    const v = this.raw[slot];
    if (Array.isArray(v)) return v.map((x) => (x === null || typeof x === "object" ? "" : String(x).toLowerCase())).join("\u0000");
    return null;
  }

  /** Every string in the event (event.original and message first), for keyword searches. */
  allTexts(): string[] {
    if (this.texts === null) {
      const out: string[] = [];
      collectTexts(this.event, out, 0);
      this.texts = out;
    }
    return this.texts;
  }

  allTextsLower(): string[] {
    if (this.textsLower === null) this.textsLower = this.allTexts().map((s) => s.toLowerCase());
    return this.textsLower;
  }
}

function collectTexts(v: unknown, out: string[], depth: number): void {
  if (depth > 32 || out.length > 10_000) return;
  if (typeof v === "string") out.push(v);
  else if (typeof v === "number" || typeof v === "boolean") out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) collectTexts(x, out, depth + 1);
  else if (v !== null && typeof v === "object") for (const k in v as Record<string, unknown>) collectTexts((v as Record<string, unknown>)[k], out, depth + 1);
}

/** Reads a dotted path: nested objects first, then literal dotted keys (shippers produce both). */
function makeGetter(path: string): (e: unknown) => JsonValue | undefined {
  const parts = path.split(".");
  const slow = (o: unknown, i: number): JsonValue | undefined => {
    if (i === parts.length) return o as JsonValue;
    if (Array.isArray(o)) {
      // A path through a list (kubernetes volumes, okta targets): the values of every element.
      const out: JsonValue[] = [];
      for (const x of o) {
        const r = slow(x, i);
        if (r === undefined) continue;
        if (Array.isArray(r)) out.push(...r);
        else out.push(r);
      }
      return out.length ? out : undefined;
    }
    if (o === null || typeof o !== "object") return undefined;
    const rec = o as Record<string, unknown>;
    let joined = parts[i];
    for (let j = i; j < parts.length; j++) {
      if (j > i) joined += "." + parts[j];
      if (Object.prototype.hasOwnProperty.call(rec, joined)) {
        const r = slow(rec[joined], j + 1);
        if (r !== undefined) return r;
      }
    }
    return undefined;
  };
  if (parts.length === 1) {
    const k = parts[0];
    return (e) => {
      const v = (e as Record<string, unknown>)[k];
      return v === undefined || !Object.prototype.hasOwnProperty.call(e, k) ? undefined : (v as JsonValue);
    };
  }
  return (e) => {
    let o: unknown = e;
    for (let i = 0; i < parts.length; i++) {
      if (o === null || typeof o !== "object" || Array.isArray(o)) return slow(e, 0);
      const next = (o as Record<string, unknown>)[parts[i]];
      if (next === undefined) return slow(e, 0);
      o = next;
    }
    return o as JsonValue;
  };
}

function makeTemplateGetter(tpl: string): (e: unknown) => JsonValue | undefined {
  const pieces: (string | ((e: unknown) => JsonValue | undefined))[] = [];
  const re = /\{([^}]+)\}|[^{]+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(tpl))) pieces.push(m[1] !== undefined ? makeGetter(m[1]) : m[0]);
  return (e) => {
    let out = "";
    for (const p of pieces) {
      if (typeof p === "string") out += p;
      else {
        const v = p(e);
        if (v === undefined || v === null || typeof v === "object") return undefined;
        out += String(v);
      }
    }
    return out;
  };
}

function candidateGetter(candidates: string[]): (e: unknown) => JsonValue | undefined {
  const getters = candidates.map((c) => (c.includes("{") ? makeTemplateGetter(c) : makeGetter(c)));
  if (getters.length === 1) return getters[0];
  return (e) => {
    for (const g of getters) {
      const v = g(e);
      if (v !== undefined) return v;
    }
    return undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// Value compilation

type Scalar = string | number | boolean;
/** Test of one scalar: its string form, its folded form and the raw value. */
type ScalarTest = (text: string, lower: string, raw: Scalar, ctx: EvalContext) => boolean;

interface ValuePlan {
  /** null: special (null/exists) handled by kind. */
  test: ScalarTest | null;
  kind: "scalar" | "null" | "exists-true" | "exists-false";
  req: Req;
}

const LIT_COST = (len: number) => (len >= 8 ? 0.001 : len >= 6 ? 0.005 : len >= 4 ? 0.02 : len === 3 ? 0.1 : len === 2 ? 0.5 : 1);

function reqCost(r: Req): number {
  if (r === null) return Infinity;
  let c = 0;
  for (const x of r) c += LIT_COST(x.lit.length);
  return c;
}

function reqUnion(rs: Req[]): Req {
  const out: { slot: number; lit: string }[] = [];
  for (const r of rs) {
    if (r === null) return null;
    out.push(...r);
  }
  return usable(out);
}

function reqBest(rs: Req[]): Req {
  let best: Req = null;
  let bestCost = Infinity;
  for (const r of rs) {
    const c = reqCost(r);
    if (c < bestCost) {
      best = r;
      bestCost = c;
    }
  }
  return best;
}

/** Requirements with literals shorter than 3 characters (or too costly) are not worth indexing. */
function usable(r: { slot: number; lit: string }[]): Req {
  if (r.length === 0) return null;
  for (const x of r) if (x.lit.length < 3) return null;
  return r;
}

function longest(lits: string[]): string | null {
  let best: string | null = null;
  for (const l of lits) if (best === null || l.length > best.length) best = l;
  return best;
}

function timePart(v: Scalar, part: TimePart): number | null {
  const t = typeof v === "number" ? v : Date.parse(typeof v === "string" && /^\d{4}-\d{2}-\d{2} \d/.test(v) ? v.replace(" ", "T") + (/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? "" : "Z") : String(v));
  if (!Number.isFinite(t)) return null;
  const d = new Date(t);
  switch (part) {
    case "minute":
      return d.getUTCMinutes();
    case "hour":
      return d.getUTCHours();
    case "day":
      return d.getUTCDate();
    case "month":
      return d.getUTCMonth() + 1;
    case "year":
      return d.getUTCFullYear();
    case "week": {
      // ISO-8601 week number, UTC.
      const day = (d.getUTCDay() + 6) % 7;
      const th = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3));
      const firstTh = new Date(Date.UTC(th.getUTCFullYear(), 0, 4));
      return 1 + Math.round(((th.getTime() - firstTh.getTime()) / 86400000 - 3 + ((firstTh.getUTCDay() + 6) % 7)) / 7);
    }
  }
}

function toNumber(v: Scalar): number | null {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

class Compiler {
  readonly slots: Slot[] = [];
  private readonly slotByKey = new Map<string, number>();

  constructor(private readonly pipelines: Pipeline[]) {}

  slotFor(candidates: string[]): number {
    const key = candidates.join("\u0001");
    let id = this.slotByKey.get(key);
    if (id === undefined) {
      id = this.slots.length;
      this.slots.push({ id, key, get: candidateGetter(candidates) });
      this.slotByKey.set(key, id);
    }
    return id;
  }

  target(field: string, ls: Logsource): FieldTarget {
    return resolveField(field, ls, this.pipelines);
  }

  value(v: ValueIR, slot: number, ls: Logsource, valueMap: Record<string, string> | undefined): ValuePlan {
    // Pipeline value rewrites (e.g. Initiated true → egress) apply to plain values.
    if (valueMap && (v.k === "str" || v.k === "num" || v.k === "bool")) {
      const plain = v.k === "str" ? v.plain : v.k === "num" ? v.text : String(v.b);
      if (plain !== undefined && Object.prototype.hasOwnProperty.call(valueMap, plain.toLowerCase())) v = { k: "str", alts: [literalString(valueMap[plain.toLowerCase()])], cased: false };
    }
    switch (v.k) {
      case "null":
        return { test: null, kind: "null", req: null };
      case "exists":
        return { test: null, kind: v.want ? "exists-true" : "exists-false", req: null };
      case "str": {
        const compiled: CompiledString[] = v.alts.map((a) => compileString(v.cased ? a : foldCase(a)));
        const reqs: Req[] = compiled.map((c) => {
          const l = longest(c.literals);
          return l === null ? null : [{ slot, lit: l.toLowerCase() }];
        });
        const req = compiled.length === 0 ? null : reqUnion(reqs);
        if (compiled.length === 0) return { test: () => false, kind: "scalar", req: null };
        if (compiled.length === 1) {
          const t = compiled[0].test;
          return { test: v.cased ? (text) => t(text) : (_t, lower) => t(lower), kind: "scalar", req };
        }
        const tests = compiled.map((c) => c.test);
        return {
          test: v.cased
            ? (text) => {
                for (let i = 0; i < tests.length; i++) if (tests[i](text)) return true;
                return false;
              }
            : (_t, lower) => {
                for (let i = 0; i < tests.length; i++) if (tests[i](lower)) return true;
                return false;
              },
          kind: "scalar",
          req,
        };
      }
      case "num": {
        const n = v.n;
        const t = v.text.toLowerCase();
        return { test: (_text, lower, raw) => (typeof raw === "number" ? raw === n : lower === t), kind: "scalar", req: usable([{ slot, lit: t }]) };
      }
      case "bool": {
        const b = v.b;
        const t = String(b);
        return { test: (_text, lower, raw) => (typeof raw === "boolean" ? raw === b : typeof raw === "string" && lower === t), kind: "scalar", req: usable([{ slot, lit: t }]) };
      }
      case "re": {
        const re = v.re;
        const l = longest(re.literals);
        return { test: (text) => re.test(text), kind: "scalar", req: l === null ? null : usable([{ slot, lit: l }]) };
      }
      case "cidr": {
        const net = v.net;
        return { test: (text, _l, raw) => typeof raw === "string" && inNetwork(text, net), kind: "scalar", req: null };
      }
      case "cmp": {
        const { op, n, part } = v;
        const cmp = op === "gt" ? (x: number) => x > n : op === "gte" ? (x: number) => x >= n : op === "lt" ? (x: number) => x < n : op === "lte" ? (x: number) => x <= n : (x: number) => x === n;
        return {
          test: (_t, _l, raw) => {
            const x = part ? timePart(raw, part) : toNumber(raw);
            return x !== null && cmp(x);
          },
          kind: "scalar",
          req: null,
        };
      }
      case "fieldref": {
        const other = this.slotFor(this.target(v.field, ls).candidates);
        const { shape, cased } = v;
        return {
          test: (text, lower, _raw, ctx) => {
            const o = cased ? ctx.text(other) : ctx.lower(other);
            if (o === null) return false;
            const s = cased ? text : lower;
            return shape === "eq" ? s === o : shape === "contains" ? s.includes(o) : shape === "prefix" ? s.startsWith(o) : s.endsWith(o);
          },
          kind: "scalar",
          req: null,
        };
      }
    }
  }

  entry(e: EntryIR, ls: Logsource): { match: Match; req: Req } {
    if (e.field === null) return this.keywordEntry(e);
    const target = this.target(e.field, ls);
    const slot = this.slotFor(target.candidates);
    const plans = e.values.map((v) => this.value(v, slot, ls, target.values));
    const one = (p: ValuePlan): Match => {
      switch (p.kind) {
        case "null":
          return (ctx) => {
            const v = ctx.value(slot);
            return v === undefined || v === null;
          };
        case "exists-true":
          return (ctx) => ctx.value(slot) !== undefined;
        case "exists-false":
          return (ctx) => ctx.value(slot) === undefined;
        default: {
          const test = p.test as ScalarTest;
          return (ctx) => {
            const text = ctx.text(slot);
            if (text !== null) return test(text, ctx.lower(slot) as string, ctx.value(slot) as Scalar, ctx);
            const v = ctx.value(slot);
            if (!Array.isArray(v)) return false;
            for (const x of v) {
              if (x === null || typeof x === "object") continue;
              const t = String(x);
              if (test(t, t.toLowerCase(), x, ctx)) return true;
            }
            return false;
          };
        }
      }
    };
    const matches = plans.map(one);
    let match: Match;
    if (matches.length === 1) match = matches[0];
    else if (e.all)
      match = (ctx) => {
        for (let i = 0; i < matches.length; i++) if (!matches[i](ctx)) return false;
        return true;
      };
    else
      match = (ctx) => {
        for (let i = 0; i < matches.length; i++) if (matches[i](ctx)) return true;
        return false;
      };
    let req: Req = e.all ? reqBest(plans.map((p) => p.req)) : reqUnion(plans.map((p) => p.req));
    if (e.negate) {
      const inner = match;
      match = (ctx) => !inner(ctx);
      req = null;
    }
    return { match, req };
  }

  private keywordEntry(e: EntryIR): { match: Match; req: Req } {
    const tests: { test: (s: string) => boolean; cased: boolean; re: boolean }[] = [];
    const reqs: Req[] = [];
    for (const v of e.values) {
      if (v.k === "re") {
        const re = v.re;
        tests.push({ test: (s) => re.test(s), cased: true, re: true });
        const l = longest(re.literals);
        reqs.push(l === null ? null : usable([{ slot: KEYWORD_SLOT, lit: l }]));
        continue;
      }
      const alts = v.k === "str" ? v.alts : [literalString(v.k === "num" ? v.text : v.k === "bool" ? String(v.b) : "")];
      const cased = v.k === "str" && v.cased;
      // Implicit contains: *keyword*
      const compiled = alts.map((a) => compileString(foldOr({ tokens: [STAR, ...a.tokens, STAR] }, cased)));
      tests.push({ test: (s) => compiled.some((c) => c.test(s)), cased, re: false });
      reqs.push(reqUnion(compiled.map((c) => (longest(c.literals) === null ? null : [{ slot: KEYWORD_SLOT, lit: (longest(c.literals) as string).toLowerCase() }]))));
    }
    const one = (t: (typeof tests)[number]): Match =>
      (ctx) => {
        const texts = t.cased ? ctx.allTexts() : ctx.allTextsLower();
        for (let i = 0; i < texts.length; i++) if (t.test(texts[i])) return true;
        return false;
      };
    const matches = tests.map(one);
    let match: Match = e.all ? (ctx) => matches.every((m) => m(ctx)) : (ctx) => matches.some((m) => m(ctx));
    let req = e.all ? reqBest(reqs) : reqUnion(reqs);
    if (e.negate) {
      const inner = match;
      match = (ctx) => !inner(ctx);
      req = null;
    }
    return { match, req };
  }

  detection(d: DetectionIR, ls: Logsource): { match: Match; req: Req } {
    if (d.t === "map") {
      const parts = d.entries.map((e) => this.entry(e, ls));
      const ms = parts.map((p) => p.match);
      const req = reqBest(parts.map((p) => p.req));
      if (ms.length === 1) return { match: ms[0], req };
      return {
        match: (ctx) => {
          for (let i = 0; i < ms.length; i++) if (!ms[i](ctx)) return false;
          return true;
        },
        req,
      };
    }
    const parts = d.items.map((x) => this.detection(x, ls));
    const ms = parts.map((p) => p.match);
    return {
      match: (ctx) => {
        for (let i = 0; i < ms.length; i++) if (ms[i](ctx)) return true;
        return false;
      },
      req: reqUnion(parts.map((p) => p.req)),
    };
  }

  condition(c: CondNode, ids: Map<string, { match: Match; req: Req }>): { match: Match; req: Req } {
    switch (c.t) {
      case "id":
        return ids.get(c.name) as { match: Match; req: Req };
      case "not": {
        const inner = this.condition(c.item, ids).match;
        return { match: (ctx) => !inner(ctx), req: null };
      }
      case "and":
      case "or":
      case "of": {
        const parts = c.t === "of" ? c.names.map((n) => ids.get(n) as { match: Match; req: Req }) : c.items.map((x) => this.condition(x, ids));
        const all = c.t === "and" || (c.t === "of" && c.all);
        const ms = parts.map((p) => p.match);
        if (ms.length === 1) return parts[0];
        const match: Match = all
          ? (ctx) => {
              for (let i = 0; i < ms.length; i++) if (!ms[i](ctx)) return false;
              return true;
            }
          : (ctx) => {
              for (let i = 0; i < ms.length; i++) if (ms[i](ctx)) return true;
              return false;
            };
        return { match, req: all ? reqBest(parts.map((p) => p.req)) : reqUnion(parts.map((p) => p.req)) };
      }
    }
  }

  rule(r: DetectionRule, filters: FilterDoc[]): { match: Match; req: Req } {
    const ids = new Map<string, { match: Match; req: Req }>();
    for (const [name, d] of r.identifiers) ids.set(name, this.detection(d, r.logsource));
    const conds = r.conditions.map((c) => this.condition(c, ids));
    let match: Match;
    let req: Req;
    if (conds.length === 1) ({ match, req } = conds[0]);
    else {
      const ms = conds.map((c) => c.match);
      match = (ctx) => ms.some((m) => m(ctx));
      req = reqUnion(conds.map((c) => c.req));
    }
    // Meta filters: (condition) and (filter condition), evaluated with the rule's logsource mapping.
    for (const f of filters) {
      const fids = new Map<string, { match: Match; req: Req }>();
      for (const [name, d] of f.identifiers) fids.set(name, this.detection(d, r.logsource));
      const fm = this.condition(f.condition, fids).match;
      const inner = match;
      match = (ctx) => inner(ctx) && fm(ctx);
    }
    return { match, req };
  }
}

/** `*keyword*` with doubled stars collapsed, case-folded unless `cased`. */
function foldOr(s: SigmaString, cased: boolean): SigmaString {
  const norm: Token[] = [];
  for (const t of s.tokens) if (!(t === STAR && norm[norm.length - 1] === STAR)) norm.push(t);
  return cased ? { tokens: norm } : foldCase({ tokens: norm });
}

// ---------------------------------------------------------------------------------------------
// Buckets: the rules an event of a given logsource combination can match, with their prefilter.

class Bucket {
  /** Rules without a usable literal requirement: always evaluated. */
  readonly always: Int32Array;
  readonly scans: { slot: number; index: GramIndex; litRules: Int32Array[] }[] = [];
  private readonly mark: Uint32Array;
  private stamp = 0;
  readonly candidates: Int32Array;
  ncand = 0;
  private readonly onHit: (id: number) => void;
  private curLitRules: Int32Array[] = [];

  constructor(readonly rules: CompiledRule[], totalRules: number) {
    const always: number[] = [];
    const bySlot = new Map<number, Map<string, number[]>>();
    for (const r of rules) {
      if (r.inactive) continue;
      if (r.req === null) {
        always.push(r.index);
        continue;
      }
      for (const { slot, lit } of r.req) {
        let m = bySlot.get(slot);
        if (!m) bySlot.set(slot, (m = new Map()));
        const list = m.get(lit);
        if (!list) m.set(lit, [r.index]);
        else if (list[list.length - 1] !== r.index) list.push(r.index);
      }
    }
    this.always = Int32Array.from(always);
    for (const [slot, m] of bySlot) {
      const lits = [...m.keys()];
      this.scans.push({ slot, index: new GramIndex(lits), litRules: lits.map((l) => Int32Array.from(m.get(l) as number[])) });
    }
    this.mark = new Uint32Array(totalRules);
    this.candidates = new Int32Array(rules.length);
    this.onHit = (id) => {
      const rs = this.curLitRules[id];
      for (let i = 0; i < rs.length; i++) {
        const r = rs[i];
        if (this.mark[r] !== this.stamp) {
          this.mark[r] = this.stamp;
          this.candidates[this.ncand++] = r;
        }
      }
    };
  }

  /** Fills `candidates` with the rule indices whose required literal occurs in the event. */
  prefilter(ctx: EvalContext): void {
    this.stamp = (this.stamp + 1) >>> 0 || 1;
    this.ncand = 0;
    for (const s of this.scans) {
      this.curLitRules = s.litRules;
      if (s.slot === KEYWORD_SLOT) {
        for (const t of ctx.allTextsLower()) s.index.scan(t, this.onHit);
      } else {
        const t = ctx.scanText(s.slot);
        if (t !== null) s.index.scan(t, this.onHit);
      }
    }
  }
}

export interface PlanStats {
  rules: number;
  inactive: number;
  alwaysEvaluated: number;
  slots: number;
  routes: number;
  compileMs: number;
}

export type MatchCallback = (rule: RuleInfo, event: Record<string, unknown>) => void;

/** The immutable compiled rule set. Build with buildPlan; evaluate with match(). */
export class Plan {
  private readonly routeCache = new Map<string, Bucket>();
  private readonly ctx: EvalContext;
  private readonly routeFields: { path: string; get: (e: unknown) => JsonValue | undefined }[];
  private readonly matched: number[] = [];

  constructor(
    readonly rules: CompiledRule[],
    readonly routes: Route[],
    private readonly slots: Slot[],
    readonly stats: PlanStats,
    readonly correlations: LoadedRules["correlations"],
    readonly loaded: LoadedRules,
  ) {
    this.ctx = new EvalContext(slots);
    const fields = [...new Set(routes.flatMap((r) => Object.keys(r.when)))].sort();
    this.routeFields = fields.map((p) => ({ path: p, get: makeGetter(p) }));
    Object.freeze(this.rules);
  }

  /** The Sigma logsources an event satisfies: by the pipelines' routes, plus `sigil.logsource` tags. */
  logsourcesOf(event: Record<string, unknown>): Logsource[] {
    const out: Logsource[] = [];
    for (const r of this.routes) if (routeHolds(r, event)) out.push(r.logsource);
    const tags = (event.sigil as Record<string, unknown> | undefined)?.logsource;
    if (Array.isArray(tags))
      for (const t of tags)
        if (t && typeof t === "object") {
          const o = t as Record<string, unknown>;
          const ls: Logsource = {};
          for (const k of ["category", "product", "service"] as const) if (typeof o[k] === "string") ls[k] = (o[k] as string).toLowerCase();
          out.push(ls);
        }
    return out;
  }

  private bucketFor(event: Record<string, unknown>): Bucket {
    let key = "";
    for (const f of this.routeFields) {
      key += routeKeyPart(f.get(event)) + "\u0001";
    }
    const tags = (event.sigil as Record<string, unknown> | undefined)?.logsource;
    if (tags !== undefined) key += JSON.stringify(tags);
    let b = this.routeCache.get(key);
    if (!b) {
      const lss = this.logsourcesOf(event);
      const rules = lss.length === 0 ? [] : this.rules.filter((r) => lss.some((ls) => logsourceContains(r.info.logsource, ls)));
      b = new Bucket(rules, this.rules.length);
      if (this.routeCache.size >= MAX_ROUTE_CACHE) this.routeCache.clear();
      this.routeCache.set(key, b);
    }
    return b;
  }

  /**
   * Evaluates one normalized event; calls onMatch for each matching rule in rule order. Returns the
   * number of matches. Not re-entrant (the plan owns one evaluation context).
   */
  match(event: Record<string, unknown>, onMatch: MatchCallback): number {
    const b = this.bucketFor(event);
    const ctx = this.ctx;
    ctx.reset(event);
    const rules = this.rules;
    const matched = this.matched;
    matched.length = 0;
    const always = b.always;
    for (let i = 0; i < always.length; i++) if (rules[always[i]].match(ctx)) matched.push(always[i]);
    if (b.scans.length) {
      b.prefilter(ctx);
      const c = b.candidates;
      for (let i = 0; i < b.ncand; i++) if (rules[c[i]].match(ctx)) matched.push(c[i]);
    }
    if (matched.length > 1) matched.sort((x, y) => x - y);
    for (const i of matched) onMatch(rules[i].info, event);
    return matched.length;
  }

  /** How many rules an event of this shape is routed to and how many the prefilter leaves (for explain/bench). */
  explain(event: Record<string, unknown>): { logsources: Logsource[]; routed: number; always: number; candidates: number } {
    const b = this.bucketFor(event);
    this.ctx.reset(event);
    b.prefilter(this.ctx);
    return { logsources: this.logsourcesOf(event), routed: b.rules.length, always: b.always.length, candidates: b.ncand };
  }
}

function routeHolds(r: Route, event: Record<string, unknown>): boolean {
  for (const field in r.when) {
    const v = makeGetterCached(field)(event);
    const want = r.when[field];
    if (v === undefined || v === null) return false;
    const values = Array.isArray(v) ? v : [v];
    let ok = false;
    for (const x of values) {
      if (x === null || typeof x === "object") continue;
      if ((want.length === 1 && want[0] === "*") || want.includes(String(x).toLowerCase())) ok = true;
    }
    if (!ok) return false;
  }
  return true;
}

/** Routing key part of one field value: scalars case-folded, arrays joined. */
function routeKeyPart(v: JsonValue | undefined): string {
  if (v === undefined || v === null) return "\u0002";
  if (Array.isArray(v)) return v.map((x) => (x === null || typeof x === "object" ? "" : String(x).toLowerCase())).join("\u0003");
  if (typeof v === "object") return "\u0002";
  return String(v).toLowerCase();
}

const getterCache = new Map<string, (e: unknown) => JsonValue | undefined>();
function makeGetterCached(p: string) {
  let g = getterCache.get(p);
  if (!g) getterCache.set(p, (g = makeGetter(p)));
  return g;
}

/** Compiles loaded rules with the given pipelines into a plan. */
export function buildPlan(loaded: LoadedRules, pipelines: Pipeline[]): Plan {
  const t0 = performance.now();
  const c = new Compiler(pipelines);
  const compiled: CompiledRule[] = [];
  for (const r of loaded.rules) {
    const targeted = loaded.filters.filter((f) => (f.rules === "any" || f.rules.includes(r.meta.id) || (r.meta.name !== undefined && f.rules.includes(r.meta.name))) && logsourceContains(f.logsource, r.logsource));
    const { match, req } = c.rule(r, targeted);
    compiled.push({
      index: compiled.length,
      info: Object.freeze({ ...r.meta, logsource: r.logsource, file: r.file, line: r.line }),
      match,
      req,
      inactive: r.inactiveReason,
    });
  }
  const routes = pipelines.flatMap((p) => p.routes);
  const stats: PlanStats = {
    rules: compiled.length,
    inactive: compiled.filter((r) => r.inactive).length,
    alwaysEvaluated: compiled.filter((r) => !r.inactive && r.req === null).length,
    slots: c.slots.length,
    routes: routes.length,
    compileMs: performance.now() - t0,
  };
  return new Plan(compiled, routes, c.slots, stats, loaded.correlations, loaded);
}
