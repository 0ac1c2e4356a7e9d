// Reading the HTTP receiver's NDJSON bodies: the agent's records (docs/decisions/0009-agent-wire-format.md)
// into raw records carrying their envelope (the agent's context for the line), and any other line as a
// raw record. An agent record is read by a scanner for exactly the wire format's shape, which takes the
// few fields it needs without building the record's objects; anything else it meets (another key, another
// type, null, a number that is not a plain offset, a control character) hands the line to
// safeJsonParse, so both paths accept the same lines and read the same values.

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

/**
 * The fields of one agent record, as the wire format places them; values as the JSON holds them (the
 * reader applies the same checks to both paths). One instance is reused for every line.
 */
export class AgentFields {
  message: unknown = undefined;
  /** `sigil` / `agent` were objects (either makes the line an agent record). */
  sigil = false;
  agent = false;
  path: unknown = undefined;
  offset: unknown = undefined;
  origin: unknown = undefined;
  format: unknown = undefined;
  truncated: unknown = undefined;
  host: unknown = undefined;
  agentId: unknown = undefined;
  agentType: unknown = undefined;
  agentVersion: unknown = undefined;
  created: unknown = undefined;
  service: unknown = undefined;
  input: unknown = undefined;
  tags: unknown[] | undefined = undefined;
  /** The tags array's JSON text (scanner only), to recognize a stream's unchanged tags without comparing arrays. */
  tagsText: string | undefined = undefined;

  clear(): void {
    this.message = undefined;
    this.sigil = false;
    this.agent = false;
    this.path = undefined;
    this.offset = undefined;
    this.origin = undefined;
    this.format = undefined;
    this.truncated = undefined;
    this.host = undefined;
    this.agentId = undefined;
    this.agentType = undefined;
    this.agentVersion = undefined;
    this.created = undefined;
    this.service = undefined;
    this.input = undefined;
    this.tags = undefined;
    this.tagsText = undefined;
  }

  /** Takes the fields from a record safeJsonParse read (the general path). */
  fromObject(o: JsonObject): void {
    this.clear();
    this.message = o.message;
    const sigil = obj(o.sigil);
    const agent = obj(o.agent);
    this.sigil = sigil !== undefined;
    this.agent = agent !== undefined;
    const log = obj(o.log);
    this.path = obj(log?.file)?.path;
    this.offset = log?.offset;
    this.origin = sigil?.origin;
    this.format = sigil?.format;
    this.truncated = sigil?.truncated;
    this.host = obj(o.host)?.name;
    this.agentId = agent?.id;
    this.agentType = agent?.type;
    this.agentVersion = agent?.version;
    this.created = obj(o.event)?.created;
    this.service = obj(o.service)?.name;
    this.input = obj(o.input)?.type;
    this.tags = Array.isArray(o.tags) ? o.tags : undefined;
  }
}

// Key bits of the objects the scanner reads, so a key seen twice hands the line to the general path
// (JSON.parse keeps the last of duplicate keys; the scanner does not try to).
const TOP_MESSAGE = 1;
const TOP_LOG = 2;
const TOP_EVENT = 4;
const TOP_INPUT = 8;
const TOP_HOST = 16;
const TOP_AGENT = 32;
const TOP_SERVICE = 64;
const TOP_TAGS = 128;
const TOP_SIGIL = 256;

/** Raw control characters are never valid inside JSON strings: such a line takes the general path. */
const CONTROL = /[\u0000-\u001f]/;

/**
 * Scans one line of the agent wire format into `f` without building its objects. Returns false for any
 * line outside that exact shape (the caller then parses it in full): so a line read here is valid JSON
 * and every value is what JSON.parse would give.
 */
export class AgentRecordScanner {
  private s = "";
  private i = 0;
  /** The line has a backslash somewhere: strings must be read with escapes in mind. */
  private escapes = false;
  /** Set when a string could not be read (bad escape): the line takes the general path. */
  private bad = false;

  scan(line: string, f: AgentFields): boolean {
    if (CONTROL.test(line)) return false;
    this.s = line;
    this.i = 1; // line[0] is "{"
    this.escapes = line.indexOf("\\") >= 0;
    this.bad = false;
    f.clear();
    let seen = 0;
    this.ws();
    if (this.peek() !== 34 /* " */) return false;
    for (;;) {
      const key = this.key();
      if (key < 0) return false;
      let bit = 0;
      switch (key) {
        case K_MESSAGE:
          bit = TOP_MESSAGE;
          f.message = this.string();
          break;
        case K_LOG:
          bit = TOP_LOG;
          if (!this.log(f)) return false;
          break;
        case K_EVENT:
          bit = TOP_EVENT;
          if (!this.single(K_CREATED)) return false;
          f.created = this.lastValue;
          break;
        case K_INPUT:
          bit = TOP_INPUT;
          if (!this.single(K_TYPE)) return false;
          f.input = this.lastValue;
          break;
        case K_HOST:
          bit = TOP_HOST;
          if (!this.single(K_NAME)) return false;
          f.host = this.lastValue;
          break;
        case K_SERVICE:
          bit = TOP_SERVICE;
          if (!this.single(K_NAME)) return false;
          f.service = this.lastValue;
          break;
        case K_AGENT:
          bit = TOP_AGENT;
          if (!this.agent(f)) return false;
          break;
        case K_SIGIL:
          bit = TOP_SIGIL;
          if (!this.sigil(f)) return false;
          break;
        case K_TAGS:
          bit = TOP_TAGS;
          if (!this.tags(f)) return false;
          break;
        default:
          return false;
      }
      if (this.bad || (seen & bit) !== 0) return false;
      seen |= bit;
      if (!this.next()) break;
    }
    if (!this.close()) return false;
    this.ws();
    return this.i === this.s.length && typeof f.message === "string" && (f.sigil || f.agent);
  }

  private lastValue: unknown = undefined;

  private peek(): number {
    return this.s.charCodeAt(this.i);
  }

  private ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 9 || c === 13 || c === 10) i++;
      else break;
    }
    this.i = i;
  }

  /**
   * After a member: true at "," (moved past it, onto the next key); false at anything else (left there
   * for close()), and `bad` when the comma is not followed by a key.
   */
  private next(): boolean {
    this.ws();
    if (this.peek() !== 44 /* , */) return false;
    this.i++;
    this.ws();
    if (this.peek() === 34) return true;
    this.bad = true;
    return false;
  }

  /** A key (at its opening quote) and the colon after it: the key's code, or -1 for a key not in the wire format. */
  private key(): number {
    const s = this.s;
    const start = this.i + 1;
    const end = s.indexOf('"', start);
    if (end < 0) return -1;
    const code = keyCode(s, start, end - start);
    this.i = end + 1;
    this.ws();
    if (this.peek() !== 58 /* : */) return -1;
    this.i++;
    this.ws();
    return code;
  }

  /** A string value (at its opening quote); undefined (and `bad`) when it is not one. */
  private string(): string | undefined {
    const s = this.s;
    if (s.charCodeAt(this.i) !== 34) {
      this.bad = true;
      return undefined;
    }
    const start = this.i + 1;
    let end = s.indexOf('"', start);
    if (!this.escapes) {
      if (end < 0) {
        this.bad = true;
        return undefined;
      }
      this.i = end + 1;
      return s.slice(start, end);
    }
    // a quote preceded by an odd number of backslashes is escaped
    for (;;) {
      if (end < 0) {
        this.bad = true;
        return undefined;
      }
      let k = end - 1;
      while (k >= start && s.charCodeAt(k) === 92) k--;
      if ((end - 1 - k) % 2 === 0) break;
      end = s.indexOf('"', end + 1);
    }
    this.i = end + 1;
    const bs = s.indexOf("\\", start);
    if (bs < 0 || bs > end) return s.slice(start, end);
    try {
      return JSON.parse(s.slice(start - 1, end + 1)) as string;
    } catch {
      this.bad = true;
      return undefined;
    }
  }

  /** A non-negative safe integer in JSON's spelling (anything else: -1, left to the general path). */
  private integer(): number {
    const s = this.s;
    const start = this.i;
    let i = start;
    let v = 0;
    for (;;) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    const n = i - start;
    // below 2^53 every step above was exact, so v is the number JSON.parse reads
    if (n === 0 || n > 16 || v > Number.MAX_SAFE_INTEGER || (n > 1 && s.charCodeAt(start) === 48)) return -1;
    const c = s.charCodeAt(i);
    if (c === 46 /* . */ || c === 101 /* e */ || c === 69 /* E */) return -1;
    this.i = i;
    return v;
  }

  /** `{` opening an object; false when the value is not one (or is empty, which the wire format never sends). */
  private open(): boolean {
    if (this.peek() !== 123) return false;
    this.i++;
    this.ws();
    return this.peek() === 34;
  }

  /** The end of an object after its last member. */
  private close(): boolean {
    if (this.bad || this.peek() !== 125) return false;
    this.i++;
    return true;
  }

  /** An object with exactly one string member named `want` (event.created, input.type, host.name, service.name) into lastValue. */
  private single(want: number): boolean {
    if (!this.open() || this.key() !== want) return false;
    this.lastValue = this.string();
    if (this.bad || this.next()) return false;
    return this.close();
  }

  /** log: {file: {path}, offset}. */
  private log(f: AgentFields): boolean {
    if (!this.open()) return false;
    let seen = 0;
    for (;;) {
      const key = this.key();
      if (key === K_FILE && (seen & 1) === 0) {
        seen |= 1;
        if (!this.single(K_PATH)) return false;
        f.path = this.lastValue;
      } else if (key === K_OFFSET && (seen & 2) === 0) {
        seen |= 2;
        const v = this.integer();
        if (v < 0) return false;
        f.offset = v;
      } else return false;
      if (!this.next()) break;
    }
    return this.close();
  }

  /** agent: {id, type, version}, strings. */
  private agent(f: AgentFields): boolean {
    if (!this.open()) return false;
    f.agent = true;
    let seen = 0;
    for (;;) {
      const key = this.key();
      const bit = key === K_ID ? 1 : key === K_TYPE ? 2 : key === K_VERSION ? 4 : 0;
      if (bit === 0 || (seen & bit) !== 0) return false;
      seen |= bit;
      const v = this.string();
      if (this.bad) return false;
      if (bit === 1) f.agentId = v;
      else if (bit === 2) f.agentType = v;
      else f.agentVersion = v;
      if (!this.next()) break;
    }
    return this.close();
  }

  /** sigil: {origin, format, truncated}. */
  private sigil(f: AgentFields): boolean {
    if (!this.open()) return false;
    f.sigil = true;
    let seen = 0;
    for (;;) {
      const key = this.key();
      const bit = key === K_ORIGIN ? 1 : key === K_FORMAT ? 2 : key === K_TRUNCATED ? 4 : 0;
      if (bit === 0 || (seen & bit) !== 0) return false;
      seen |= bit;
      if (bit === 4) {
        const s = this.s;
        if (s.startsWith("true", this.i)) {
          f.truncated = true;
          this.i += 4;
        } else if (s.startsWith("false", this.i)) {
          f.truncated = false;
          this.i += 5;
        } else return false;
      } else {
        const v = this.string();
        if (this.bad) return false;
        if (bit === 1) f.origin = v;
        else f.format = v;
      }
      if (!this.next()) break;
    }
    return this.close();
  }

  /** tags: an array of strings. */
  private tags(f: AgentFields): boolean {
    const start = this.i;
    if (this.peek() !== 91 /* [ */) return false;
    this.i++;
    this.ws();
    const out: string[] = [];
    if (this.peek() === 93 /* ] */) this.i++;
    else {
      for (;;) {
        const v = this.string();
        if (this.bad) return false;
        out.push(v!);
        this.ws();
        const c = this.peek();
        this.i++;
        if (c === 93) break;
        if (c !== 44) return false;
        this.ws();
      }
    }
    f.tags = out;
    f.tagsText = this.s.slice(start, this.i);
    return true;
  }
}

// The keys of the wire format, by code.
const K_MESSAGE = 0;
const K_LOG = 1;
const K_EVENT = 2;
const K_INPUT = 3;
const K_HOST = 4;
const K_AGENT = 5;
const K_SERVICE = 6;
const K_TAGS = 7;
const K_SIGIL = 8;
const K_FILE = 9;
const K_PATH = 10;
const K_OFFSET = 11;
const K_CREATED = 12;
const K_TYPE = 13;
const K_NAME = 14;
const K_ID = 15;
const K_VERSION = 16;
const K_ORIGIN = 17;
const K_FORMAT = 18;
const K_TRUNCATED = 19;
const KEYS = ["message", "log", "event", "input", "host", "agent", "service", "tags", "sigil", "file", "path", "offset", "created", "type", "name", "id", "version", "origin", "format", "truncated"];

/** The code of the key s[start, start+len), or -1 (a key spelled with escapes never matches: the general path reads it). */
function keyCode(s: string, start: number, len: number): number {
  for (let k = 0; k < KEYS.length; k++) {
    const name = KEYS[k];
    if (name.length === len && s.startsWith(name, start)) return k;
  }
  return -1;
}

/**
 * Reads an NDJSON body record by record into `sink`, and the lines it rejects into `rejections`;
 * returns the number of lines. The body is decoded once; consecutive records of one agent stream share
 * their source key and envelope, so an agent record costs a scan and a few string slices, and nothing of
 * it outlives the sink's use of it.
 */
export function readNdjson(body: Buffer, opts: NdjsonOptions, sink: RecordSink, rejections: Rejection[]): number {
  const text = body.toString("utf8");
  const maxRecord = opts.maxLineBytes * 2 + 4096;
  const scanner = new AgentRecordScanner();
  const f = new AgentFields();
  // the source key, agent object and envelope of the previous agent record, reused while they stay the same
  let lastFormat = "";
  let lastHost: string | undefined;
  let lastPath: string | undefined;
  let lastInput = "";
  let lastSource: string | null = null;
  let lastAgent = false;
  let lastAgentId: unknown;
  let lastAgentType: unknown;
  let lastAgentVersion: unknown;
  let lastAgentOut: JsonObject | undefined;
  let lastAgentOnly: Envelope | undefined;
  // the envelope of the previous record with context, and what it was made of
  let lastEnvelope: Envelope | undefined;
  let lastEnvCreated: string | undefined;
  let lastService: string | undefined;
  let lastTagsKey: string | undefined;
  let lastTruncated = false;
  let lastEnvAgent: JsonObject | undefined;
  // event.created as the agent sent it and as an ISO string (the agent sets it once per chunk it reads)
  let lastCreatedIn: string | undefined;
  let lastCreated: string | undefined;
  const rawSource = `raw\u0000${opts.peer}`;
  let pos = 0;
  let lineNo = 0;
  while (pos < text.length) {
    let nl = text.indexOf("\n", pos);
    if (nl < 0) nl = text.length;
    let end = nl;
    if (end > pos && text.charCodeAt(end - 1) === 13) end--;
    lineNo++;
    const start = pos;
    pos = nl + 1;
    if (end === start) continue;
    const line = text.slice(start, end);
    const first = line.charCodeAt(0);
    if (first !== 123 /* { */ && line.trim().length === 0) continue;
    // an agent record may be longer than the raw line it carries (JSON escaping, the envelope)
    const recordBytes = exceeds(line, maxRecord);
    if (recordBytes > 0) {
      rejections.push({ code: "line_too_long", reason: `line is ${recordBytes} bytes, longer than an NDJSON record may be for the ${opts.maxLineBytes}-byte limit (ingest.limits.max_line_bytes)`, record: { data: line.slice(0, opts.maxLineBytes), source: opts.source, line: lineNo, peer: opts.peer } });
      continue;
    }
    let agentRecord = false;
    if (first === 123) {
      if (scanner.scan(line, f)) agentRecord = true;
      else {
        let o: JsonObject | undefined;
        try {
          o = obj(safeJsonParse(line));
        } catch {
          o = undefined;
        }
        if (o !== undefined && typeof o.message === "string" && (obj(o.sigil) || obj(o.agent))) {
          f.fromObject(o);
          agentRecord = true;
        }
      }
    }
    if (agentRecord) {
      // an agent record: the raw line is in message
      const message = f.message as string;
      const origin = str(f.origin);
      const messageBytes = exceeds(message, opts.maxLineBytes);
      if (messageBytes > 0) {
        rejections.push({ code: "line_too_long", reason: `message is ${messageBytes} bytes, longer than the ${opts.maxLineBytes}-byte limit (ingest.limits.max_line_bytes)`, record: { data: message.slice(0, opts.maxLineBytes), source: opts.source, line: lineNo, peer: opts.peer, origin } });
        continue;
      }
      const path = str(f.path);
      const host = str(f.host);
      const offset = typeof f.offset === "number" && Number.isSafeInteger(f.offset) ? f.offset : undefined;
      // one shape for every agent record (fields absent are undefined), so the code that reads them stays monomorphic
      const rec: NdjsonRecord = { data: message, source: opts.source, line: lineNo, peer: opts.peer, path, offset, origin: origin !== undefined && origin.length <= 512 ? origin : undefined, host, envelope: undefined };
      let agentOut: JsonObject | undefined;
      if (f.agent) {
        if (!lastAgent || f.agentId !== lastAgentId || f.agentType !== lastAgentType || f.agentVersion !== lastAgentVersion) {
          lastAgent = true;
          lastAgentId = f.agentId;
          lastAgentType = f.agentType;
          lastAgentVersion = f.agentVersion;
          lastAgentOut = { ...(str(f.agentId) ? { id: str(f.agentId) } : {}), ...(str(f.agentType) ? { type: str(f.agentType) } : {}), ...(str(f.agentVersion) ? { version: str(f.agentVersion) } : {}), name: opts.sender };
          lastAgentOnly = { agent: lastAgentOut };
        }
        agentOut = lastAgentOut;
      }
      const createdIn = str(f.created);
      const service = str(f.service);
      const truncated = f.truncated === true;
      // tags are recognized as unchanged by their JSON text (scanned records; "" when absent)
      const tagsKey = f.tags === undefined ? "" : f.tagsText;
      if (createdIn === undefined && service === undefined && f.tags === undefined && !truncated) {
        if (agentOut) rec.envelope = lastAgentOnly;
      } else if (lastEnvelope !== undefined && createdIn === lastEnvCreated && service === lastService && tagsKey !== undefined && tagsKey === lastTagsKey && truncated === lastTruncated && agentOut === lastEnvAgent) {
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
        if (f.tags !== undefined) env.tags = f.tags.filter((t): t is string => typeof t === "string").slice(0, 32);
        if (agentOut) env.agent = agentOut;
        if (truncated) env.truncated = true;
        rec.envelope = env;
        lastEnvelope = env;
        lastEnvCreated = createdIn;
        lastService = service;
        lastTagsKey = tagsKey;
        lastTruncated = truncated;
        lastEnvAgent = agentOut;
      }
      const format = str(f.format) ?? opts.format;
      const input = str(f.input) ?? "";
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
