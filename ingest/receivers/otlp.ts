// The OTLP/HTTP receiver (port 4318): POST /v1/logs and /v1/traces as JSON (application/json) or
// protobuf (application/x-protobuf), gzip accepted, token required. Each log record and span becomes
// an event; rejected items go to the dead-letter topic and are reported in the response's
// partialSuccess. Answers only after the bus accepted the batch; 429/503 with Retry-After on push back.

import type http from "node:http";
import type { JsonObject } from "../../schema/ecs.ts";
import { eventId } from "../../schema/event-id.ts";
import type { TokenVerifier } from "../../platform/security/types.ts";
import type { RateLimiter } from "../../platform/security/limits.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import type { IngestConfig } from "../../platform/config/sections/ingest.ts";
import { SigilError } from "../../platform/errors.ts";
import type { ParseContext, RawRecord } from "../parsers/types.ts";
import { checkLimits, parseJsonObject } from "../parsers/common/json.ts";
import { logsToEvents, tracesToEvents } from "../parsers/otlp-json/convert.ts";
import { deadLetter } from "../dead-letter.ts";
import type { Publisher } from "../publisher.ts";
import { Gate, HttpError, authenticate, rateLimit, readBody, sendJson, startHttpListener, type Listener } from "./server.ts";
import { ProtoError, decodeLogsRequest, decodeTraceRequest, encodePartialSuccess } from "./otlp-proto.ts";

export interface OtlpReceiverDeps {
  config: IngestConfig;
  verifier: TokenVerifier;
  limiter?: RateLimiter;
  publisher: Publisher;
  ctx: ParseContext;
  log: Logger;
}

export async function startOtlpReceiver(deps: OtlpReceiverDeps): Promise<Listener> {
  const cfg = deps.config;
  const gate = new Gate(cfg.limits.max_inflight_requests);
  return startHttpListener({ name: "otlp", host: cfg.otlp.host, port: cfg.otlp.port, tls: cfg.otlp.tls, log: deps.log }, async (req, res, path) => {
    const signal = path === "/v1/logs" ? "logs" : path === "/v1/traces" ? "traces" : null;
    if (!signal) {
      if (path === "/v1/metrics") throw new HttpError(404, "otlp_metrics_unsupported", "Sigil takes OTLP logs and traces; send metrics to a metrics backend");
      throw new HttpError(404, "not_found", "no such route; POST to /v1/logs or /v1/traces");
    }
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST", { allow: "POST" });
    if (!gate.enter()) {
      req.resume();
      throw new HttpError(429, "too_many_requests", "too many requests in progress; retry shortly", { "retry-after": "1" });
    }
    try {
      await handle(req, res, signal);
    } finally {
      gate.leave();
    }
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, signal: "logs" | "traces"): Promise<void> {
    const token = await authenticate(req, deps.verifier, "ingest");
    const type = String(req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    const proto = type === "application/x-protobuf" || type === "application/protobuf";
    if (!proto && type !== "application/json") {
      req.resume();
      throw new HttpError(415, "unsupported_media_type", "send application/json or application/x-protobuf");
    }
    const body = await readBody(req, cfg.limits.max_body_bytes);
    const peer = req.socket.remoteAddress ?? "unknown";
    const rec: RawRecord = { data: "", source: `otlp ${peer}`, peer };
    const reply = (status: number, rejected: number, message: string) => {
      if (proto) {
        const bytes = encodePartialSuccess(rejected, message);
        res.writeHead(status, { "content-type": "application/x-protobuf", "content-length": bytes.length });
        res.end(bytes);
      } else {
        const key = signal === "logs" ? "rejectedLogRecords" : "rejectedSpans";
        sendJson(res, status, rejected > 0 || message ? { partialSuccess: { [key]: String(rejected), errorMessage: message } } : {});
      }
    };
    let request: JsonObject;
    if (proto) {
      try {
        request = signal === "logs" ? decodeLogsRequest(body) : decodeTraceRequest(body);
      } catch (err) {
        if (!(err instanceof ProtoError)) throw err;
        await deadLetterWhole(rec, body, "otlp_bad_protobuf", `not a valid OTLP ${signal} protobuf request: ${err.message}`, token.name);
        throw new HttpError(400, "otlp_bad_protobuf", `not a valid OTLP ${signal} protobuf request: ${err.message}`);
      }
      const tooBig = checkLimits(request, { maxDepth: cfg.limits.max_json_depth + 16, maxFields: Number.MAX_SAFE_INTEGER });
      if (tooBig) throw new HttpError(400, tooBig.code, tooBig.reason);
    } else {
      rec.data = body.toString("utf8");
      const r = parseJsonObject(rec.data, { maxDepth: cfg.limits.max_json_depth, maxFields: Number.MAX_SAFE_INTEGER });
      if (!r.ok) {
        await deadLetterWhole(rec, body, r.code, r.reason, token.name);
        throw new HttpError(400, r.code, r.reason);
      }
      request = r.value;
    }
    const origin = `otlp:${eventId("otlp", body)}`;
    const result = signal === "logs" ? logsToEvents(request, deps.ctx.now().getTime(), origin) : tracesToEvents(request);
    rateLimit(deps.limiter, token, result.events.length + result.rejected.length);
    if (result.events.length > cfg.limits.max_events_per_batch) {
      throw new HttpError(413, "too_many_events", `the request holds ${result.events.length} items, more than ${cfg.limits.max_events_per_batch} (ingest.limits.max_events_per_batch)`);
    }
    const n = result.events.length + result.rejected.length;
    if (!deps.publisher.tryReserve(n)) throw new HttpError(429, "backpressure", "the bus is behind; retry later", { "retry-after": "1" });
    try {
      const dead = result.rejected.map((x) => deadLetter({ code: x.code, reason: x.reason, record: { ...rec, data: x.data ?? "" } }, "otlp", { sender: token.name }));
      try {
        await deps.publisher.publish(result.events, dead, "otlp");
      } catch (err) {
        const code = err instanceof SigilError ? err.code : "bus_unavailable";
        deps.log.warn({ err: (err as Error).message, code }, "publishing an OTLP batch failed; the client will retry");
        throw new HttpError(code === "bus_full" ? 429 : 503, code, "the bus did not accept the batch; retry later", { "retry-after": "2" });
      }
      reply(200, dead.length, dead.length ? `${dead.length} item(s) rejected: ${[...new Set(dead.map((d) => d.reason.code))].join(", ")}` : "");
    } finally {
      deps.publisher.release(n);
    }
  }

  /** A request that cannot be decoded at all goes to the dead-letter topic whole (base64 for protobuf). */
  async function deadLetterWhole(rec: RawRecord, body: Buffer, code: string, reason: string, sender: string): Promise<void> {
    const dl = deadLetter({ code, reason, record: { ...rec, data: rec.data, bytes: rec.data ? undefined : Uint8Array.from(body) } }, "otlp", { sender });
    try {
      await deps.publisher.publish([], [dl], "otlp");
    } catch (err) {
      deps.log.error({ err: (err as Error).message, code }, "could not dead-letter an undecodable OTLP request");
    }
  }
}
