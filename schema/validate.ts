// Validation of a normalized event against the common schema: the fields every event must have and
// the types of the entity fields Sigil reads. Returns problems as data; never throws.

import { EVENT_CATEGORIES, EVENT_OUTCOMES, EVENT_TYPES, type EcsEvent } from "./ecs.ts";
import type { Problem } from "../platform/errors.ts";

const CATEGORY_SET = new Set<string>(EVENT_CATEGORIES);
const TYPE_SET = new Set<string>(EVENT_TYPES);
const OUTCOME_SET = new Set<string>(EVENT_OUTCOMES);
const KINDS = new Set(["event", "alert", "signal", "metric", "state", "pipeline_error", "enrichment"]);
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Fields whose type the schema fixes, by dotted path. */
const TYPED_FIELDS: Record<string, "string" | "number" | "string[]" | "ip" | "ip[]" | "port"> = {
  "host.name": "string",
  "host.ip": "ip[]",
  "service.name": "string",
  "user.name": "string",
  "user.id": "string",
  "user.domain": "string",
  "source.ip": "ip",
  "source.port": "port",
  "destination.ip": "ip",
  "destination.port": "port",
  "process.pid": "number",
  "process.name": "string",
  "process.executable": "string",
  "process.command_line": "string",
  "process.parent.pid": "number",
  "url.original": "string",
  "http.response.status_code": "number",
  "http.request.method": "string",
  "trace.id": "string",
  "span.id": "string",
  "event.original": "string",
  "event.action": "string",
  "event.duration": "number",
  "related.ip": "ip[]",
  "related.user": "string[]",
  "related.hosts": "string[]",
};

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]+(%[\w.-]+)?$/;

export function isIp(v: string): boolean {
  return IPV4.test(v) || (v.includes(":") && IPV6.test(v));
}

function get(e: unknown, path: string): unknown {
  let cur: unknown = e;
  for (const p of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function problem(code: string, key: string, message: string): Problem {
  return { code, message, severity: "error", location: { key } };
}

/** Every schema problem of an event; an empty list means valid. */
export function validateEvent(e: unknown): Problem[] {
  const out: Problem[] = [];
  if (e === null || typeof e !== "object" || Array.isArray(e)) return [problem("event_not_object", "", "event is not a JSON object")];
  const ts = get(e, "@timestamp");
  if (typeof ts !== "string") out.push(problem("event_missing_field", "@timestamp", "@timestamp is required"));
  else if (!ISO_UTC.test(ts) || Number.isNaN(Date.parse(ts))) out.push(problem("event_bad_timestamp", "@timestamp", `@timestamp ${JSON.stringify(ts)} is not an ISO 8601 UTC time`));
  const ev = get(e, "event");
  if (ev === null || typeof ev !== "object") {
    out.push(problem("event_missing_field", "event", "event object is required"));
    return out;
  }
  const id = get(e, "event.id");
  if (typeof id !== "string" || id.length === 0) out.push(problem("event_missing_field", "event.id", "event.id is required"));
  const kind = get(e, "event.kind");
  if (typeof kind !== "string" || !KINDS.has(kind)) out.push(problem("event_bad_value", "event.kind", `event.kind ${JSON.stringify(kind)} is not an ECS kind`));
  const dataset = get(e, "event.dataset");
  if (typeof dataset !== "string" || dataset.length === 0) out.push(problem("event_missing_field", "event.dataset", "event.dataset is required"));
  for (const [key, allowed] of [["event.category", CATEGORY_SET], ["event.type", TYPE_SET]] as const) {
    const v = get(e, key);
    if (!Array.isArray(v)) out.push(problem("event_missing_field", key, `${key} is required and must be an array`));
    else for (const x of v) if (typeof x !== "string" || !allowed.has(x)) out.push(problem("event_bad_value", key, `${key} value ${JSON.stringify(x)} is not allowed by ECS`));
  }
  const outcome = get(e, "event.outcome");
  if (outcome !== undefined && (typeof outcome !== "string" || !OUTCOME_SET.has(outcome))) out.push(problem("event_bad_value", "event.outcome", `event.outcome ${JSON.stringify(outcome)} is not success, failure or unknown`));
  for (const [key, type] of Object.entries(TYPED_FIELDS)) {
    const v = get(e, key);
    if (v === undefined) continue;
    if (!matchesType(v, type)) out.push(problem("event_bad_type", key, `${key} must be ${type}, got ${JSON.stringify(v)?.slice(0, 80)}`));
  }
  return out;
}

function matchesType(v: unknown, type: string): boolean {
  switch (type) {
    case "string": return typeof v === "string";
    case "number": return typeof v === "number" && Number.isFinite(v);
    case "port": return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 65535;
    case "ip": return typeof v === "string" && isIp(v);
    case "string[]": return Array.isArray(v) && v.every((x) => typeof x === "string");
    case "ip[]": return Array.isArray(v) && v.every((x) => typeof x === "string" && isIp(x));
    default: return false;
  }
}

/** Narrowing helper for code that has just validated. */
export function isValidEvent(e: unknown): e is EcsEvent {
  return validateEvent(e).length === 0;
}
