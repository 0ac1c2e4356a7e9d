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
    let o: JsonObject | undefined;
    if (first === 123) {
      try {
        o = obj(safeJsonParse(line));
      } catch {
        o = undefined;
      }
    }
    const sigil = o !== undefined ? obj(o.sigil) : undefined;
    const agent = o !== undefined ? obj(o.agent) : undefined;
    if (o !== undefined && typeof o.message === "string" && (sigil || agent)) {
      // an agent record: the raw line is in message
      const message = o.message;
      const origin = str(sigil?.origin);
      const messageBytes = exceeds(message, opts.maxLineBytes);
      if (messageBytes > 0) {
        rejections.push({ code: "line_too_long", reason: `message is ${messageBytes} bytes, longer than the ${opts.maxLineBytes}-byte limit (ingest.limits.max_line_bytes)`, record: { data: message.slice(0, opts.maxLineBytes), source: opts.source, line: lineNo, peer: opts.peer, origin } });
        continue;
      }
      const log = obj(o.log);
      const path = str(obj(log?.file)?.path);
      const host = str(obj(o.host)?.name);
      const offset = typeof log?.offset === "number" && Number.isSafeInteger(log.offset) ? log.offset : undefined;
      // one shape for every agent record (fields absent are undefined), so the code that reads them stays monomorphic
      const rec: NdjsonRecord = { data: message, source: opts.source, line: lineNo, peer: opts.peer, path, offset, origin: origin !== undefined && origin.length <= 512 ? origin : undefined, host, envelope: undefined };
      let agentOut: JsonObject | undefined;
      if (agent) {
        if (lastAgentIn === undefined || agent.id !== lastAgentIn.id || agent.type !== lastAgentIn.type || agent.version !== lastAgentIn.version) {
          lastAgentIn = agent;
          lastAgentOut = { ...(str(agent.id) ? { id: str(agent.id) } : {}), ...(str(agent.type) ? { type: str(agent.type) } : {}), ...(str(agent.version) ? { version: str(agent.version) } : {}), name: opts.sender };
          lastAgentOnly = { agent: lastAgentOut };
        }
        agentOut = lastAgentOut;
      }
      const createdIn = str(obj(o.event)?.created);
      const service = str(obj(o.service)?.name);
      const tags = Array.isArray(o.tags) ? o.tags : undefined;
      const truncated = sigil?.truncated === true;
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
      const format = str(sigil?.format) ?? opts.format;
      const input = str(obj(o.input)?.type) ?? "";
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
