// Value modifiers (SIGMA.md 4): validates a modifier chain and turns each YAML value into a ValueIR.
// Order rules follow pySigma; unknown or misplaced modifiers are errors, never ignored.

import { compileRegex, RegexError } from "./regex.ts";
import { parseNetwork } from "./cidr.ts";
import {
  expandPlaceholders,
  hasWildcards,
  parseSigmaString,
  plainText,
  windash,
  withPrefixStar,
  withSuffixStar,
  literalString,
  type SigmaString,
} from "./sigma-string.ts";
import type { CmpOp, Limits, TimePart, ValueIR } from "./types.ts";

export const MODIFIERS = new Set([
  "contains", "startswith", "endswith", "all", "windash", "base64", "base64offset", "utf16le", "wide", "utf16be",
  "utf16", "re", "i", "ignorecase", "m", "multiline", "s", "dotall", "cidr", "exists", "expand", "fieldref",
  "gt", "gte", "lt", "lte", "neq", "cased", "minute", "hour", "day", "week", "month", "year",
]);

const TIME_PARTS = new Set(["minute", "hour", "day", "week", "month", "year"]);
const CMP = new Set(["gt", "gte", "lt", "lte"]);
const REGEX_FLAGS: Record<string, "i" | "m" | "s"> = { i: "i", ignorecase: "i", m: "m", multiline: "m", s: "s", dotall: "s" };

export class ModifierError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A YAML scalar as loaded: its JS value and source text (to keep `0x10` or `1.0` as written). */
export interface RawValue {
  value: string | number | boolean | null;
  source?: string;
}

export interface ChainInfo {
  all: boolean;
  negate: boolean;
  /** A placeholder that has no configured values; the rule becomes inactive. */
  missingPlaceholders: string[];
}

/** Checks a modifier chain as a whole; throws ModifierError. */
export function checkChain(mods: string[]): ChainInfo {
  for (const m of mods) if (!MODIFIERS.has(m)) throw new ModifierError("modifier_unknown", `unknown modifier "${m}"`);
  const has = (m: string) => mods.includes(m);
  const first = mods[0];
  for (const m of ["re", "cidr", "exists"]) if (has(m) && first !== m) throw new ModifierError("modifier_bad_order", `"${m}" must be the first modifier`);
  for (const [m] of Object.entries(REGEX_FLAGS)) if (has(m) && !has("re")) throw new ModifierError("modifier_bad_order", `"${m}" is a regular-expression flag and needs "re" before it`);
  if (has("exists") && mods.some((m) => m !== "exists")) throw new ModifierError("modifier_conflict", `"exists" cannot be combined with other modifiers`);
  const counts = new Map<string, number>();
  for (const m of mods) counts.set(m, (counts.get(m) ?? 0) + 1);
  for (const [m, n] of counts) if (n > 1 && !["wide", "utf16le"].includes(m)) throw new ModifierError("modifier_conflict", `modifier "${m}" appears ${n} times`);
  const shapes = mods.filter((m) => m === "contains" || m === "startswith" || m === "endswith");
  if (shapes.length > 1) throw new ModifierError("modifier_conflict", `only one of contains/startswith/endswith may be used (found ${shapes.join(", ")})`);
  if (has("re") && mods.some((m) => !["re", "i", "ignorecase", "m", "multiline", "s", "dotall", "all", "neq", "contains", "startswith", "endswith"].includes(m)))
    throw new ModifierError("modifier_conflict", `"re" can only be combined with i, m, s, contains, startswith, endswith, all and neq`);
  if (has("cidr") && mods.some((m) => !["cidr", "all", "neq"].includes(m))) throw new ModifierError("modifier_conflict", `"cidr" can only be combined with all and neq`);
  if (has("fieldref") && mods.some((m) => !["fieldref", "contains", "startswith", "endswith", "cased", "all", "neq"].includes(m)))
    throw new ModifierError("modifier_conflict", `"fieldref" can only be combined with contains, startswith, endswith, cased, all and neq`);
  const cmp = mods.filter((m) => CMP.has(m));
  if (cmp.length > 1) throw new ModifierError("modifier_conflict", `only one of gt/gte/lt/lte may be used`);
  const parts = mods.filter((m) => TIME_PARTS.has(m));
  if (parts.length > 1) throw new ModifierError("modifier_conflict", `only one time-part modifier may be used`);
  if (cmp.length || parts.length) {
    const allowed = new Set(["gt", "gte", "lt", "lte", "minute", "hour", "day", "week", "month", "year", "all", "neq"]);
    const bad = mods.filter((m) => !allowed.has(m));
    if (bad.length) throw new ModifierError("modifier_conflict", `numeric comparison cannot be combined with ${bad.join(", ")}`);
    if (parts.length && cmp.length && mods.indexOf(parts[0]) > mods.indexOf(cmp[0])) throw new ModifierError("modifier_bad_order", `the time part ("${parts[0]}") must come before "${cmp[0]}"`);
  }
  if (has("expand") && mods.indexOf("expand") !== 0 && !(mods[0] === "re" && mods.indexOf("expand") === 1)) {
    // pySigma applies expand to the value before other transformations; accept it anywhere but document order.
  }
  return { all: has("all"), negate: has("neq"), missingPlaceholders: [] };
}

/** Applies a (checked) modifier chain to one YAML value. Throws ModifierError for malformed values. */
export function buildValue(mods: string[], raw: RawValue, limits: Limits, placeholders: Record<string, string[]>, missing: string[]): ValueIR {
  const has = (m: string) => mods.includes(m);
  const v = raw.value;
  if (has("exists")) {
    if (typeof v !== "boolean") throw new ModifierError("modifier_bad_value", `"exists" needs a YAML boolean (true or false), got ${JSON.stringify(v)}`);
    return { k: "exists", want: v };
  }
  if (v === null) {
    if (mods.some((m) => !["all", "neq"].includes(m))) throw new ModifierError("modifier_bad_value", `null cannot be used with modifiers ${mods.join("|")}`);
    return { k: "null" };
  }
  const text = typeof v === "string" ? v : typeof v === "number" ? (raw.source && /^-?\d+(\.\d+)?$/.test(raw.source) ? raw.source : String(v)) : String(v);
  if (text.length > limits.maxValueLength) throw new ModifierError("value_too_large", `value is ${text.length} characters; the limit is ${limits.maxValueLength}`);
  if (has("re")) {
    if (typeof v !== "string") throw new ModifierError("modifier_bad_value", `"re" needs a string pattern`);
    if (v.length > limits.maxRegexLength) throw new ModifierError("value_too_large", `pattern is ${v.length} characters; the limit is ${limits.maxRegexLength}`);
    let src = v;
    if (has("startswith") && !src.startsWith("^")) src = "^(?:" + src + ")";
    if (has("endswith") && !src.endsWith("$")) src = "(?:" + src + ")$";
    try {
      const re = compileRegex(src, { i: mods.some((m) => REGEX_FLAGS[m] === "i"), m: mods.some((m) => REGEX_FLAGS[m] === "m"), s: mods.some((m) => REGEX_FLAGS[m] === "s") });
      return { k: "re", re };
    } catch (err) {
      if (err instanceof RegexError) throw new ModifierError("value_bad_regex", `invalid regular expression ${JSON.stringify(v)}: ${err.message}`);
      throw err;
    }
  }
  if (has("cidr")) {
    if (typeof v !== "string") throw new ModifierError("value_bad_cidr", `"cidr" needs a network string such as 10.0.0.0/8`);
    try {
      return { k: "cidr", net: parseNetwork(v) };
    } catch (err) {
      throw new ModifierError("value_bad_cidr", `invalid network ${JSON.stringify(v)}: ${(err as Error).message}`);
    }
  }
  const cmp = mods.find((m) => CMP.has(m)) as CmpOp | undefined;
  const part = mods.find((m) => TIME_PARTS.has(m)) as TimePart | undefined;
  if (cmp || part) {
    const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : NaN;
    if (!Number.isFinite(n)) throw new ModifierError("modifier_bad_value", `"${cmp ?? part}" needs a number, got ${JSON.stringify(v)}`);
    return { k: "cmp", op: cmp ?? "eq", n, part };
  }
  if (has("fieldref")) {
    if (typeof v !== "string" || v === "" || /[*?]/.test(v)) throw new ModifierError("modifier_bad_value", `"fieldref" needs a field name without wildcards, got ${JSON.stringify(v)}`);
    const shape = has("contains") ? "contains" : has("startswith") ? "prefix" : has("endswith") ? "suffix" : "eq";
    return { k: "fieldref", field: v, shape, cased: has("cased") };
  }
  const stringMods = mods.filter((m) => !["all", "neq", "cased", "expand"].includes(m));
  if (typeof v === "number" && stringMods.length === 0) return { k: "num", n: v, text };
  if (typeof v === "boolean" && stringMods.length === 0) return { k: "bool", b: v };
  // String pipeline: expand first (it works on the raw text), then each transformation in order.
  let raws = [text];
  if (has("expand")) {
    const r = expandPlaceholders(text, placeholders, limits.maxAlternatives);
    if ("missing" in r) {
      missing.push(...r.missing);
      return { k: "str", alts: [], cased: false };
    }
    if ("error" in r) throw new ModifierError("value_too_large", r.error);
    raws = r.out;
  }
  let alts: (SigmaString | Uint8Array)[] = raws.map((x) => (typeof v === "string" || has("expand") ? parseSigmaString(x) : literalString(x)));
  for (const a of alts) if (!(a instanceof Uint8Array) && a.tokens.filter((t) => typeof t !== "string").length > limits.maxWildcardsPerValue)
    throw new ModifierError("value_too_large", `value has more than ${limits.maxWildcardsPerValue} wildcards`);
  for (const m of mods) {
    switch (m) {
      case "contains":
        alts = alts.map((a) => withSuffixStar(withPrefixStar(asString(a))));
        break;
      case "startswith":
        alts = alts.map((a) => withSuffixStar(asString(a)));
        break;
      case "endswith":
        alts = alts.map((a) => withPrefixStar(asString(a)));
        break;
      case "windash": {
        const next: SigmaString[] = [];
        for (const a of alts) {
          const r = windash(asString(a), limits.maxAlternatives);
          if ("error" in r) throw new ModifierError("value_too_large", r.error);
          next.push(...r);
        }
        alts = next;
        break;
      }
      case "base64":
        alts = alts.map((a) => literalString(Buffer.from(bytesOf(a, m)).toString("base64")));
        break;
      case "base64offset": {
        const next: SigmaString[] = [];
        for (const a of alts) next.push(...base64Offsets(bytesOf(a, m)).map(literalString));
        alts = next;
        break;
      }
      case "wide":
      case "utf16le":
        alts = alts.map((a) => Buffer.from(textOf(a, m), "utf16le"));
        break;
      case "utf16be":
        alts = alts.map((a) => swap16(Buffer.from(textOf(a, m), "utf16le")));
        break;
      case "utf16":
        alts = alts.map((a) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(textOf(a, m), "utf16le")]));
        break;
      default:
        break;
    }
    if (alts.length > limits.maxAlternatives) throw new ModifierError("value_too_large", `modifiers expand one value into more than ${limits.maxAlternatives} alternatives`);
  }
  const out = alts.map(asString);
  const plain = typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? (stringMods.length === 0 && !has("expand") ? text : undefined) : undefined;
  return { k: "str", alts: out, cased: has("cased"), plain };
}

function asString(a: SigmaString | Uint8Array): SigmaString {
  return a instanceof Uint8Array ? literalString(Buffer.from(a).toString("latin1")) : a;
}

function textOf(a: SigmaString | Uint8Array, mod: string): string {
  if (a instanceof Uint8Array) return Buffer.from(a).toString("latin1");
  if (hasWildcards(a)) throw new ModifierError("modifier_bad_value", `"${mod}" cannot encode a value with wildcards (${plainText(a)})`);
  return plainText(a);
}

function bytesOf(a: SigmaString | Uint8Array, mod: string): Uint8Array {
  if (a instanceof Uint8Array) return a;
  if (hasWildcards(a)) throw new ModifierError("modifier_bad_value", `"${mod}" cannot encode a value with wildcards (${plainText(a)})`);
  return Buffer.from(plainText(a), "utf8");
}

function swap16(b: Buffer): Buffer {
  const out = Buffer.from(b);
  out.swap16();
  return out;
}

/** pySigma's base64offset: the three encodings of a value at byte offsets 0, 1 and 2, trimmed. */
export function base64Offsets(bytes: Uint8Array): string[] {
  const out: string[] = [];
  const startCut = [0, 2, 3];
  const endCut = [0, 3, 2];
  for (let i = 0; i < 3; i++) {
    const padded = Buffer.concat([Buffer.alloc(i, 0x20), Buffer.from(bytes)]);
    const enc = padded.toString("base64");
    const cutEnd = endCut[(bytes.length + i) % 3];
    out.push(enc.slice(startCut[i], cutEnd ? enc.length - cutEnd : enc.length));
  }
  return out;
}
