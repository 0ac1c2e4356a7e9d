// Reading the HTTP receiver's NDJSON bodies: the agent's records (docs/decisions/0009-agent-wire-format.md)
// into raw records carrying their envelope (the agent's context for the line, shared by the records of a
// stream while it stays the same), and any other line as a raw record.

import type { JsonObject } from "../../schema/ecs.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import type { RawRecord, Rejection } from "../parsers/types.ts";
import { addToGroup, type Group } from "./batch.ts";

/** What the agent wraps each line in, added to the events the line becomes. Shared by the records of a stream: never mutated. */
export interface Envelope {
  created?: string;
  service?: string;
  tags?: string[];
  agent?: JsonObject;
  truncated?: boolean;
}

/** A record read from an NDJSON body: an agent record has its envelope (when it carries any context). */
export interface NdjsonRecord extends RawRecord {
  envelope?: Envelope;
}

export interface NdjsonOptions {
  source: string;
  peer: string;
  maxLineBytes: number;
  format: string;
  /** Who sent the body (the token's name): agent.name of its events. */
  sender: string;
}

/** Where readNdjson hands each record: its format and its source (for auto detection). */
export type RecordSink = (rec: NdjsonRecord, format: string, sourceKey: string) => void;

/** Lines in an NDJSON body, as readNdjson numbers them (a last line without a newline counts). */
export function countLines(body: Buffer): number {
  let n = 0;
  for (let pos = body.indexOf(10); pos >= 0; pos = body.indexOf(10, pos + 1)) n++;
  return body.length > 0 && body[body.length - 1] !== 10 ? n + 1 : n;
}

/** UTF-8 bytes of a string, computed only when its length says it could exceed `limit` (a UTF-16 unit is at most 3 bytes). */
function exceeds(s: string, limit: number): number {
  if (s.length * 3 <= limit) return -1;
  const n = Buffer.byteLength(s);
  return n > limit ? n : -1;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

function obj(v: unknown): JsonObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

/** Both absent, or the same strings in the same order (a stream's records repeat their tags). */
function sameTags(a: unknown[] | undefined, b: unknown[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What readNdjson takes from an agent record (JsonValue reads as in the wire format; absent or empty: undefined). */
export interface AgentFields {
  message: string;
  origin: string | undefined;
  path: string | undefined;
  host: string | undefined;
  offset: number | undefined;
  /** The record's agent object as parsed (shared by the records a tail cache hit reads). */
  agent: JsonObject | undefined;
  created: string | undefined;
  service: string | undefined;
  tags: unknown[] | undefined;
  truncated: boolean;
  format: string | undefined;
  input: string | undefined;
}

/** The fields of a parsed line when it is an agent record (a message string and a sigil or agent object). */
export function agentFields(o: JsonObject | undefined): AgentFields | undefined {
  if (o === undefined || typeof o.message !== "string") return undefined;
  const sigil = obj(o.sigil);
  const agent = obj(o.agent);
  if (!sigil && !agent) return undefined;
  const log = obj(o.log);
  return {
    message: o.message,
    origin: str(sigil?.origin),
    path: str(obj(log?.file)?.path),
    host: str(obj(o.host)?.name),
    offset: typeof log?.offset === "number" && Number.isSafeInteger(log.offset) ? log.offset : undefined,
    agent,
    created: str(obj(o.event)?.created),
    service: str(obj(o.service)?.name),
    tags: Array.isArray(o.tags) ? o.tags : undefined,
    truncated: sigil?.truncated === true,
    format: str(sigil?.format),
    input: str(obj(o.input)?.type),
  };
}

const MESSAGE_OPEN = '{"message":"';
const OFFSET_KEY = '"offset":';
const CREATED_KEY = '"created":"';
const ORIGIN_KEY = '"origin":"';
/** Raw control characters make a JSON string invalid (JSON.parse rejects the line). */
const CONTROL = /[\u0000-\u001f]/;

/**
 * Reads agent records (docs/decisions/0009-agent-wire-format.md) without JSON.parse when they differ
 * from the stream's record before only where records of a stream differ: the message, log.offset,
 * event.created and sigil.origin. A line whose message and tail have no backslash is cut at those
 * values; when the text around them (the tail's "skeleton") is the previous line's, every other field
 * is the previous line's, taken from its parse. Any other line is parsed in full (safeJsonParse), and
 * its skeleton is kept when each cut value is exactly what the parse read there (and its key occurs
 * once), so a hit reads what JSON.parse would. Values at a cut must be a plain JSON integer or a string
 * without escapes or control characters, else the line is parsed.
 */
export class TailCache {
  /** The remembered skeleton: the tail's text before each cut value and after the last, and each cut's kind. */
  private seg: string[] = [];
  private kinds: number[] = [];
  private fields: AgentFields | undefined;
  /** Value start and end per cut kind (offset, created, origin), filled by cut(). */
  private readonly at = new Int32Array(6);
  /** Lines read from the skeleton, and in full (tests and the benchmark look at them). */
  hits = 0;
  misses = 0;

  /** The agent fields of a line that opens with "{", or undefined when it is not an agent record (or not JSON). */
  read(line: string): AgentFields | undefined {
    const q = messageEnd(line);
    if (q > 0 && this.fields !== undefined) {
      const hit = this.match(line, q);
      if (hit !== undefined) {
        this.hits++;
        return hit;
      }
    }
    this.misses++;
    let o: JsonObject | undefined;
    try {
      o = obj(safeJsonParse(line));
    } catch {
      o = undefined;
    }
    const f = agentFields(o);
    this.remember(line, q, f);
    return f;
  }

  /**
   * A hit: the tail (from the message's closing quote at q) is the skeleton's pieces with a plain value
   * after each; the previous fields with this line's message and values. Undefined when it is not, or
   * when a value holds a control character (JSON.parse would reject the line).
   */
  private match(line: string, q: number): AgentFields | undefined {
    const seg = this.seg;
    const kinds = this.kinds;
    const prev = this.fields!;
    let offset = prev.offset;
    let created = prev.created;
    let origin = prev.origin;
    let p = q;
    for (let i = 0; i < kinds.length; i++) {
      const s = seg[i];
      if (line.substring(p, p + s.length) !== s) return undefined;
      p += s.length;
      if (kinds[i] === 1) {
        const start = p;
        let v = 0;
        for (;;) {
          const d = line.charCodeAt(p) - 48;
          if (!(d >= 0 && d <= 9)) break;
          v = v * 10 + d;
          p++;
        }
        const n = p - start;
        const c = line.charCodeAt(p);
        // a JSON integer below 2^53: every step above was exact, so v is what JSON.parse reads
        if (n === 0 || n > 15 || (n > 1 && line.charCodeAt(start) === 48) || c === 46 /* . */ || c === 101 /* e */ || c === 69 /* E */) return undefined;
        offset = v;
      } else {
        const end = line.indexOf('"', p);
        if (end < 0) return undefined;
        const v = end > p ? line.slice(p, end) : undefined;
        if (v !== undefined && CONTROL.test(v)) return undefined;
        if (kinds[i] === 2) created = v;
        else origin = v;
        p = end;
      }
    }
    const last = seg[kinds.length];
    if (line.length - p !== last.length || line.substring(p) !== last) return undefined;
    const message = messageOf(line, q);
    if (message === undefined) return undefined;
    return { message, origin, path: prev.path, host: prev.host, offset, agent: prev.agent, created, service: prev.service, tags: prev.tags, truncated: prev.truncated, format: prev.format, input: prev.input };
  }

  /**
   * Finds the cut keys in the tail (after the message's closing quote at q) into `at` (value start and
   * end; -1 when absent); false when a key occurs twice or a value is not plain.
   */
  private cut(line: string, q: number): boolean {
    const at = this.at;
    at.fill(-1);
    const o = line.indexOf(OFFSET_KEY, q);
    if (o >= 0) {
      const start = o + OFFSET_KEY.length;
      let end = start;
      for (;;) {
        const c = line.charCodeAt(end);
        if (!(c >= 48 && c <= 57)) break;
        end++;
      }
      const n = end - start;
      const c = line.charCodeAt(end);
      if (n === 0 || n > 15 || (n > 1 && line.charCodeAt(start) === 48) || c === 46 || c === 101 || c === 69) return false;
      if (line.indexOf(OFFSET_KEY, end) >= 0) return false;
      at[0] = start;
      at[1] = end;
    }
    const c = line.indexOf(CREATED_KEY, q);
    if (c >= 0) {
      const start = c + CREATED_KEY.length;
      const end = line.indexOf('"', start);
      if (end < 0 || line.indexOf(CREATED_KEY, end) >= 0) return false;
      at[2] = start;
      at[3] = end;
    }
    const g = line.indexOf(ORIGIN_KEY, q);
    if (g >= 0) {
      const start = g + ORIGIN_KEY.length;
      const end = line.indexOf('"', start);
      if (end < 0 || line.indexOf(ORIGIN_KEY, end) >= 0) return false;
      at[4] = start;
      at[5] = end;
    }
    return true;
  }

  /**
   * After a full parse: keeps the line's skeleton when the cuts sit exactly on log.offset, event.created
   * and sigil.origin (their values as the parse read them), else forgets it.
   */
  private remember(line: string, q: number, f: AgentFields | undefined): void {
    this.fields = undefined;
    // the message must be the line's first member and its only "message" key (JSON.parse keeps the last)
    if (q <= 0 || f === undefined || f.message !== messageOf(line, q) || line.indexOf('"message":', q) >= 0) return;
    if (!this.cut(line, q)) return;
    const at = this.at;
    // each cut must be the field JSON.parse read (not the same key somewhere else in the record), and a
    // field the cut keys did not find must be absent (else it could change unseen)
    if (at[0] >= 0 ? f.offset !== Number(line.slice(at[0], at[1])) : f.offset !== undefined) return;
    if (at[2] >= 0 ? f.created !== (line.slice(at[2], at[3]) || undefined) : f.created !== undefined) return;
    if (at[4] >= 0 ? f.origin !== (line.slice(at[4], at[5]) || undefined) : f.origin !== undefined) return;
    // the cuts in the order they appear: the skeleton is the text between them
    const order = [0, 2, 4].filter((k) => at[k] >= 0).sort((x, y) => at[x] - at[y]);
    const seg: string[] = [];
    let from = q;
    for (const k of order) {
      seg.push(line.slice(from, at[k]));
      from = at[k + 1];
    }
    seg.push(line.slice(from));
    // flat copies: a slice would keep this whole line alive as long as the skeleton
    this.seg = seg.map((s) => Buffer.from(s, "utf8").toString("utf8"));
    this.kinds = order.map((k) => 1 << (k / 2));
    this.fields = f;
  }
}

/**
 * Index of the quote closing the message when the line opens with it and the rest of the line (the tail)
 * has no backslash, so every quote there is a string's end; else -1.
 */
function messageEnd(line: string): number {
  if (!line.startsWith(MESSAGE_OPEN)) return -1;
  const from = MESSAGE_OPEN.length;
  const bs = line.indexOf("\\", from);
  if (bs < 0) return line.indexOf('"', from);
  // escapes in the message: a quote after an odd run of backslashes is part of it
  let q = line.indexOf('"', from);
  while (q > 0) {
    let k = q - 1;
    while (k >= from && line.charCodeAt(k) === 92) k--;
    if ((q - 1 - k) % 2 === 0) break;
    q = line.indexOf('"', q + 1);
  }
  return q > 0 && line.indexOf("\\", q) < 0 ? q : -1;
}

/** The message of a line whose message closes at q: its text, or undefined when the string is not valid JSON (JSON.parse rejects the line). */
function messageOf(line: string, q: number): string | undefined {
  const from = MESSAGE_OPEN.length;
  const bs = line.indexOf("\\", from);
  if (bs < 0 || bs > q) {
    const m = line.slice(from, q);
    return CONTROL.test(m) ? undefined : m;
  }
  try {
    return JSON.parse(line.slice(from - 1, q + 1)) as string;
  } catch {
    return undefined;
  }
}

/**
 * Reads an NDJSON body record by record into `sink`, and the lines it rejects into `rejections`;
 * returns the number of lines. Consecutive records of one agent stream share
 * their source key and envelope, so an agent record costs one JSON.parse and a few field reads, and
 * nothing of it outlives the sink's use of it.
 */
export function readNdjson(body: Buffer, opts: NdjsonOptions, sink: RecordSink, rejections: Rejection[]): number {
  const maxRecord = opts.maxLineBytes * 2 + 4096;
  // the source key, agent object and envelope of the previous agent record, reused while they stay the same
  let lastFormat = "";
  let lastHost: string | undefined;
  let lastPath: string | undefined;
  let lastInput = "";
  let lastSource: string | null = null;
  let lastAgentIn: JsonObject | undefined;
  let lastAgentOut: JsonObject | undefined;
  let lastAgentOnly: Envelope | undefined;
  // the envelope of the previous record with context, and what it was made of
  let lastEnvelope: Envelope | undefined;
  let lastEnvCreated: string | undefined;
  let lastService: string | undefined;
  let lastTags: unknown[] | undefined;
  let lastTruncated = false;
  let lastEnvAgent: JsonObject | undefined;
  // event.created as the agent sent it and as an ISO string (the agent sets it once per chunk it reads)
  let lastCreatedIn: string | undefined;
  let lastCreated: string | undefined;
  const rawSource = `raw\u0000${opts.peer}`;
  const tails = new TailCache();
  let pos = 0;
  let lineNo = 0;
  while (pos < body.length) {
    let nl = body.indexOf(10, pos);
    if (nl < 0) nl = body.length;
    let end = nl;
    if (end > pos && body[end - 1] === 13) end--;
    lineNo++;
    const start = pos;
    pos = nl + 1;
    if (end === start) continue;
    // each line decoded on its own (a newline byte is never inside a UTF-8 sequence, so the text is the
    // same as the whole body's): a body-sized string would outlive a garbage collection in the middle of
    // the request and be promoted, and every string cut from it would keep it alive
    const line = body.toString("utf8", start, end);
    const first = line.charCodeAt(0);
    if (first !== 123 /* { */ && line.trim().length === 0) continue;
    // an agent record may be longer than the raw line it carries (JSON escaping, the envelope)
    const recordBytes = exceeds(line, maxRecord);
    if (recordBytes > 0) {
      rejections.push({ code: "line_too_long", reason: `line is ${recordBytes} bytes, longer than an NDJSON record may be for the ${opts.maxLineBytes}-byte limit (ingest.limits.max_line_bytes)`, record: { data: line.slice(0, opts.maxLineBytes), source: opts.source, line: lineNo, peer: opts.peer } });
      continue;
    }
    // an agent record: from the tail cache when only its message, offset, created and origin differ
    // from the stream's record before (no JSON.parse), else parsed in full
    let a: AgentFields | undefined;
    if (first === 123) a = tails.read(line);
    if (a !== undefined) {
      // an agent record: the raw line is in message
      const message = a.message;
      const origin = a.origin;
      const messageBytes = exceeds(message, opts.maxLineBytes);
      if (messageBytes > 0) {
        rejections.push({ code: "line_too_long", reason: `message is ${messageBytes} bytes, longer than the ${opts.maxLineBytes}-byte limit (ingest.limits.max_line_bytes)`, record: { data: message.slice(0, opts.maxLineBytes), source: opts.source, line: lineNo, peer: opts.peer, origin } });
        continue;
      }
      const path = a.path;
      const host = a.host;
      const offset = a.offset;
      // one shape for every agent record (fields absent are undefined), so the code that reads them stays monomorphic
      const rec: NdjsonRecord = { data: message, source: opts.source, line: lineNo, peer: opts.peer, path, offset, origin: origin !== undefined && origin.length <= 512 ? origin : undefined, host, envelope: undefined };
      let agentOut: JsonObject | undefined;
      const agent = a.agent;
      if (agent) {
        if (lastAgentIn === undefined || agent.id !== lastAgentIn.id || agent.type !== lastAgentIn.type || agent.version !== lastAgentIn.version) {
          lastAgentIn = agent;
          lastAgentOut = { ...(str(agent.id) ? { id: str(agent.id) } : {}), ...(str(agent.type) ? { type: str(agent.type) } : {}), ...(str(agent.version) ? { version: str(agent.version) } : {}), name: opts.sender };
          lastAgentOnly = { agent: lastAgentOut };
        }
        agentOut = lastAgentOut;
      }
      const createdIn = a.created;
      const service = a.service;
      const tags = a.tags;
      const truncated = a.truncated;
      if (createdIn === undefined && service === undefined && tags === undefined && !truncated) {
        if (agentOut) rec.envelope = lastAgentOnly;
      } else if (lastEnvelope !== undefined && createdIn === lastEnvCreated && service === lastService && sameTags(tags, lastTags) && truncated === lastTruncated && agentOut === lastEnvAgent) {
        // the same context as the record before
        rec.envelope = lastEnvelope;
      } else {
        const env: Envelope = {};
        if (createdIn !== undefined) {
          if (createdIn !== lastCreatedIn) {
            lastCreatedIn = createdIn;
            const ms = Date.parse(createdIn);
            lastCreated = Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
          }
          if (lastCreated !== undefined) env.created = lastCreated;
        }
        if (service) env.service = service;
        if (tags !== undefined) env.tags = tags.filter((t): t is string => typeof t === "string").slice(0, 32);
        if (agentOut) env.agent = agentOut;
        if (truncated) env.truncated = true;
        rec.envelope = env;
        lastEnvelope = env;
        lastEnvCreated = createdIn;
        lastService = service;
        lastTags = tags;
        lastTruncated = truncated;
        lastEnvAgent = agentOut;
      }
      const format = a.format ?? opts.format;
      const input = a.input ?? "";
      if (lastSource === null || format !== lastFormat || host !== lastHost || path !== lastPath || input !== lastInput) {
        lastSource = `${host ?? opts.peer}\u0000${path ?? ""}\u0000${input}`;
        lastFormat = format;
        lastHost = host;
        lastPath = path;
        lastInput = input;
      }
      sink(rec, format, lastSource);
    } else if (exceeds(line, opts.maxLineBytes) > 0) {
      rejections.push({ code: "line_too_long", reason: `line is ${Buffer.byteLength(line)} bytes, longer than the ${opts.maxLineBytes}-byte limit (ingest.limits.max_line_bytes)`, record: { data: line.slice(0, opts.maxLineBytes), source: opts.source, line: lineNo, peer: opts.peer } });
    } else {
      // a raw record: a JSON document of a known shape, or a plain text line
      sink({ data: line, source: opts.source, line: lineNo, peer: opts.peer }, opts.format, rawSource);
    }
  }
  return lineNo;
}

export interface ParsedNdjson {
  groups: Map<string, Group>;
  rejections: Rejection[];
  lines: number;
}

/** Splits an NDJSON body into records grouped by format (each agent record with its envelope), and the lines it rejects. */
export function parseNdjson(body: Buffer, opts: NdjsonOptions): ParsedNdjson {
  const groups = new Map<string, Group>();
  const rejections: Rejection[] = [];
  let last: Group | null = null;
  let lastFormat = "";
  let lastSource = "";
  const lines = readNdjson(
    body,
    opts,
    (rec, format, sourceKey) => {
      if (last !== null && format === lastFormat && sourceKey === lastSource) last.records.push(rec);
      else {
        last = addToGroup(groups, rec, format, sourceKey);
        lastFormat = format;
        lastSource = sourceKey;
      }
    },
    rejections,
  );
  return { groups, rejections, lines };
}
