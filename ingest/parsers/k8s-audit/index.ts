// Kubernetes API server audit events (audit.k8s.io v1/v1beta1), plain, in an EventList, or wrapped by
// GKE (Cloud Audit Log protoPayload) and AKS (diagnostic log properties.log): verb, user, source IPs,
// object reference, response code; the audit event kept under kubernetes.audit.* (annotation and label
// keys with dots rewritten to underscores so a document store does not split them into objects).

import type { EcsEvent, EventCategory, EventType, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { isUnsafeKey } from "../../../schema/fields.ts";
import type { Parser } from "../types.ts";
import { DEFAULT_JSON_LIMITS } from "../types.ts";
import { lineParser, type Mixed } from "../common/line-parser.ts";
import { finish, relate } from "../common/event.ts";
import { asObject, checkLimits, parseJson } from "../common/json.ts";
import { asIp } from "../common/net.ts";
import { parseIso, toIso, type ZoneOffset } from "../common/time.ts";
import { urlFields } from "../common/web.ts";

function text(v: JsonValue | undefined): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function typeOfVerb(verb: string | undefined, subresource: string | undefined): [EventCategory[], EventType[]] {
  if (subresource === "exec" || subresource === "attach" || subresource === "portforward") return [["api", "process"], ["start"]];
  switch (verb) {
    case "create":
      return [["api"], ["creation"]];
    case "delete":
    case "deletecollection":
      return [["api"], ["deletion"]];
    case "update":
    case "patch":
    case "bind":
    case "escalate":
    case "impersonate":
      return [["api"], ["change"]];
    case "get":
    case "list":
    case "watch":
      return [["api"], ["access"]];
    default:
      return [["api"], ["info"]];
  }
}

/** Copies an annotations/labels map with "." in keys rewritten to "_". */
function sanitizeKeys(o: JsonValue | undefined): JsonObject | undefined {
  const src = asObject(o);
  if (!src) return undefined;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(src)) {
    const key = k.replace(/\./g, "_");
    if (!isUnsafeKey(key) && v !== undefined) out[key] = v;
  }
  return out;
}

function timeOf(v: JsonValue | undefined, zone: ZoneOffset): string | null {
  return typeof v === "string" ? toIso(parseIso(v, zone)) : null;
}

/** The ECS event of a plain audit.k8s.io Event. */
function auditEvent(o: JsonObject, zone: ZoneOffset): EcsEvent | { code: string; reason: string } {
  const ts = timeOf(o.stageTimestamp, zone) ?? timeOf(o.requestReceivedTimestamp, zone) ?? timeOf(o.timestamp, zone);
  if (!ts) return { code: "k8s_audit_bad_timestamp", reason: "audit event has no valid stageTimestamp/requestReceivedTimestamp" };
  const verb = text(o.verb);
  const ref = asObject(o.objectRef);
  const [category, type] = typeOfVerb(verb, text(ref?.subresource));
  const ev: EcsEvent = { "@timestamp": ts, event: { id: "", kind: "event", category, type, dataset: "kubernetes.audit", module: "kubernetes" } };
  if (verb) ev.event.action = verb;
  const status = asObject(o.responseStatus);
  const code = typeof status?.code === "number" ? status.code : undefined;
  if (code !== undefined) ev.event.outcome = code < 400 ? "success" : "failure";
  const u = asObject(o.user);
  const user: JsonObject = {};
  const name = text(u?.username);
  if (name) {
    user.name = name;
    relate(ev, "user", name);
  }
  const uid = text(u?.uid);
  if (uid) {
    user.id = uid;
    relate(ev, "user", uid);
  }
  const imp = asObject(o.impersonatedUser);
  if (imp && text(imp.username)) user.effective = { name: text(imp.username) };
  if (Object.keys(user).length > 0) ev.user = user;
  const ips = Array.isArray(o.sourceIPs) ? o.sourceIPs.map((x) => asIp(x)).filter((x): x is string => x !== undefined) : [];
  if (ips.length > 0) {
    ev.source = { address: ips[0], ip: ips[0] };
    for (const ip of ips) relate(ev, "ip", ip);
  }
  const ua = text(o.userAgent);
  if (ua) ev.user_agent = { original: ua };
  const uri = text(o.requestURI);
  if (uri) ev.url = urlFields(uri);
  const orch: JsonObject = { type: "kubernetes" };
  const apiVersion = text(o.apiVersion);
  if (apiVersion) orch.api_version = apiVersion;
  if (ref) {
    const ns = text(ref.namespace);
    if (ns) orch.namespace = ns;
    const res: JsonObject = {};
    if (text(ref.name)) res.name = text(ref.name);
    if (text(ref.resource)) res.type = text(ref.resource);
    if (text(ref.subresource)) res.parent = { type: text(ref.resource) };
    if (Object.keys(res).length > 0) orch.resource = res;
  }
  ev.orchestrator = orch;
  const audit: JsonObject = { ...o };
  const ann = sanitizeKeys(o.annotations);
  if (ann) audit.annotations = ann;
  ev.kubernetes = { audit };
  return ev;
}

/** GKE Cloud Audit Log entry for the Kubernetes API. */
function gkeEvent(o: JsonObject, zone: ZoneOffset): EcsEvent | { code: string; reason: string } {
  const ts = timeOf(o.timestamp, zone) ?? timeOf(o.receiveTimestamp, zone);
  if (!ts) return { code: "k8s_audit_bad_timestamp", reason: "GKE audit entry has no valid timestamp" };
  const p = asObject(o.protoPayload) ?? {};
  const method = text(p.methodName);
  const verb = method?.split(".").pop();
  const [category, type] = typeOfVerb(verb, undefined);
  const ev: EcsEvent = { "@timestamp": ts, event: { id: "", kind: "event", category, type, dataset: "kubernetes.audit", module: "kubernetes" } };
  if (verb) ev.event.action = verb;
  const st = asObject(p.status);
  const code = typeof st?.code === "number" ? st.code : 0;
  ev.event.outcome = code === 0 ? "success" : "failure";
  const principal = text(asObject(p.authenticationInfo)?.principalEmail);
  if (principal) {
    ev.user = { name: principal };
    relate(ev, "user", principal);
  }
  const meta = asObject(p.requestMetadata);
  const ip = asIp(meta?.callerIp);
  if (ip) {
    ev.source = { address: ip, ip };
    relate(ev, "ip", ip);
  }
  const ua = text(meta?.callerSuppliedUserAgent);
  if (ua) ev.user_agent = { original: ua };
  const labels = asObject(asObject(o.resource)?.labels);
  const orch: JsonObject = { type: "kubernetes" };
  const cluster: JsonObject = {};
  if (text(labels?.cluster_name)) cluster.name = text(labels?.cluster_name);
  if (text(labels?.project_id)) cluster.id = text(labels?.project_id);
  if (Object.keys(cluster).length > 0) orch.cluster = cluster;
  const resource = text(p.resourceName);
  if (resource) {
    const parts = resource.split("/");
    orch.resource = { name: parts[parts.length - 1], type: text(asObject(o.resource)?.type) ?? parts[parts.length - 2] };
    if (parts[0] === "core" || parts.includes("namespaces")) {
      const i = parts.indexOf("namespaces");
      if (i >= 0 && parts[i + 1]) orch.namespace = parts[i + 1];
    }
  }
  ev.orchestrator = orch;
  if (text(labels?.location)) ev.cloud = { provider: "gcp", region: text(labels?.location), ...(text(labels?.project_id) ? { project: { id: text(labels?.project_id) } } : {}) };
  const audit: JsonObject = { ...o };
  const ann = sanitizeKeys(o.labels);
  if (ann) {
    audit.annotations = ann;
    delete audit.labels;
  }
  ev.kubernetes = { audit };
  return ev;
}

function isAudit(o: JsonObject): boolean {
  return (o.kind === "Event" && typeof o.apiVersion === "string" && o.apiVersion.startsWith("audit.k8s.io")) || (typeof o.auditID === "string" && typeof o.verb === "string");
}

function isGke(o: JsonObject): boolean {
  const p = asObject(o.protoPayload);
  return p !== undefined && (p.serviceName === "k8s.io" || (typeof p["@type"] === "string" && text(p.methodName)?.startsWith("io.k8s") === true));
}

/** Unwraps AKS diagnostic logs ({category: kube-audit*, properties: {log: <event or JSON text>}}). */
function unwrapAks(o: JsonObject, limits: typeof DEFAULT_JSON_LIMITS): JsonObject | undefined {
  const props = asObject(o.properties);
  if (!props || typeof o.category !== "string" || !o.category.startsWith("kube-audit")) return undefined;
  const log = props.log;
  if (typeof log === "string") {
    const r = parseJson(log, limits);
    return r.ok ? asObject(r.value) : undefined;
  }
  return asObject(log);
}

export const parser: Parser = lineParser({
  name: "k8s-audit",
  description: "Kubernetes API audit events: plain audit.k8s.io, EventList, GKE Cloud Audit Logs, AKS diagnostic logs",
  detect(sample) {
    if (!/^\s*[[{]/.test(sample)) return 0;
    if (sample.includes("audit.k8s.io")) return 0.97;
    if (sample.includes('"auditID"') && sample.includes('"verb"')) return 0.95;
    if (sample.includes('"protoPayload"') && sample.includes("io.k8s")) return 0.95;
    if (sample.includes('"kube-audit')) return 0.9;
    return 0;
  },
  parse(rec, env) {
    const limits = env.ctx.jsonLimits ?? DEFAULT_JSON_LIMITS;
    const r = parseJson(rec.data, limits, true);
    if (!r.ok) return r;
    const root = asObject(r.value);
    const list: JsonValue[] = Array.isArray(r.value) ? r.value : root && root.kind === "EventList" && Array.isArray(root.items) ? root.items : [r.value];
    const single = list.length === 1 && list[0] === r.value;
    if (list.length === 0) return { code: "k8s_audit_no_events", reason: "the document holds no audit events" };
    const out: Mixed = { events: [], rejected: [] };
    for (let i = 0; i < list.length; i++) {
      const data = single ? undefined : JSON.stringify(list[i]);
      const where = single ? "" : `item ${i}: `;
      let o = asObject(list[i]);
      const big = o ? checkLimits(o, limits) : null;
      if (big) {
        out.rejected.push({ code: big.code, reason: where + big.reason, data });
        continue;
      }
      if (o) o = unwrapAks(o, limits) ?? o;
      let ev: EcsEvent | { code: string; reason: string };
      if (o && isAudit(o)) ev = auditEvent(o, env.zone);
      else if (o && isGke(o)) ev = gkeEvent(o, env.zone);
      else ev = { code: "k8s_audit_not_an_event", reason: "JSON is not a Kubernetes audit event (no audit.k8s.io apiVersion, auditID/verb or GKE protoPayload)" };
      if (!("event" in ev)) {
        out.rejected.push({ code: ev.code, reason: where + ev.reason, data });
        continue;
      }
      out.events.push(finish(ev, rec, data ?? rec.data));
    }
    return out;
  },
});
