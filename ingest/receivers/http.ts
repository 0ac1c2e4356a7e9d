// The HTTP NDJSON bulk receiver: POST /v1/ingest with one JSON object per line (the agent's records,
// docs/decisions/0009-agent-wire-format.md, or raw JSON records such as CloudTrail or ECS events; plain
// text lines are accepted too). Token required, gzip accepted, body and line limits, batch id and time
// checked against replays, 429 with Retry-After when the bus pushes back. Answers only after the bus
// accepted the events and dead letters of the batch.

import type http from "node:http";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { TokenVerifier } from "../../platform/security/types.ts";
import type { RateLimiter, ReplayGuard } from "../../platform/security/limits.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import type { IngestConfig } from "../../platform/config/sections/ingest.ts";
import { SigilError } from "../../platform/errors.ts";
import { recordOfEvent } from "../parsers/common/event.ts";
import type { ParseContext, Rejection } from "../parsers/types.ts";
import { deadLetter } from "../dead-letter.ts";
import type { PublishBatch, Publisher } from "../publisher.ts";
import { FormatCache, GroupNormalizer } from "./batch.ts";
import { countLines, readNdjson, type Envelope, type NdjsonOptions, type NdjsonRecord } from "./ndjson.ts";
import { BodyPool, Gate, HttpError, authenticate, rateLimit, readBody, sendJson, startHttpListener, type Listener } from "./server.ts";

export interface HttpReceiverDeps {
  config: IngestConfig;
  verifier: TokenVerifier;
  replay: ReplayGuard;
  limiter?: RateLimiter;
  publisher: Publisher;
  ctx: ParseContext;
  log: Logger;
}

/**
 * Adds the envelope's context to an event the record became, except the agent object when `spliceAgent`
 * and the event has no agent of its own (the caller adds it already serialized). The agent object is
 * shared: events are serialized, never mutated, after this.
 */
function applyEnvelope(e: EcsEvent, env: Envelope, spliceAgent: boolean): void {
  if (env.created && !e.event.created) e.event.created = env.created;
  if (env.service && !e.service?.name) e.service = { ...(e.service ?? {}), name: env.service };
  if (env.agent && !(spliceAgent && e.agent === undefined)) e.agent = env.agent;
  if (env.tags === undefined && !env.truncated) return;
  const tags = env.truncated ? [...(env.tags ?? []), "truncated"] : env.tags!;
  const own = Array.isArray(e.tags) ? e.tags : [];
  e.tags = [...own, ...tags.filter((t) => !own.includes(t))];
}

/**
 * Reads and normalizes an NDJSON body into `batch`, record by record (a record's envelope objects and its
 * event die as soon as its bytes are in the batch, so the collector copies little); returns the lines and
 * records it rejected. The body's agent object is serialized once and spliced into its events.
 */
export function normalizeBody(body: Buffer, opts: NdjsonOptions, ctx: ParseContext, cache: FormatCache, batch: PublishBatch): Rejection[] {
  const readRejections: Rejection[] = [];
  const rejected: Rejection[] = [];
  // the agent object of the body's envelopes, serialized once as the events' last member
  let agent: EcsEvent["agent"] | undefined;
  let agentMember: Uint8Array | undefined;
  const gn = new GroupNormalizer(ctx, cache, {
    event(e, rec) {
      const env = ((rec ?? recordOfEvent.get(e)) as NdjsonRecord | undefined)?.envelope;
      if (env === undefined) return batch.add(e);
      if (env.agent === undefined || e.agent !== undefined) {
        applyEnvelope(e, env, false);
        return batch.add(e);
      }
      applyEnvelope(e, env, true);
      if (env.agent !== agent) {
        agent = env.agent;
        agentMember = Buffer.from(`"agent":${JSON.stringify(agent)}}`, "utf8");
      }
      batch.add(e, agentMember);
    },
    reject: (r) => rejected.push(r),
  });
  readNdjson(body, opts, (rec, format, sourceKey) => gn.push(rec, format, sourceKey), readRejections);
  gn.finish();
  return [...readRejections, ...rejected, ...gn.rejections];
}

export async function startHttpReceiver(deps: HttpReceiverDeps): Promise<Listener> {
  const cfg = deps.config;
  const gate = new Gate(cfg.limits.max_inflight_requests);
  const cache = new FormatCache();
  // bodies are read into reused buffers: each is given back as soon as it is normalized (the events'
  // bytes are in the publish batch, rejected lines are strings), before the bus is waited for
  // (agents send about a megabyte per request; at most 4 × 4 MiB stay allocated when idle)
  const bodies = new BodyPool(4 * 1024 * 1024, 4);
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
    let body: Buffer | null = await readBody(req, cfg.limits.max_body_bytes, bodies);
    const peer = req.socket.remoteAddress ?? "unknown";
    const lines = countLines(body);
    try {
      rateLimit(deps.limiter, token, lines);
    } catch (err) {
      bodies.give(body);
      throw err;
    }
    if (!deps.publisher.tryReserve(lines)) {
      bodies.give(body);
      throw new HttpError(429, "backpressure", "the bus is behind; retry later", { "retry-after": "1" });
    }
    try {
      let published: Promise<{ events: number; rejected: number }>;
      try {
        published = normalizeAndPublish(body, { source: `http ${peer}`, peer, maxLineBytes: cfg.limits.max_line_bytes, format, sender: token.name });
      } finally {
        bodies.give(body);
        body = null;
      }
      const accepted = await published;
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
    const rejections = normalizeBody(body, opts, deps.ctx, cache, batch);
    if (batch.size > cfg.limits.max_events_per_batch) {
      throw new HttpError(413, "too_many_events", `the batch became ${batch.size} events, more than ${cfg.limits.max_events_per_batch} (ingest.limits.max_events_per_batch); send smaller batches`);
    }
    const dead = rejections.map((r) => deadLetter(r, "http", { sender: opts.sender, truncated: (r.record as NdjsonRecord).envelope?.truncated }));
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
