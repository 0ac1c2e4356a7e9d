// The HTTP NDJSON bulk receiver: POST /v1/ingest with one JSON object per line (the agent's records,
// docs/decisions/0009-agent-wire-format.md, or raw JSON records such as CloudTrail or ECS events; plain
// text lines are accepted too). Token required, gzip accepted, body and line limits, batch id and time
// checked against replays, 429 with Retry-After when the bus pushes back. Answers only after the bus
// accepted the events and dead letters of the batch.

import type http from "node:http";
import type { EcsEvent, JsonObject } from "../../schema/ecs.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import type { TokenVerifier } from "../../platform/security/types.ts";
import type { RateLimiter, ReplayGuard } from "../../platform/security/limits.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import type { IngestConfig } from "../../platform/config/sections/ingest.ts";
import { SigilError } from "../../platform/errors.ts";
import { recordOfEvent } from "../parsers/common/event.ts";
import type { ParseContext, RawRecord, Rejection } from "../parsers/types.ts";
import { deadLetter } from "../dead-letter.ts";
import type { Publisher } from "../publisher.ts";
import { FormatCache, GroupNormalizer, addToGroup, type Group } from "./batch.ts";
import { Gate, HttpError, authenticate, rateLimit, readBody, sendJson, startHttpListener, type Listener } from "./server.ts";

export interface HttpReceiverDeps {
  config: IngestConfig;
  verifier: TokenVerifier;
  replay: ReplayGuard;
  limiter?: RateLimiter;
  publisher: Publisher;
  ctx: ParseContext;
  log: Logger;
}

/** What the agent wraps each line in (docs/decisions/0009-agent-wire-format.md). */
interface Envelope {
  created?: string;
  service?: string;
  tags?: string[];
  agent?: JsonObject;
  truncated?: boolean;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

function obj(v: unknown): JsonObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

/** Adds the envelope's context to an event the record became (the agent object is shared: events are serialized, never mutated, after this). */
function applyEnvelope(e: EcsEvent, env: Envelope): void {
  if (env.created && !e.event.created) e.event.created = env.created;
  if (env.service && !e.service?.name) e.service = { ...(e.service ?? {}), name: env.service };
  if (env.agent) e.agent = env.agent;
  if (env.tags === undefined && !env.truncated) return;
  const tags = env.truncated ? [...(env.tags ?? []), "truncated"] : env.tags!;
  const own = Array.isArray(e.tags) ? e.tags : [];
  e.tags = [...own, ...tags.filter((t) => !own.includes(t))];
}

export interface NdjsonOptions {
  source: string;
  peer: string;
  maxLineBytes: number;
  format: string;
  sender: string;
}

export interface ParsedNdjson {
  groups: Map<string, Group>;
  envelopes: Map<RawRecord, Envelope>;
  rejections: Rejection[];
  lines: number;
}

/** UTF-8 bytes of a string, computed only when its length says it could exceed `limit` (a UTF-16 unit is at most 3 bytes). */
function exceeds(s: string, limit: number): number {
  if (s.length * 3 <= limit) return -1;
  const n = Buffer.byteLength(s);
  return n > limit ? n : -1;
}

/** Where readNdjson hands each record: its format, its source (for auto detection) and its envelope. */
export type RecordSink = (rec: RawRecord, format: string, sourceKey: string, env: Envelope | undefined) => void;

/** Lines in an NDJSON body, as readNdjson numbers them (a last line without a newline counts). */
export function countLines(body: Buffer): number {
  let n = 0;
  for (let pos = body.indexOf(10); pos >= 0; pos = body.indexOf(10, pos + 1)) n++;
  return body.length > 0 && body[body.length - 1] !== 10 ? n + 1 : n;
}

/**
 * Reads an NDJSON body record by record into `sink`, and the lines it rejects into `rejections`;
 * returns the number of lines. The body is decoded once; consecutive records of one agent stream share
 * their source key and envelope, so a record costs one JSON.parse and a few field reads, and nothing of
 * it outlives the sink's use of it.
 */
export function readNdjson(body: Buffer, opts: NdjsonOptions, sink: RecordSink, rejections: Rejection[]): number {
  const text = body.toString("utf8");
  const maxRecord = opts.maxLineBytes * 2 + 4096;
  // the group and envelope of the previous agent record, reused while the stream stays the same
  let lastFormat = "";
  let lastHost: string | undefined;
  let lastPath: string | undefined;
  let lastInput = "";
  let lastSource: string | null = null;
  let lastAgentIn: JsonObject | undefined;
  let lastAgentOut: JsonObject | undefined;
  let lastAgentOnly: Envelope | undefined;
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
      const messageBytes = exceeds(message, opts.maxLineBytes);
      if (messageBytes > 0) {
        rejections.push({ code: "line_too_long", reason: `message is ${messageBytes} bytes, longer than the ${opts.maxLineBytes}-byte limit (ingest.limits.max_line_bytes)`, record: { data: message.slice(0, opts.maxLineBytes), source: opts.source, line: lineNo, peer: opts.peer, origin: str(sigil?.origin) } });
        continue;
      }
      const log = obj(o.log);
      const file = obj(log?.file);
      const rec: RawRecord = { data: message, source: opts.source, line: lineNo, peer: opts.peer };
      const path = str(file?.path);
      if (path) rec.path = path;
      if (typeof log?.offset === "number" && Number.isSafeInteger(log.offset)) rec.offset = log.offset;
      const origin = str(sigil?.origin);
      if (origin && origin.length <= 512) rec.origin = origin;
      const host = str(obj(o.host)?.name);
      if (host) rec.host = host;
      let agentOut: JsonObject | undefined;
      if (agent) {
        if (lastAgentIn === undefined || agent.id !== lastAgentIn.id || agent.type !== lastAgentIn.type || agent.version !== lastAgentIn.version) {
          lastAgentIn = agent;
          lastAgentOut = { ...(str(agent.id) ? { id: str(agent.id) } : {}), ...(str(agent.type) ? { type: str(agent.type) } : {}), ...(str(agent.version) ? { version: str(agent.version) } : {}), name: opts.sender };
          lastAgentOnly = { agent: lastAgentOut };
        }
        agentOut = lastAgentOut;
      }
      const created = str(obj(o.event)?.created);
      const service = str(obj(o.service)?.name);
      const truncated = sigil?.truncated === true;
      let envelope: Envelope | undefined;
      if (created === undefined && service === undefined && !Array.isArray(o.tags) && !truncated) {
        if (agentOut) envelope = lastAgentOnly!;
      } else {
        const env: Envelope = {};
        if (created && !Number.isNaN(Date.parse(created))) env.created = new Date(Date.parse(created)).toISOString();
        if (service) env.service = service;
        if (Array.isArray(o.tags)) env.tags = o.tags.filter((t): t is string => typeof t === "string").slice(0, 32);
        if (agentOut) env.agent = agentOut;
        if (truncated) env.truncated = true;
        envelope = env;
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
      sink(rec, format, lastSource, envelope);
    } else if (exceeds(line, opts.maxLineBytes) > 0) {
      rejections.push({ code: "line_too_long", reason: `line is ${Buffer.byteLength(line)} bytes, longer than the ${opts.maxLineBytes}-byte limit (ingest.limits.max_line_bytes)`, record: { data: line.slice(0, opts.maxLineBytes), source: opts.source, line: lineNo, peer: opts.peer } });
    } else {
      // a raw record: a JSON document of a known shape, or a plain text line
      sink({ data: line, source: opts.source, line: lineNo, peer: opts.peer }, opts.format, rawSource, undefined);
    }
  }
  return lineNo;
}

/** Splits an NDJSON body into records grouped by format, with the envelopes and the lines it rejects. */
export function parseNdjson(body: Buffer, opts: NdjsonOptions): ParsedNdjson {
  const groups = new Map<string, Group>();
  const envelopes = new Map<RawRecord, Envelope>();
  const rejections: Rejection[] = [];
  let last: Group | null = null;
  let lastFormat = "";
  let lastSource = "";
  const lines = readNdjson(
    body,
    opts,
    (rec, format, sourceKey, env) => {
      if (env) envelopes.set(rec, env);
      if (last !== null && format === lastFormat && sourceKey === lastSource) last.records.push(rec);
      else {
        last = addToGroup(groups, rec, format, sourceKey);
        lastFormat = format;
        lastSource = sourceKey;
      }
    },
    rejections,
  );
  return { groups, envelopes, rejections, lines };
}

export async function startHttpReceiver(deps: HttpReceiverDeps): Promise<Listener> {
  const cfg = deps.config;
  const gate = new Gate(cfg.limits.max_inflight_requests);
  const cache = new FormatCache();
  return startHttpListener({ name: "http", host: cfg.http.host, port: cfg.http.port, tls: cfg.http.tls, log: deps.log }, async (req, res, path) => {
    if (path !== "/v1/ingest") throw new HttpError(404, "not_found", "no such route; POST NDJSON to /v1/ingest");
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST", { allow: "POST" });
    if (!gate.enter()) {
      req.resume();
      throw new HttpError(429, "too_many_requests", `more than ${cfg.limits.max_inflight_requests} requests in progress; retry shortly`, { "retry-after": "1" });
    }
    try {
      await handle(req, res);
    } finally {
      gate.leave();
    }
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const token = await authenticate(req, deps.verifier, "ingest");
    const batchId = req.headers["x-sigil-batch-id"];
    const batchTime = req.headers["x-sigil-batch-time"];
    const verdict = deps.replay.check(typeof batchId === "string" ? batchId : undefined, typeof batchTime === "string" ? batchTime : undefined);
    if (!verdict.ok) {
      req.resume();
      if (verdict.code === "batch_duplicate") throw new HttpError(409, verdict.code, verdict.reason);
      throw new HttpError(400, verdict.code === "batch_bad_header" ? "batch_bad_header" : "batch_time_out_of_window", `${verdict.reason} (send X-Sigil-Batch-Id and X-Sigil-Batch-Time: epoch milliseconds)`);
    }
    const query = new URL(req.url ?? "/", "http://x").searchParams;
    const format = query.get("format") ?? "auto";
    if (format !== "auto" && !/^[a-z0-9-]{1,64}$/.test(format)) throw new HttpError(400, "bad_format", "the format query parameter must be a format name or auto");
    const body = await readBody(req, cfg.limits.max_body_bytes);
    const peer = req.socket.remoteAddress ?? "unknown";
    const lines = countLines(body);
    rateLimit(deps.limiter, token, lines);
    if (!deps.publisher.tryReserve(lines)) {
      throw new HttpError(429, "backpressure", "the bus is behind; retry later", { "retry-after": "1" });
    }
    try {
      const accepted = await normalizeAndPublish(body, { source: `http ${peer}`, peer, maxLineBytes: cfg.limits.max_line_bytes, format, sender: token.name });
      deps.replay.accept(String(batchId), Number(/^\d+$/.test(String(batchTime)) ? batchTime : Date.parse(String(batchTime))));
      sendJson(res, 200, { accepted: lines, events: accepted.events, rejected: accepted.rejected });
    } finally {
      deps.publisher.release(lines);
    }
  }

  /**
   * Reads, normalizes and serializes a body record by record (a record's envelope objects and its event
   * die as soon as its bytes are in the batch, so the collector copies little), then publishes it;
   * resolves with the counts once the bus accepted it.
   */
  function normalizeAndPublish(body: Buffer, opts: NdjsonOptions): Promise<{ events: number; rejected: number }> {
    const batch = deps.publisher.batch("http");
    const envelopes = new Map<RawRecord, Envelope>();
    const readRejections: Rejection[] = [];
    const rejected: Rejection[] = [];
    const gn = new GroupNormalizer(deps.ctx, cache, {
      event(e) {
        const rec = recordOfEvent.get(e);
        const env = rec ? envelopes.get(rec) : undefined;
        if (env) applyEnvelope(e, env);
        batch.add(e);
      },
      reject: (r) => rejected.push(r),
    });
    readNdjson(
      body,
      opts,
      (rec, format, sourceKey, env) => {
        if (env) envelopes.set(rec, env);
        gn.push(rec, format, sourceKey);
      },
      readRejections,
    );
    gn.finish();
    if (batch.size > cfg.limits.max_events_per_batch) {
      throw new HttpError(413, "too_many_events", `the batch became ${batch.size} events, more than ${cfg.limits.max_events_per_batch} (ingest.limits.max_events_per_batch); send smaller batches`);
    }
    const rejections = [...readRejections, ...rejected, ...gn.rejections];
    const dead = rejections.map((r) => deadLetter(r, "http", { sender: opts.sender, truncated: envelopes.get(r.record)?.truncated }));
    const counts = { events: batch.size, rejected: dead.length };
    return deps.publisher.send(batch, dead).then(
      () => counts,
      (err) => {
        const code = err instanceof SigilError ? err.code : "bus_unavailable";
        deps.log.warn({ err: (err as Error).message, code }, "publishing an HTTP batch failed; the client will retry");
        throw new HttpError(code === "bus_full" ? 429 : 503, code, "the bus did not accept the batch; retry later", { "retry-after": "2" });
      },
    );
  }
}
