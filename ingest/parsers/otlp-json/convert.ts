// OpenTelemetry OTLP → ECS, shared by the otlp-json parser and the OTLP/HTTP receiver (JSON and
// protobuf requests are decoded to the same OTLP/JSON shape first). Each log record and each span
// becomes one event; resource attributes fill host, service, cloud, container and Kubernetes fields.

import type { EcsEvent, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { eventId } from "../../../schema/event-id.ts";
import { isUnsafeKey } from "../../../schema/fields.ts";
import { relate } from "../common/event.ts";
import { asObject } from "../common/json.ts";
import { asIp, asPort } from "../common/net.ts";
import { toIso } from "../common/time.ts";

export interface OtlpResult {
  events: EcsEvent[];
  rejected: Array<{ code: string; reason: string; data?: string }>;
}

/** Largest number of log records or spans taken from one request. */
export const MAX_ITEMS_PER_REQUEST = 100_000;
const MAX_ATTRIBUTES = 512;

/** An OTLP AnyValue as plain JSON. */
export function anyValue(v: JsonValue | undefined, depth = 0): JsonValue {
  const o = asObject(v);
  if (!o || depth > 16) return null;
  if (o.stringValue !== undefined) return typeof o.stringValue === "string" ? o.stringValue : String(o.stringValue);
  if (o.boolValue !== undefined) return o.boolValue === true || o.boolValue === "true";
  if (o.intValue !== undefined) {
    const n = Number(o.intValue);
    return Number.isSafeInteger(n) ? n : String(o.intValue);
  }
  if (o.doubleValue !== undefined) {
    const n = Number(o.doubleValue);
    return Number.isFinite(n) ? n : String(o.doubleValue);
  }
  if (o.bytesValue !== undefined) return String(o.bytesValue);
  const arr = asObject(o.arrayValue);
  if (arr) return Array.isArray(arr.values) ? arr.values.slice(0, MAX_ATTRIBUTES).map((x) => anyValue(x, depth + 1)) : [];
  const kv = asObject(o.kvlistValue);
  if (kv) return attributes(kv.values, depth + 1);
  return null;
}

/** OTLP KeyValue list → object keyed by the attribute name (dotted names kept as literal keys). */
export function attributes(list: JsonValue | undefined, depth = 0): JsonObject {
  const out: JsonObject = {};
  if (!Array.isArray(list)) return out;
  let n = 0;
  for (const item of list) {
    if (++n > MAX_ATTRIBUTES) break;
    const o = asObject(item);
    const key = typeof o?.key === "string" ? o.key : undefined;
    if (!key || isUnsafeKey(key) || key.length > 256) continue;
    out[key] = anyValue(o?.value, depth);
  }
  return out;
}

function str(a: JsonObject, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = a[k];
    if (typeof v === "string" && v !== "") return v;
    if (typeof v === "number") return String(v);
  }
  return undefined;
}

function numAttr(a: JsonObject, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = a[k];
    const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : NaN;
    if (Number.isFinite(n)) return n;
  }
  return undefined;
}

/** Nanoseconds since the epoch (decimal string or number) → epoch ms, NaN when absent or zero. */
function nanosToMs(v: JsonValue | undefined): number {
  if (typeof v === "string" && /^\d{1,20}$/.test(v)) {
    const ms = v.length > 6 ? Number(v.slice(0, -6)) : 0;
    return ms > 0 ? ms : NaN;
  }
  if (typeof v === "number" && v > 0) return Math.floor(v / 1e6);
  return NaN;
}

function nanosBig(v: JsonValue | undefined): bigint | null {
  if (typeof v === "string" && /^\d{1,20}$/.test(v)) return BigInt(v);
  if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
  return null;
}

/** OTLP/JSON ids are hex; some exporters send base64 (protobuf JSON mapping). Normalized to lower-case hex. */
export function hexId(v: JsonValue | undefined, bytes: number): string | undefined {
  if (typeof v !== "string" || v.length === 0) return undefined;
  if (v.length === bytes * 2 && /^[0-9a-fA-F]+$/.test(v)) return /^0+$/.test(v) ? undefined : v.toLowerCase();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(v)) {
    const b = Buffer.from(v, "base64");
    if (b.length === bytes) {
      const h = b.toString("hex");
      return /^0+$/.test(h) ? undefined : h;
    }
  }
  return undefined;
}

const SEVERITY_NAMES = ["trace", "debug", "info", "warn", "error", "fatal"];

/** Applies resource attributes to the event: service, host, process, cloud, container, orchestrator. */
function applyResource(ev: EcsEvent, res: JsonObject): void {
  const service: JsonObject = {};
  const name = str(res, "service.name");
  if (name) service.name = name;
  const version = str(res, "service.version");
  if (version) service.version = version;
  const ns = str(res, "service.namespace");
  if (ns) service.namespace = ns;
  const inst = str(res, "service.instance.id");
  if (inst) service.node = { name: inst };
  const env = str(res, "deployment.environment.name", "deployment.environment");
  if (env) service.environment = env;
  if (Object.keys(service).length > 0) ev.service = service;
  const host: JsonObject = {};
  const hn = str(res, "host.name");
  if (hn) {
    host.name = hn;
    host.hostname = hn;
    relate(ev, "hosts", hn);
  }
  const hid = str(res, "host.id");
  if (hid) host.id = hid;
  const arch = str(res, "host.arch");
  if (arch) host.architecture = arch;
  const osType = str(res, "os.type");
  const osDesc = str(res, "os.description");
  const osName = str(res, "os.name");
  if (osType || osDesc || osName) host.os = { ...(osType ? { type: osType } : {}), ...(osDesc ? { full: osDesc } : {}), ...(osName ? { name: osName } : {}) };
  const hip = res["host.ip"];
  if (Array.isArray(hip)) {
    const ips = hip.map((x) => asIp(x)).filter((x): x is string => !!x);
    if (ips.length > 0) host.ip = ips;
  }
  if (Object.keys(host).length > 0) ev.host = host;
  const pid = numAttr(res, "process.pid");
  const proc: JsonObject = {};
  if (pid !== undefined) proc.pid = pid;
  const exe = str(res, "process.executable.path");
  if (exe) proc.executable = exe;
  const pname = str(res, "process.executable.name");
  if (pname) proc.name = pname;
  const cmd = str(res, "process.command_line");
  if (cmd) proc.command_line = cmd;
  const owner = str(res, "process.owner");
  if (owner) proc.user = { name: owner };
  if (Object.keys(proc).length > 0) ev.process = proc;
  const cloud: JsonObject = {};
  const provider = str(res, "cloud.provider");
  if (provider) cloud.provider = provider;
  const region = str(res, "cloud.region");
  if (region) cloud.region = region;
  const az = str(res, "cloud.availability_zone");
  if (az) cloud.availability_zone = az;
  const account = str(res, "cloud.account.id");
  if (account) cloud.account = { id: account };
  const platform = str(res, "cloud.platform");
  if (platform) cloud.service = { name: platform };
  if (Object.keys(cloud).length > 0) ev.cloud = cloud;
  const cid = str(res, "container.id");
  const cname = str(res, "container.name");
  const cimage = str(res, "container.image.name");
  if (cid || cname || cimage) ev.container = { ...(cid ? { id: cid } : {}), ...(cname ? { name: cname } : {}), ...(cimage ? { image: { name: cimage } } : {}) };
  const k8s: JsonObject = {};
  const orch: JsonObject = {};
  const kns = str(res, "k8s.namespace.name");
  if (kns) {
    k8s.namespace = kns;
    orch.namespace = kns;
  }
  const pod = str(res, "k8s.pod.name");
  const podUid = str(res, "k8s.pod.uid");
  if (pod || podUid) k8s.pod = { ...(pod ? { name: pod } : {}), ...(podUid ? { uid: podUid } : {}) };
  const node = str(res, "k8s.node.name");
  if (node) k8s.node = { name: node };
  const dep = str(res, "k8s.deployment.name");
  if (dep) k8s.deployment = { name: dep };
  const cluster = str(res, "k8s.cluster.name");
  if (cluster) orch.cluster = { name: cluster };
  if (Object.keys(k8s).length > 0) ev.kubernetes = k8s;
  if (Object.keys(orch).length > 0 || Object.keys(k8s).length > 0) ev.orchestrator = { type: "kubernetes", ...orch };
}

/** Maps well-known span/log attributes (old and new semantic conventions) to ECS. */
function applyAttributes(ev: EcsEvent, a: JsonObject): void {
  const method = str(a, "http.request.method", "http.method");
  const status = numAttr(a, "http.response.status_code", "http.status_code");
  if (method || status !== undefined) {
    const http: JsonObject = {};
    if (method) http.request = { method: method.toUpperCase() };
    if (status !== undefined) http.response = { status_code: status };
    const flavor = str(a, "network.protocol.version", "http.flavor");
    if (flavor) http.version = flavor;
    const reqLen = numAttr(a, "http.request.body.size", "http.request_content_length");
    if (reqLen !== undefined) http.request = { ...(http.request as JsonObject | undefined), body: { bytes: reqLen } };
    const respLen = numAttr(a, "http.response.body.size", "http.response_content_length");
    if (respLen !== undefined) http.response = { ...(http.response as JsonObject | undefined), body: { bytes: respLen } };
    ev.http = http;
  }
  const full = str(a, "url.full", "http.url");
  const path = str(a, "url.path", "http.target");
  const route = str(a, "http.route");
  if (full || path) {
    const url: JsonObject = {};
    if (full) url.full = full;
    url.original = full ?? path!;
    if (path) {
      const q = path.indexOf("?");
      url.path = q >= 0 ? path.slice(0, q) : path;
      if (q >= 0) url.query = path.slice(q + 1);
    }
    const query = str(a, "url.query");
    if (query) url.query = query;
    const scheme = str(a, "url.scheme", "http.scheme");
    if (scheme) url.scheme = scheme;
    const domain = str(a, "server.address", "http.host", "net.host.name");
    if (domain) url.domain = domain;
    ev.url = url;
  }
  if (route) ev.http = { ...(ev.http ?? {}), route } as JsonObject;
  const client = str(a, "client.address", "http.client_ip", "net.sock.peer.addr", "net.peer.ip", "source.address");
  const clientIp = asIp(client);
  if (clientIp) {
    ev.source = { address: clientIp, ip: clientIp };
    const p = asPort(numAttr(a, "client.port", "net.sock.peer.port", "net.peer.port", "source.port"));
    if (p !== undefined) ev.source.port = p;
    relate(ev, "ip", clientIp);
  }
  const server = str(a, "server.address", "net.peer.name", "net.host.name");
  const serverPort = asPort(numAttr(a, "server.port", "net.peer.port", "net.host.port"));
  if (server) {
    const ip = asIp(server);
    ev.destination = ip ? { address: server, ip } : { address: server, domain: server };
    if (serverPort !== undefined) ev.destination.port = serverPort;
  }
  const ua = str(a, "user_agent.original", "http.user_agent");
  if (ua) ev.user_agent = { original: ua };
  const user = str(a, "user.name", "enduser.id", "user.id");
  if (user) {
    ev.user = { name: user };
    relate(ev, "user", user);
  }
  const exType = str(a, "exception.type");
  const exMsg = str(a, "exception.message");
  const exStack = str(a, "exception.stacktrace");
  if (exType || exMsg || exStack) ev.error = { ...(exType ? { type: exType } : {}), ...(exMsg ? { message: exMsg } : {}), ...(exStack ? { stack_trace: exStack } : {}) };
  const db = str(a, "db.system");
  if (db) {
    ev.event.category = ["database"];
    ev.event.type = ["access"];
  }
}

interface Scope {
  resource: JsonObject;
  scope: JsonObject;
}

function scopeInfo(rs: JsonObject, ss: JsonObject): Scope {
  const resource = attributes(asObject(rs.resource)?.attributes);
  const sc = asObject(ss.scope) ?? {};
  const scope: JsonObject = {};
  if (typeof sc.name === "string" && sc.name) scope.name = sc.name;
  if (typeof sc.version === "string" && sc.version) scope.version = sc.version;
  const sattrs = attributes(sc.attributes);
  if (Object.keys(sattrs).length > 0) scope.attributes = sattrs;
  return { resource, scope };
}

function otelNs(s: Scope, attrs: JsonObject, extra: JsonObject): JsonObject {
  const otel: JsonObject = { ...extra };
  if (Object.keys(s.resource).length > 0) otel.resource = { attributes: s.resource };
  if (Object.keys(s.scope).length > 0) otel.scope = s.scope;
  if (Object.keys(attrs).length > 0) otel.attributes = attrs;
  return otel;
}

/** ExportLogsServiceRequest → events (one per log record). */
export function logsToEvents(req: JsonObject, nowMs: number, origin?: string): OtlpResult {
  const out: OtlpResult = { events: [], rejected: [] };
  let count = 0;
  const rls = Array.isArray(req.resourceLogs) ? req.resourceLogs : [];
  for (const rlv of rls) {
    const rl = asObject(rlv);
    if (!rl) continue;
    const sls = Array.isArray(rl.scopeLogs) ? rl.scopeLogs : Array.isArray(rl.instrumentationLibraryLogs) ? rl.instrumentationLibraryLogs : [];
    for (const slv of sls) {
      const sl = asObject(slv);
      if (!sl) continue;
      const sc = scopeInfo(rl, sl);
      const recs = Array.isArray(sl.logRecords) ? sl.logRecords : [];
      for (const lrv of recs) {
        if (++count > MAX_ITEMS_PER_REQUEST) {
          out.rejected.push({ code: "otlp_too_many_items", reason: `request holds more than ${MAX_ITEMS_PER_REQUEST} log records; the rest were not read`, data: "" });
          return out;
        }
        const lr = asObject(lrv);
        if (!lr) {
          out.rejected.push({ code: "otlp_bad_log_record", reason: "log record is not an object", data: JSON.stringify(lrv) ?? "" });
          continue;
        }
        let ms = nanosToMs(lr.timeUnixNano);
        if (Number.isNaN(ms)) ms = nanosToMs(lr.observedTimeUnixNano);
        if (Number.isNaN(ms)) ms = nowMs;
        const ts = toIso(ms);
        if (ts === null) {
          out.rejected.push({ code: "otlp_bad_timestamp", reason: "log record time is outside 1970..2199", data: JSON.stringify(lr) });
          continue;
        }
        const attrs = attributes(lr.attributes);
        const sevNum = typeof lr.severityNumber === "number" ? lr.severityNumber : undefined;
        const ev: EcsEvent = { "@timestamp": ts, event: { id: "", kind: "event", category: [], type: ["info"], dataset: str(attrs, "event.dataset") ?? "otel.logs", module: "otel" } };
        applyResource(ev, sc.resource);
        applyAttributes(ev, attrs);
        if (sevNum !== undefined && sevNum > 0) {
          ev.event.severity = sevNum;
          if (sevNum >= 17) ev.event.type = ["error"];
        }
        const sevText = typeof lr.severityText === "string" && lr.severityText ? lr.severityText : sevNum ? SEVERITY_NAMES[Math.min(5, Math.floor((sevNum - 1) / 4))] : undefined;
        const log: JsonObject = {};
        if (sevText) log.level = sevText.toLowerCase();
        if (sc.scope.name) log.logger = sc.scope.name;
        if (Object.keys(log).length > 0) ev.log = log;
        const body = anyValue(lr.body);
        const extra: JsonObject = {};
        if (typeof body === "string") ev.message = body;
        else if (body !== null) {
          extra.body = body;
          const m = asObject(body)?.message ?? asObject(body)?.msg;
          ev.message = typeof m === "string" ? m : JSON.stringify(body).slice(0, 32_768);
        }
        const traceId = hexId(lr.traceId, 16);
        const spanId = hexId(lr.spanId, 8);
        if (traceId) ev.trace = { id: traceId };
        if (spanId) ev.span = { id: spanId };
        const evName = typeof lr.eventName === "string" && lr.eventName ? lr.eventName : str(attrs, "event.name");
        if (evName) ev.event.action = evName;
        ev.otel = otelNs(sc, attrs, extra);
        ev.event.id = eventId(ev.event.dataset, JSON.stringify(lr) + "\u0000" + (str(sc.resource, "service.name") ?? ""), origin);
        out.events.push(ev);
      }
    }
  }
  return out;
}

const SPAN_KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];
const KIND_NAMES: Record<string, number> = { SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5 };
const STATUS_NAMES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

/** ExportTraceServiceRequest → events (one per span). */
export function tracesToEvents(req: JsonObject): OtlpResult {
  const out: OtlpResult = { events: [], rejected: [] };
  let count = 0;
  const rss = Array.isArray(req.resourceSpans) ? req.resourceSpans : [];
  for (const rsv of rss) {
    const rs = asObject(rsv);
    if (!rs) continue;
    const sss = Array.isArray(rs.scopeSpans) ? rs.scopeSpans : Array.isArray(rs.instrumentationLibrarySpans) ? rs.instrumentationLibrarySpans : [];
    for (const ssv of sss) {
      const ss = asObject(ssv);
      if (!ss) continue;
      const sc = scopeInfo(rs, ss);
      const spans = Array.isArray(ss.spans) ? ss.spans : [];
      for (const spv of spans) {
        if (++count > MAX_ITEMS_PER_REQUEST) {
          out.rejected.push({ code: "otlp_too_many_items", reason: `request holds more than ${MAX_ITEMS_PER_REQUEST} spans; the rest were not read`, data: "" });
          return out;
        }
        const sp = asObject(spv);
        const traceId = hexId(sp?.traceId, 16);
        const spanId = hexId(sp?.spanId, 8);
        if (!sp || !traceId || !spanId) {
          out.rejected.push({ code: "otlp_bad_span", reason: "span without a valid traceId (16 bytes) and spanId (8 bytes)", data: JSON.stringify(spv) ?? "" });
          continue;
        }
        const startMs = nanosToMs(sp.startTimeUnixNano);
        const endMs = nanosToMs(sp.endTimeUnixNano);
        const ts = toIso(startMs);
        if (ts === null) {
          out.rejected.push({ code: "otlp_bad_timestamp", reason: "span startTimeUnixNano is missing or outside 1970..2199", data: JSON.stringify(sp) });
          continue;
        }
        const attrs = attributes(sp.attributes);
        const kindNum = typeof sp.kind === "number" ? sp.kind : typeof sp.kind === "string" ? KIND_NAMES[sp.kind] ?? 0 : 0;
        const kind = SPAN_KINDS[kindNum] ?? "unspecified";
        const ev: EcsEvent = { "@timestamp": ts, event: { id: "", kind: "event", category: [], type: ["info"], dataset: "otel.traces", module: "otel" } };
        const start = nanosBig(sp.startTimeUnixNano);
        const end = nanosBig(sp.endTimeUnixNano);
        if (start !== null && end !== null && end >= start) ev.event.duration = Number(end - start);
        ev.event.start = ts;
        const endIso = toIso(endMs);
        if (endIso) ev.event.end = endIso;
        applyResource(ev, sc.resource);
        applyAttributes(ev, attrs);
        const name = typeof sp.name === "string" ? sp.name : "";
        ev.event.action = name || undefined;
        if (!ev.event.action) delete ev.event.action;
        ev.trace = { id: traceId };
        ev.span = { id: spanId, ...(name ? { name } : {}), kind } as { id: string };
        const parent = hexId(sp.parentSpanId, 8);
        if (parent) ev.parent = { id: parent };
        else ev.transaction = { id: spanId };
        const status = asObject(sp.status);
        const code = typeof status?.code === "number" ? status.code : typeof status?.code === "string" ? STATUS_NAMES[status.code] ?? 0 : 0;
        const httpStatus = (ev.http?.response as JsonObject | undefined)?.status_code;
        if (code === 2) ev.event.outcome = "failure";
        else if (code === 1) ev.event.outcome = "success";
        else if (typeof httpStatus === "number") ev.event.outcome = httpStatus >= (kind === "client" ? 400 : 500) ? "failure" : "success";
        else ev.event.outcome = "unknown";
        if (code === 2 && typeof status?.message === "string" && status.message) ev.error = { ...(ev.error as JsonObject | undefined), message: status.message };
        if (ev.http && (ev.event.category ?? []).length === 0) {
          ev.event.category = ["web"];
          ev.event.type = kind === "server" ? ["access"] : ["info"];
        }
        if (ev.event.outcome === "failure" && !ev.event.type?.includes("error")) ev.event.type = [...(ev.event.type ?? []), "error"];
        const extra: JsonObject = { span: { kind, ...(status ? { status: { code: ["unset", "ok", "error"][code] ?? "unset", ...(typeof status.message === "string" && status.message ? { message: status.message } : {}) } } : {}) } };
        if (Array.isArray(sp.events) && sp.events.length > 0) {
          (extra.span as JsonObject).events = sp.events.slice(0, 128).map((e) => {
            const eo = asObject(e) ?? {};
            const at = toIso(nanosToMs(eo.timeUnixNano));
            return { name: typeof eo.name === "string" ? eo.name : "", ...(at ? { time: at } : {}), attributes: attributes(eo.attributes) } as JsonObject;
          });
          for (const e of (extra.span as JsonObject).events as JsonObject[]) {
            if (e.name === "exception") applyAttributes(ev, e.attributes as JsonObject);
          }
        }
        if (Array.isArray(sp.links) && sp.links.length > 0) {
          (extra.span as JsonObject).links = sp.links.slice(0, 128).map((l) => {
            const lo = asObject(l) ?? {};
            return { trace_id: hexId(lo.traceId, 16) ?? null, span_id: hexId(lo.spanId, 8) ?? null } as JsonObject;
          });
        }
        ev.otel = otelNs(sc, attrs, extra);
        // trace and span id name a span uniquely: the same span re-sent over any path gets the same id
        ev.event.id = eventId("otel.traces", `${traceId}:${spanId}`);
        out.events.push(ev);
      }
    }
  }
  return out;
}

/** Which OTLP signal a JSON document carries. */
export function otlpSignal(o: JsonObject): "logs" | "traces" | "metrics" | null {
  if (Array.isArray(o.resourceLogs)) return "logs";
  if (Array.isArray(o.resourceSpans)) return "traces";
  if (Array.isArray(o.resourceMetrics)) return "metrics";
  return null;
}
