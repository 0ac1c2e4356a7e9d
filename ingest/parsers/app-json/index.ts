// Generic JSON application logs (pino, bunyan, winston, zap, logrus, structlog, log4j/logback JSON,
// Serilog compact): time, level, message, logger, service, host, pid, trace/span ids, user, client IP,
// HTTP request fields and errors mapped to ECS; the whole record kept under app.* so nothing is lost.

import type { EcsEvent, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import type { Parser } from "../types.ts";
import { lineParser } from "../common/line-parser.ts";
import { finish, relate } from "../common/event.ts";
import { asObject, parseJsonObject } from "../common/json.ts";
import { asIp, asPort } from "../common/net.ts";
import { parseIso, toIso, type ZoneOffset } from "../common/time.ts";
import { urlFields } from "../common/web.ts";

const TIME_KEYS = ["@timestamp", "timestamp", "time", "ts", "@t", "datetime", "date", "eventTime", "logged_at", "t"];
const LEVEL_KEYS = ["level", "severity", "log.level", "levelname", "lvl", "@l", "loglevel", "log_level"];
const MESSAGE_KEYS = ["message", "msg", "@m", "@mt", "text", "log", "event"];
const SERVICE_KEYS = ["service.name", "service", "app", "application", "app_name", "component"];
const PINO_LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };
const ERROR_LEVELS = new Set(["error", "err", "fatal", "critical", "crit", "alert", "emerg", "emergency", "panic", "severe"]);

function pick(o: JsonObject, keys: readonly string[]): JsonValue | undefined {
  for (const k of keys) {
    const v = o[k];
    if (v !== undefined && v !== null && v !== "") return v;
    if (k.includes(".")) {
      const [a, b] = k.split(".");
      const inner = asObject(o[a]);
      if (inner && inner[b] !== undefined && inner[b] !== null && inner[b] !== "") return inner[b];
    }
  }
  return undefined;
}

function str(v: JsonValue | undefined): string | undefined {
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/** A timestamp from ISO text or epoch seconds / milliseconds / microseconds / nanoseconds. */
export function timeOf(v: JsonValue | undefined, zone: ZoneOffset): number {
  if (typeof v === "number" && Number.isFinite(v) && v > 0) {
    if (v < 1e11) return Math.floor(v * 1000);
    if (v < 1e14) return Math.floor(v);
    if (v < 1e17) return Math.floor(v / 1000);
    return Math.floor(v / 1e6);
  }
  if (typeof v === "string") {
    if (/^\d{9,19}(\.\d+)?$/.test(v)) return timeOf(Number(v), zone);
    const ms = parseIso(v, zone);
    if (!Number.isNaN(ms)) return ms;
    const alt = Date.parse(v);
    return Number.isNaN(alt) ? NaN : alt;
  }
  return NaN;
}

export function appEvent(o: JsonObject, zone: ZoneOffset, nowMs: number): EcsEvent | { code: string; reason: string } {
  const tv = pick(o, TIME_KEYS);
  let ms = timeOf(tv, zone);
  if (tv === undefined) ms = nowMs;
  const ts = toIso(ms);
  if (ts === null) return { code: "app_json_bad_timestamp", reason: `time field ${JSON.stringify(tv)?.slice(0, 60)} is not an ISO 8601 or epoch time` };
  const ev: EcsEvent = { "@timestamp": ts, event: { id: "", kind: "event", category: [], type: ["info"], dataset: "app.json", module: "app" } };
  if (tv === undefined) ev.event.created = ts;
  const log: JsonObject = {};
  const lv = pick(o, LEVEL_KEYS);
  const level = typeof lv === "number" ? PINO_LEVELS[lv] ?? String(lv) : str(lv)?.toLowerCase();
  if (level) {
    log.level = level;
    if (ERROR_LEVELS.has(level)) ev.event.type = ["error"];
  }
  const logger = str(pick(o, ["logger", "logger_name", "loggerName", "log.logger", "SourceContext", "caller"]));
  if (logger) log.logger = logger;
  if (Object.keys(log).length > 0) ev.log = log;
  const msg = pick(o, MESSAGE_KEYS);
  if (typeof msg === "string") ev.message = msg;
  else if (msg !== undefined && typeof msg !== "object") ev.message = String(msg);
  const service = str(pick(o, SERVICE_KEYS));
  // pino and bunyan put the logger (usually the app) name in "name" next to hostname and pid
  const bunyanName = typeof o.name === "string" && (typeof o.hostname === "string" || typeof o.pid === "number") ? o.name : undefined;
  if (service ?? bunyanName) ev.service = { name: (service ?? bunyanName)! };
  const env = str(pick(o, ["env", "environment", "service.environment"]));
  if (env && ev.service) ev.service.environment = env;
  const version = str(pick(o, ["version", "service.version", "app_version"]));
  if (version && ev.service && typeof o.v !== "number") ev.service.version = version;
  const host = str(pick(o, ["host.name", "hostname", "host"]));
  if (host && typeof o.host !== "object") {
    ev.host = { name: host, hostname: host };
    relate(ev, "hosts", host);
  }
  const pid = pick(o, ["pid", "process.pid"]);
  if (typeof pid === "number" && Number.isInteger(pid) && pid >= 0) ev.process = { pid };
  const thread = str(pick(o, ["thread", "thread_name", "threadName"]));
  if (thread) ev.process = { ...(ev.process ?? {}), thread: { name: thread } };
  const trace = str(pick(o, ["trace.id", "trace_id", "traceId", "traceID", "dd.trace_id", "trace"]));
  if (trace && /^[0-9a-fA-F-]{8,64}$/.test(trace)) ev.trace = { id: trace.toLowerCase() };
  const span = str(pick(o, ["span.id", "span_id", "spanId", "spanID", "dd.span_id"]));
  if (span && /^[0-9a-fA-F]{4,32}$/.test(span)) ev.span = { id: span.toLowerCase() };
  const user = str(pick(o, ["user.name", "username", "user_name", "user", "userId", "user_id", "uid"]));
  if (user && typeof o.user !== "object") {
    ev.user = { name: user };
    relate(ev, "user", user);
  } else if (asObject(o.user)) {
    const u = asObject(o.user)!;
    const n = str(u.name) ?? str(u.username) ?? str(u.email) ?? str(u.id);
    if (n) {
      ev.user = { name: n, ...(str(u.id) ? { id: str(u.id) } : {}), ...(str(u.email) ? { email: str(u.email) } : {}) };
      relate(ev, "user", n);
    }
  }
  const req = asObject(o.req) ?? asObject(o.request) ?? asObject(o.http) ?? {};
  const clientIp = asIp(pick(o, ["client_ip", "clientIp", "remote_addr", "remoteAddress", "ip", "src_ip", "source_ip", "source.ip"])) ?? asIp(pick(req, ["remoteAddress", "ip", "remote_addr"]));
  if (clientIp) {
    ev.source = { address: clientIp, ip: clientIp };
    const port = asPort(pick(req, ["remotePort"]));
    if (port !== undefined) ev.source.port = port;
    relate(ev, "ip", clientIp);
  }
  const method = str(pick(o, ["method", "http_method", "http.request.method"])) ?? str(req.method);
  const status = pick(o, ["status", "status_code", "statusCode", "http.response.status_code"]) ?? pick(asObject(o.res) ?? {}, ["statusCode", "status"]);
  const statusCode = typeof status === "number" ? status : typeof status === "string" && /^\d{3}$/.test(status) ? Number(status) : undefined;
  const target = str(pick(o, ["url", "path", "uri", "request_uri", "url.original"])) ?? str(req.url) ?? str(req.path);
  if (method && /^[A-Za-z]{3,10}$/.test(method)) {
    ev.http = { request: { method: method.toUpperCase() } };
    if (statusCode !== undefined && statusCode >= 100 && statusCode < 600) {
      ev.http.response = { status_code: statusCode };
      ev.event.outcome = statusCode >= 400 ? "failure" : "success";
    }
    ev.event.category = ["web"];
    ev.event.type = statusCode !== undefined && statusCode >= 400 ? ["access", "error"] : ["access"];
    if (target) ev.url = urlFields(target);
  }
  const ua = str(pick(o, ["user_agent", "userAgent", "http_user_agent", "ua"])) ?? str(asObject(req.headers)?.["user-agent"]);
  if (ua) ev.user_agent = { original: ua };
  const err = asObject(o.err) ?? asObject(o.error) ?? asObject(o.exception);
  const errText = typeof o.error === "string" ? o.error : typeof o.exception === "string" ? o.exception : undefined;
  if (err) {
    const e: JsonObject = {};
    if (str(err.message)) e.message = str(err.message);
    if (str(err.type) ?? str(err.name) ?? str(err.class)) e.type = (str(err.type) ?? str(err.name) ?? str(err.class))!;
    if (str(err.stack) ?? str(err.stack_trace) ?? str(err.stacktrace)) e.stack_trace = (str(err.stack) ?? str(err.stack_trace) ?? str(err.stacktrace))!;
    if (Object.keys(e).length > 0) ev.error = e;
  } else if (errText) ev.error = { message: errText };
  const stack = str(pick(o, ["stack_trace", "stack", "stacktrace"]));
  if (stack) ev.error = { ...(ev.error ?? {}), stack_trace: stack };
  ev.app = o;
  return ev;
}

export const parser: Parser = lineParser({
  name: "app-json",
  description: "generic JSON application logs (pino, bunyan, winston, zap, logrus, log4j/logback JSON, Serilog compact)",
  // the fallback for JSON objects no specific parser claims
  detect: (sample) => (/^\s*\{/.test(sample) && /"(msg|message|level|severity|@m|@mt)"\s*:/.test(sample) ? 0.5 : /^\s*\{"/.test(sample) ? 0.35 : 0),
  parse(rec, env) {
    const r = parseJsonObject(rec.data, env.ctx.jsonLimits);
    if (!r.ok) return r;
    const ev = appEvent(r.value, env.zone, env.ctx.now().getTime());
    if (!("event" in ev)) return ev;
    return finish(ev, rec, rec.data);
  },
});
