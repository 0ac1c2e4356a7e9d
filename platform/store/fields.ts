// What both stores agree on about documents: the typed field catalog (ECS and Sigil's own records),
// document canonicalization (dotted keys expanded, unsafe keys renamed, limits), free-text tokens,
// case folding and date parsing. The same functions feed SQLite and Elasticsearch, so a query means
// the same thing on both.

import type { JsonObject, JsonValue } from "../../schema/ecs.ts";
import { isUnsafeKey, safeKeyName } from "../../schema/fields.ts";
import type { Collection } from "./types.ts";

export type FieldType = "keyword" | "text" | "date" | "ip" | "long" | "double" | "boolean";

/** Values longer than this (characters) are kept and free-text searchable, but not matched by field queries. */
export const MAX_KEYWORD_CHARS = 8191;
/** Free text indexed per document (UTF-16 units of token text); the document itself is always kept whole. */
export const MAX_TEXT_CHARS = 1 << 20;
/** Tokens longer than this are split (what Lucene's standard tokenizer does too). */
export const MAX_TOKEN_CHARS = 255;
/** Object nesting a document may have. */
export const MAX_DEPTH = 32;
/** Ids longer than this many UTF-8 bytes are rejected (Elasticsearch's _id limit). */
export const MAX_ID_BYTES = 512;

const COMMON: Record<string, FieldType> = {
  "@timestamp": "date",
  "event.id": "keyword",
  "event.kind": "keyword",
  "event.category": "keyword",
  "event.type": "keyword",
  "event.outcome": "keyword",
  "event.action": "keyword",
  "event.dataset": "keyword",
  "event.module": "keyword",
  "event.provider": "keyword",
  "event.code": "keyword",
  "event.original": "text",
  "event.created": "date",
  "event.ingested": "date",
  "event.start": "date",
  "event.end": "date",
  "event.duration": "long",
  "event.severity": "long",
  "event.risk_score": "double",
  "event.sequence": "long",
  "event.timezone": "keyword",
  message: "text",
  tags: "keyword",
  "host.name": "keyword",
  "host.hostname": "keyword",
  "host.id": "keyword",
  "host.ip": "ip",
  "host.mac": "keyword",
  "host.domain": "keyword",
  "host.os.family": "keyword",
  "host.os.name": "keyword",
  "host.os.platform": "keyword",
  "user.name": "keyword",
  "user.id": "keyword",
  "user.domain": "keyword",
  "user.email": "keyword",
  "user.roles": "keyword",
  "service.name": "keyword",
  "service.type": "keyword",
  "service.version": "keyword",
  "service.environment": "keyword",
  "process.pid": "long",
  "process.name": "keyword",
  "process.executable": "keyword",
  "process.command_line": "text",
  "process.args": "keyword",
  "process.entity_id": "keyword",
  "process.working_directory": "keyword",
  "process.hash.sha256": "keyword",
  "process.hash.md5": "keyword",
  "process.parent.pid": "long",
  "process.parent.name": "keyword",
  "process.parent.executable": "keyword",
  "process.parent.command_line": "text",
  "process.parent.entity_id": "keyword",
  "process.user.name": "keyword",
  "file.path": "keyword",
  "file.name": "keyword",
  "file.extension": "keyword",
  "file.directory": "keyword",
  "file.size": "long",
  "file.hash.sha256": "keyword",
  "file.hash.md5": "keyword",
  "registry.path": "keyword",
  "registry.key": "keyword",
  "registry.value": "keyword",
  "network.protocol": "keyword",
  "network.transport": "keyword",
  "network.direction": "keyword",
  "network.bytes": "long",
  "network.packets": "long",
  "network.community_id": "keyword",
  "url.original": "keyword",
  "url.full": "keyword",
  "url.domain": "keyword",
  "url.path": "keyword",
  "url.query": "keyword",
  "url.scheme": "keyword",
  "http.request.method": "keyword",
  "http.request.bytes": "long",
  "http.response.status_code": "long",
  "http.response.bytes": "long",
  "user_agent.original": "keyword",
  "dns.question.name": "keyword",
  "dns.question.type": "keyword",
  "dns.response_code": "keyword",
  "trace.id": "keyword",
  "span.id": "keyword",
  "transaction.id": "keyword",
  "parent.id": "keyword",
  "cloud.provider": "keyword",
  "cloud.region": "keyword",
  "cloud.account.id": "keyword",
  "orchestrator.namespace": "keyword",
  "related.ip": "ip",
  "related.user": "keyword",
  "related.hosts": "keyword",
  "related.hash": "keyword",
  "log.level": "keyword",
  "log.offset": "long",
  "log.file.path": "keyword",
  "observer.name": "keyword",
  "observer.ip": "ip",
  "agent.name": "keyword",
  "agent.id": "keyword",
  "rule.id": "keyword",
  "rule.name": "keyword",
  "rule.title": "keyword",
  "rule.level": "keyword",
  "rule.author": "keyword",
  "rule.tags": "keyword",
  "rule.description": "text",
  "threat.framework": "keyword",
  "threat.tactic.name": "keyword",
  "threat.tactic.id": "keyword",
  "threat.technique.id": "keyword",
  "threat.technique.name": "keyword",
  "error.message": "text",
  "error.code": "keyword",
  id: "keyword",
};
for (const ns of ["source", "destination", "client", "server"]) {
  COMMON[`${ns}.ip`] = "ip";
  COMMON[`${ns}.port`] = "long";
  COMMON[`${ns}.address`] = "keyword";
  COMMON[`${ns}.domain`] = "keyword";
  COMMON[`${ns}.bytes`] = "long";
  COMMON[`${ns}.packets`] = "long";
  COMMON[`${ns}.user.name`] = "keyword";
  COMMON[`${ns}.nat.ip`] = "ip";
  COMMON[`${ns}.geo.country_iso_code`] = "keyword";
}

const PER_COLLECTION: Record<Collection, Record<string, FieldType>> = {
  events: {},
  signals: {
    "signal.type": "keyword",
    "signal.key": "keyword",
    "signal.events.id": "keyword",
    "signal.events.@timestamp": "date",
    "signal.events.dataset": "keyword",
    "signal.correlation.type": "keyword",
    "signal.correlation.value": "double",
    "signal.correlation.first_seen": "date",
    "signal.correlation.last_seen": "date",
    "signal.anomaly.metric": "keyword",
    "signal.anomaly.score": "double",
    "signal.anomaly.observed": "double",
    "signal.anomaly.interval_start": "date",
  },
  alerts: {
    updated: "date",
    version: "long",
    title: "text",
    level: "keyword",
    risk_score: "double",
    status: "keyword",
    close_reason: "keyword",
    assignee: "keyword",
    "notes.id": "keyword",
    "notes.author": "keyword",
    "notes.at": "date",
    "notes.text": "text",
    chain_id: "keyword",
    rule_ids: "keyword",
    tactics: "keyword",
    techniques: "keyword",
    "entities.users": "keyword",
    "entities.hosts": "keyword",
    "entities.ips": "keyword",
    "entities.services": "keyword",
    first_seen: "date",
    last_seen: "date",
    signal_count: "long",
    duplicate_count: "long",
  },
  chains: {
    version: "long",
    score: "double",
    tactics: "keyword",
    techniques: "keyword",
    "entities.users": "keyword",
    "entities.hosts": "keyword",
    "entities.ips": "keyword",
    "entities.services": "keyword",
    "entities.processes": "keyword",
    first_seen: "date",
    last_seen: "date",
    "steps.signal_id": "keyword",
    "steps.@timestamp": "date",
    "steps.rule.id": "keyword",
    "steps.tactic": "keyword",
    "steps.technique": "keyword",
    "steps.host": "keyword",
    "steps.user": "keyword",
    "links.from": "keyword",
    "links.to": "keyword",
    "links.entity.type": "keyword",
    "links.entity.value": "keyword",
  },
  audit: { actor: "keyword", action: "keyword", target: "keyword", outcome: "keyword", source_ip: "ip" },
  // `host` is the host name a config fingerprint was recorded on (platform/security/audit.ts), not ECS host.*
  state: { kind: "keyword", user: "keyword", host: "keyword", expires_at: "date", last_seen: "date", created: "date", updated: "date" },
  users: { name: "keyword", role: "keyword", created: "date", last_sign_in: "date", disabled: "boolean" },
  tokens: { name: "keyword", scope: "keyword", created: "date", revoked: "boolean", revoked_at: "date", expires_at: "date" },
};

const CATALOG = new Map<Collection, ReadonlyMap<string, FieldType>>();
for (const c of Object.keys(PER_COLLECTION) as Collection[]) {
  const own = PER_COLLECTION[c];
  const ownNames = Object.keys(own);
  // a collection's own field wins over common ones it would clash with (state's `user` and `host` are names, not objects)
  const clashes = (f: string) => ownNames.some((o) => f.startsWith(o + ".") || o.startsWith(f + "."));
  const common = Object.entries(COMMON).filter(([f]) => !(f in own) && !clashes(f));
  CATALOG.set(c, new Map([...common, ...Object.entries(own)]));
}

/** The catalog's type of a field in a collection, or undefined for fields mapped dynamically. */
export function fieldType(collection: Collection, field: string): FieldType | undefined {
  return CATALOG.get(collection)!.get(field);
}

/** Every catalogued field of a collection with its type (for index templates). */
export function catalogFields(collection: Collection): ReadonlyMap<string, FieldType> {
  return CATALOG.get(collection)!;
}

/** The field that holds a document's id: `event.id` for events and signals, `id` elsewhere. */
export function idField(collection: Collection): string {
  return collection === "events" || collection === "signals" ? "event.id" : "id";
}

/** Collections whose documents never change once written (insert-or-ignore). */
export function isImmutable(collection: Collection): boolean {
  return collection === "events" || collection === "signals";
}

// ---------------------------------------------------------------------------------------------
// Canonical documents

/** Why a document cannot be stored: a stable code and a sentence. */
export interface DocProblem {
  code: "doc_invalid" | "doc_too_large" | "doc_too_deep" | "doc_field_conflict" | "doc_no_id" | "doc_bad_timestamp";
  reason: string;
}

export interface CanonicalDoc {
  doc: JsonObject;
  id: string;
  /** @timestamp as epoch ms, or null when absent (only allowed outside events and signals). */
  ts: number | null;
  /** The document as JSON text (what is stored). */
  json: string;
  /** Paths (dotted) that hold an array, with true when it holds objects ("signal.events" → true, "tags" → false). */
  arrays: Map<string, boolean> | null;
}

/**
 * Brings a document to the one shape both stores keep: literal dotted keys expanded into objects
 * (`{"a.b":1}` → `{"a":{"b":1}}`, what Elasticsearch does for search), prototype-polluting keys
 * renamed (`__proto__` → `_proto_`), empty key segments named `_empty_`, `undefined` dropped.
 * Returns a problem instead of throwing when the document cannot be stored.
 */
export function canonicalize(collection: Collection, input: unknown, maxDocBytes: number): CanonicalDoc | DocProblem {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return { code: "doc_invalid", reason: "a document must be a JSON object" };
  const ctx: WalkCtx = { arrays: null, problem: null };
  const doc = canonObject(input as Record<string, unknown>, "", 1, ctx);
  if (ctx.problem) return ctx.problem;
  const idf = idField(collection);
  const id = idf === "id" ? doc["id"] : (doc["event"] as JsonObject | undefined)?.["id"];
  if (typeof id !== "string" || id.length === 0) return { code: "doc_no_id", reason: `the document has no string ${idf}` };
  if (Buffer.byteLength(id) > MAX_ID_BYTES) return { code: "doc_invalid", reason: `${idf} is longer than ${MAX_ID_BYTES} bytes` };
  let ts: number | null = null;
  const rawTs = doc["@timestamp"];
  if (rawTs !== undefined && rawTs !== null) {
    const t = parseDate(rawTs);
    if (t === null) return { code: "doc_bad_timestamp", reason: `@timestamp ${truncate(String(rawTs))} is not an ISO 8601 time or epoch milliseconds` };
    ts = t;
  } else if (isImmutable(collection)) {
    return { code: "doc_bad_timestamp", reason: `${collection} need an @timestamp` };
  }
  const json = JSON.stringify(doc);
  if (json.length > maxDocBytes || (json.length * 3 > maxDocBytes && Buffer.byteLength(json) > maxDocBytes)) {
    return { code: "doc_too_large", reason: `the document is larger than ${maxDocBytes} bytes` };
  }
  return { doc, id, ts, json, arrays: ctx.arrays };
}

interface WalkCtx {
  arrays: Map<string, boolean> | null;
  problem: DocProblem | null;
}

function truncate(s: string, n = 64): string {
  return s.length > n ? s.slice(0, n) + "…" : s;
}

/**
 * Top-level names Elasticsearch reserves for metadata (a document holding one is refused there), and
 * the derived free-text field: stored under the name with a trailing underscore instead, by both stores.
 */
const RESERVED_TOP = new Set(["_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term", "_ignored", "_ignored_source", "_field_names", "_doc_count", "_tier", "_data_stream_timestamp", "_feature", "_nested_path", "_tsid", "_size", "sigil_fts"]);

/** Key segment as stored: unsafe names renamed, blank segments named. */
function safeSegment(k: string): string {
  if (isBlank(k)) return "_empty_";
  return isUnsafeKey(k) ? safeKeyName(k) : k;
}

function canonObject(o: Record<string, unknown>, path: string, depth: number, ctx: WalkCtx): JsonObject {
  if (depth > MAX_DEPTH) {
    ctx.problem ??= { code: "doc_too_deep", reason: `objects nest deeper than ${MAX_DEPTH} levels at ${truncate(path)}` };
    return {};
  }
  // Copy-on-write: most documents need no change, so only rebuild when a key or value must change.
  let out: JsonObject | null = null;
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const v = o[k];
    const needsKeyFix = (depth === 1 && RESERVED_TOP.has(k)) || k.includes(".") || isUnsafeKey(k) || isBlank(k);
    // scalars need no path (the common case: no string is built per key)
    const cv = v !== null && typeof v === "object" ? canonValue(v, path ? `${path}.${k}` : k, depth, ctx) : canonScalar(v);
    if (!out && (needsKeyFix || cv !== v || v === undefined)) {
      out = Object.create(null) as JsonObject;
      for (let j = 0; j < i; j++) out[keys[j]] = o[keys[j]] as JsonValue;
    }
    if (!out) continue;
    if (cv === undefined) continue;
    if (!needsKeyFix) {
      mergeInto(out, k, cv, path, ctx);
      continue;
    }
    const segs = k.split(".").map(safeSegment);
    if (depth === 1 && RESERVED_TOP.has(segs[0])) segs[0] += "_";
    let cur = out;
    for (let s = 0; s < segs.length - 1; s++) {
      const seg = segs[s];
      const existing = cur[seg];
      if (existing === undefined) {
        const created = Object.create(null) as JsonObject;
        cur[seg] = created;
        cur = created;
      } else if (existing !== null && typeof existing === "object" && !Array.isArray(existing)) {
        cur = existing as JsonObject;
      } else {
        ctx.problem ??= { code: "doc_field_conflict", reason: `field ${truncate(path ? `${path}.${k}` : k)} is both a value and an object` };
        return {};
      }
    }
    mergeInto(cur, segs[segs.length - 1], cv, path, ctx);
  }
  if (!out) return o as JsonObject;
  return toPlain(out);
}

/** Objects built with a null prototype during the rebuild become plain objects again (same key order). */
function toPlain(o: JsonObject): JsonObject {
  const p: JsonObject = {};
  for (const k of Object.keys(o)) {
    const v = o[k];
    Object.defineProperty(p, k, { value: v !== null && typeof v === "object" && !Array.isArray(v) && Object.getPrototypeOf(v) === null ? toPlain(v as JsonObject) : v, enumerable: true, writable: true, configurable: true });
  }
  return p;
}

function mergeInto(target: JsonObject, key: string, value: JsonValue, path: string, ctx: WalkCtx): void {
  const existing = target[key];
  if (existing === undefined) {
    target[key] = value;
    return;
  }
  const isObj = (x: unknown) => x !== null && typeof x === "object" && !Array.isArray(x);
  if (isObj(existing) && isObj(value)) {
    for (const k of Object.keys(value as JsonObject)) mergeInto(existing as JsonObject, k, (value as JsonObject)[k] as JsonValue, path ? `${path}.${key}` : key, ctx);
    return;
  }
  ctx.problem ??= { code: "doc_field_conflict", reason: `field ${truncate(path ? `${path}.${key}` : key)} is given twice (as a dotted key and a nested one)` };
}

function isBlank(k: string): boolean {
  if (k.length === 0) return true;
  const c = k.charCodeAt(0);
  return (c <= 32 || c >= 0x80) && k.trim() === "";
}

function canonScalar(v: unknown): JsonValue | undefined {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) ? v : null;
    case "bigint":
      return v.toString();
    default:
      return v === null ? null : undefined;
  }
}

function canonValue(v: unknown, path: string, depth: number, ctx: WalkCtx): JsonValue | undefined {
  if (v === null) return null;
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) ? v : null;
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    case "bigint":
      return v.toString();
    case "object":
      break;
  }
  if (Array.isArray(v)) {
    let out: JsonValue[] | null = null;
    let sawObject = false;
    for (let i = 0; i < v.length; i++) {
      const e = v[i];
      let ce: JsonValue | undefined;
      if (e !== null && typeof e === "object" && !Array.isArray(e)) {
        sawObject = true;
        ce = canonObject(e as Record<string, unknown>, path, depth + 1, ctx);
      } else if (Array.isArray(e)) {
        ce = canonValue(e, path, depth + 1, ctx);
      } else {
        ce = canonValue(e, path, depth, ctx);
      }
      if (ce === undefined) ce = null;
      if (!out && ce !== e) out = v.slice(0, i) as JsonValue[];
      if (out) out.push(ce);
    }
    const key = path.includes(".") || isUnsafeKey(path) ? path.split(".").map(safeSegment).join(".") : path;
    const arrays = (ctx.arrays ??= new Map());
    if (sawObject || !arrays.has(key)) arrays.set(key, sawObject || arrays.get(key) === true);
    return out ?? (v as JsonValue[]);
  }
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.toISOString() : null;
  return canonObject(v as Record<string, unknown>, path, depth + 1, ctx);
}

// ---------------------------------------------------------------------------------------------
// Free text

const NON_ASCII = /[^\x00-\x7f]/;
const SEPARATORS_ASCII = /[^a-z0-9]+/g;
const SEPARATORS_UNICODE = /[^\p{L}\p{N}\p{M}]+/gu;
/** Scripts whose characters are words of their own (what Unicode word segmentation does for them). */
const IDEOGRAPHS = /([\p{sc=Han}\p{sc=Hiragana}])/gu;

/** Whether a token text holds a token longer than MAX_TOKEN_CHARS: one pass (a regex for it restarts at every position). */
function hasLongToken(t: string): boolean {
  let run = 0;
  for (let i = 0; i < t.length; i++) {
    if (t.charCodeAt(i) === 32) run = 0;
    else if (++run > MAX_TOKEN_CHARS) return true;
  }
  return false;
}

/**
 * The free-text tokens of one string, lowercased and joined by single spaces: runs of letters,
 * digits and marks; Han and Hiragana characters are one token each; tokens longer than 255 are
 * split. Both stores index exactly this text, and queries are tokenized by the same function.
 */
export function tokenText(s: string): string {
  let t: string;
  if (!NON_ASCII.test(s)) {
    t = s.toLowerCase().replace(SEPARATORS_ASCII, " ");
  } else {
    t = foldCase(s).replace(IDEOGRAPHS, " $1 ").replace(SEPARATORS_UNICODE, " ");
  }
  if (t.charCodeAt(0) === 32 || t.charCodeAt(t.length - 1) === 32) t = t.trim();
  if (t.length > MAX_TOKEN_CHARS && hasLongToken(t)) t = t.split(" ").map(splitLong).join(" ");
  return t;
}

function splitLong(tok: string): string {
  if (tok.length <= MAX_TOKEN_CHARS) return tok;
  const parts: string[] = [];
  for (let i = 0; i < tok.length; i += MAX_TOKEN_CHARS) parts.push(tok.slice(i, i + MAX_TOKEN_CHARS));
  return parts.join(" ");
}

/** Tokens of a string (see tokenText). */
export function tokens(s: string): string[] {
  const t = tokenText(s);
  return t ? t.split(" ") : [];
}

/**
 * The free text of a whole document: the tokens of every string and number value (except
 * @timestamp), one entry per value, in document order, bounded by MAX_TEXT_CHARS in all. Stores keep values apart so that a
 * phrase never spans two values (SQLite: a filler token between them; Elasticsearch: the position
 * gap between array elements). A value whose tokens appear, in order and whole, in the tokens of the
 * event's `event.original` is left out: every word, prefix and phrase it could match is matched there
 * already, and the parsed fields of a log line mostly repeat its words (an sshd line's message, user,
 * IP and port), which the stores would otherwise index two or three times.
 */
export function documentText(doc: JsonObject): string[] {
  const ctx: TextContext = { out: [], left: MAX_TEXT_CHARS, original: null, within: null };
  const original = (doc["event"] as JsonObject | undefined)?.["original"];
  if (typeof original === "string" && original.length <= MAX_DEDUP_ORIGINAL_CHARS) {
    // the original first (the order of values does not matter to any query), then what it lacks
    pushText(tokenText(original), ctx);
    if (ctx.out.length === 1) {
      ctx.original = original;
      ctx.within = ` ${ctx.out[0]} `;
    }
  }
  // @timestamp is left out: its digits would make every number a match; search time with ranges
  for (const k of Object.keys(doc)) if (k !== "@timestamp") collectText(doc[k], ctx);
  return ctx.out;
}

/**
 * Longer originals (a Windows event's whole JSON) are indexed with every value: the search for each
 * value in them would cost more than indexing the words again saves.
 */
const MAX_DEDUP_ORIGINAL_CHARS = 2048;

interface TextContext {
  out: string[];
  left: number;
  /** event.original (already collected), or null. */
  original: string | null;
  /** The tokens of event.original between spaces, or null. */
  within: string | null;
}

/** An ASCII letter or digit, or any non-ASCII code unit (which may be one: the check stays on the safe side). */
function wordCode(c: number): boolean {
  return c >= 0x80 || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
}

/**
 * Whether `v` stands in `original` as it is, cut at token boundaries on both sides: then its tokens are
 * tokens of the original, in order (tokenText works per code point), without tokenizing it. The usual
 * case for a parsed field (a log line's message, user, address, port); false sends the value the
 * slower, exact way (its tokens searched in the original's).
 */
function standsIn(v: string, original: string): boolean {
  const p = original.indexOf(v);
  if (p < 0) return false;
  const e = p + v.length;
  return (p === 0 || !wordCode(original.charCodeAt(p - 1)) || !wordCode(v.charCodeAt(0))) && (e === original.length || !wordCode(original.charCodeAt(e)) || !wordCode(v.charCodeAt(v.length - 1)));
}

/** Separates values in the embedded store's free-text column; the tokenizer never produces it from a query. */
export const VALUE_GAP = " \u2063 ";

function pushText(t: string, ctx: TextContext): void {
  if (!t) return;
  if (ctx.within !== null && ctx.within.includes(` ${t} `)) return;
  ctx.out.push(t);
  ctx.left -= t.length + 1;
}

function collectText(v: JsonValue | undefined, ctx: TextContext): void {
  if (ctx.left <= 0 || v === undefined || v === null) return;
  if (typeof v === "string") {
    if (v.length !== 0 && (ctx.original === null || !standsIn(v, ctx.original))) pushText(tokenText(v.length > ctx.left ? v.slice(0, ctx.left) : v), ctx);
    return;
  }
  if (typeof v === "number") {
    const n = String(v);
    if (ctx.original === null || !standsIn(n, ctx.original)) pushText(tokenText(n), ctx);
    return;
  }
  if (typeof v === "boolean") return;
  if (Array.isArray(v)) {
    for (const e of v) collectText(e, ctx);
    return;
  }
  for (const k of Object.keys(v)) collectText(v[k], ctx);
}

// ---------------------------------------------------------------------------------------------
// Case folding and dates

/** Case folding for free text, per code point: context-free, one code point in, one code point out. */
export function foldCase(s: string): string {
  if (!NON_ASCII.test(s)) return s.toLowerCase();
  let out = "";
  for (const ch of s) {
    const l = ch.toLowerCase();
    // toLowerCase may yield two code points (U+0130 → i + combining dot): keep the first, like Java's Character.toLowerCase.
    out += l.length === ch.length ? l : String.fromCodePoint(l.codePointAt(0)!);
  }
  return out;
}

/**
 * Case folding for field values: ASCII letters only (A-Z → a-z), what SQLite's lower() and
 * Elasticsearch's case_insensitive term and wildcard queries do. Free text folds every script.
 */
export function foldAscii(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

export function isAscii(s: string): boolean {
  return !NON_ASCII.test(s);
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Epoch milliseconds of a date value: an ISO 8601 string (date, or date and time with optional
 * fraction and offset; no offset means UTC) or epoch milliseconds as a number or digit string.
 * Null when the value is not a time.
 */
export function parseDate(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? Math.trunc(v) : null;
  if (typeof v !== "string" || v.length > 64) return null;
  if (/^-?\d{1,15}$/.test(v)) return Number(v);
  const m = ISO_RE.exec(v);
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return null;
  let t = Date.UTC(Number(y), month - 1, day, Number(h), Number(mi), Number(s), Number((frac + "00").slice(0, 3)));
  if (new Date(t).getUTCDate() !== day) return null;
  if (zone && zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const z = zone.slice(1).replace(":", "");
    t -= sign * (Number(z.slice(0, 2)) * 60 + Number(z.slice(2, 4))) * 60_000;
  }
  return Number.isFinite(t) ? t : null;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, M: 30 * 86_400_000, y: 365 * 86_400_000 };

/**
 * A range bound on a date field: a date (see parseDate) or `now`, `now-15m`, `now+1h`, `now-7d`
 * (units s m h d w M y; M is 30 days, y 365). Null when it is neither.
 */
export function parseDateBound(v: string | number, now: number): number | null {
  if (typeof v === "number") return parseDate(v);
  const m = /^now(?:([+-])(\d{1,9})([smhdwMy]))?$/.exec(v);
  if (m) return m[1] ? now + (m[1] === "-" ? -1 : 1) * Number(m[2]) * UNITS[m[3]] : now;
  return parseDate(v);
}
