// Events that are already ECS (Sigil's own output, Beats/Elastic Agent documents, other ECS shippers):
// dotted keys expanded, @timestamp brought to UTC, required event fields filled in, common ECS 1.x
// leftovers repaired (string categories, values ECS 8 no longer allows, arrays in single-value fields),
// event.id kept when it is Sigil's 32-hex id and derived otherwise. Invalid events are rejected with
// every schema problem listed.

import type { EcsEvent, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { EVENT_CATEGORIES, EVENT_OUTCOMES, EVENT_TYPES } from "../../../schema/ecs.ts";
import { EVENT_ID_PATTERN, eventId } from "../../../schema/event-id.ts";
import { isUnsafeKey } from "../../../schema/fields.ts";
import { validateEvent } from "../../../schema/validate.ts";
import type { Parser } from "../types.ts";
import { lineParser } from "../common/line-parser.ts";
import { asObject, parseJsonObject } from "../common/json.ts";
import { asIp } from "../common/net.ts";
import { parseIso, toIso, type ZoneOffset } from "../common/time.ts";
import { timeOf } from "../app-json/index.ts";

const CATEGORIES = new Set<string>(EVENT_CATEGORIES);
const TYPES = new Set<string>(EVENT_TYPES);
const OUTCOMES = new Set<string>(EVENT_OUTCOMES);
const KINDS = new Set(["event", "alert", "signal", "metric", "state", "pipeline_error", "enrichment"]);
const SIGIL_ID = /"id"\s*:\s*"[0-9a-f]{32}"/;

/** ECS 1.x event.category / event.type values and their ECS 8 equivalents. */
const LEGACY_CATEGORY: Record<string, string> = { network_traffic: "network", authentication_success: "authentication", authentication_failure: "authentication" };
const LEGACY_TYPE: Record<string, string> = { authentication_success: "info", authentication_failure: "info" };

/** Expands "a.b.c": v keys into nested objects (nested keys win over dotted ones they collide with). */
export function expandDotted(o: JsonObject, depth = 0): JsonObject {
  if (depth > 32) return o;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    const val = asObject(v) ? expandDotted(v as JsonObject, depth + 1) : v;
    if (!k.includes(".") || k.startsWith("@") || k.endsWith(".")) {
      if (isUnsafeKey(k)) continue;
      const prev = asObject(out[k]);
      out[k] = prev && asObject(val) ? { ...(val as JsonObject), ...prev } : val;
      continue;
    }
    const parts = k.split(".");
    if (parts.some((p) => p === "" || isUnsafeKey(p))) continue;
    let cur = out;
    let ok = true;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = cur[parts[i]];
      if (next === undefined) cur = cur[parts[i]] = {};
      else if (asObject(next)) cur = next as JsonObject;
      else {
        ok = false;
        break;
      }
    }
    const last = parts[parts.length - 1];
    if (ok && cur[last] === undefined) cur[last] = val;
  }
  return out;
}

function asList(v: JsonValue | undefined): JsonValue[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** Fixes what ECS 1.x shippers commonly produce; returns notes about what was changed. */
function repair(ev: JsonObject, zone: ZoneOffset): string[] {
  const notes: string[] = [];
  const ts = ev["@timestamp"];
  if (typeof ts === "string" || typeof ts === "number") {
    const ms = typeof ts === "string" ? parseIso(ts, zone) : NaN;
    const iso = toIso(Number.isNaN(ms) ? timeOf(ts, zone) : ms);
    if (iso && iso !== ts) ev["@timestamp"] = iso;
  }
  const e = (asObject(ev.event) ?? (ev.event = {})) as JsonObject;
  if (typeof e.kind !== "string" || !KINDS.has(e.kind)) {
    if (e.kind !== undefined) notes.push(`event.kind ${JSON.stringify(e.kind)} replaced by "event"`);
    e.kind = "event";
  }
  const cats: string[] = [];
  for (const c of asList(e.category)) {
    const v = typeof c === "string" ? LEGACY_CATEGORY[c] ?? c : "";
    if (v !== c) notes.push(`event.category ${JSON.stringify(c)} became ${JSON.stringify(v)}`);
    if (CATEGORIES.has(v)) {
      if (!cats.includes(v)) cats.push(v);
    } else notes.push(`event.category ${JSON.stringify(c)} is not an ECS 8 category`);
  }
  e.category = cats;
  const types: string[] = [];
  for (const t of asList(e.type)) {
    const v = typeof t === "string" ? LEGACY_TYPE[t] ?? t : "";
    if (v !== t) notes.push(`event.type ${JSON.stringify(t)} became ${JSON.stringify(v)}`);
    if (TYPES.has(v)) {
      if (!types.includes(v)) types.push(v);
    } else notes.push(`event.type ${JSON.stringify(t)} is not an ECS 8 type`);
  }
  e.type = types.length > 0 ? types : ["info"];
  if (e.outcome !== undefined && (typeof e.outcome !== "string" || !OUTCOMES.has(e.outcome))) {
    notes.push(`event.outcome ${JSON.stringify(e.outcome)} is not success, failure or unknown`);
    delete e.outcome;
  }
  if (typeof e.dataset !== "string" || e.dataset === "") e.dataset = typeof e.module === "string" && e.module ? `${e.module}.generic` : "ecs.generic";
  for (const side of ["source", "destination", "client", "server"]) {
    const s = asObject(ev[side]);
    if (!s) continue;
    if (Array.isArray(s.ip)) s.ip = s.ip.find((x) => asIp(x) !== undefined) ?? null;
    if (s.ip === null || (s.ip !== undefined && asIp(s.ip) === undefined)) delete s.ip;
    if (typeof s.port === "string" && /^\d{1,5}$/.test(s.port)) s.port = Number(s.port);
  }
  const proc = asObject(ev.process);
  if (proc && typeof proc.pid === "string" && /^\d+$/.test(proc.pid)) proc.pid = Number(proc.pid);
  const http = asObject(asObject(ev.http)?.response);
  if (http && typeof http.status_code === "string" && /^\d{3}$/.test(http.status_code)) http.status_code = Number(http.status_code);
  const related = asObject(ev.related);
  if (related && Array.isArray(related.ip)) related.ip = related.ip.filter((x) => asIp(x) !== undefined);
  for (const k of ["host", "user", "service"]) {
    const o = asObject(ev[k]);
    if (o && Array.isArray(o.name)) o.name = typeof o.name[0] === "string" ? o.name[0] : undefined;
  }
  return notes;
}

export const parser: Parser = lineParser({
  name: "ecs",
  description: "events that are already ECS (Sigil output, Beats and Elastic Agent documents): repaired, completed and validated",
  detect(sample) {
    if (!/^\s*\{/.test(sample) || !sample.includes('"@timestamp"')) return 0;
    const nested = /"event"\s*:\s*\{/.test(sample);
    const flat = /"event\.(dataset|kind|module|category)"\s*:/.test(sample);
    if (!nested && !flat) return 0;
    if (SIGIL_ID.test(sample) && /"dataset"\s*:/.test(sample)) return 0.99;
    // raw shapes that happen to carry ECS-looking keys (Winlogbeat documents) belong to their own parser
    return sample.includes('"winlog"') ? 0.55 : 0.85;
  },
  parse(rec, env) {
    const r = parseJsonObject(rec.data, env.ctx.jsonLimits);
    if (!r.ok) return r;
    const ev = expandDotted(r.value);
    const notes = repair(ev, env.zone);
    const e = ev.event as JsonObject;
    const given = typeof e.id === "string" ? e.id : undefined;
    const problems = validateEvent({ ...ev, event: { ...e, id: given && EVENT_ID_PATTERN.test(given) ? given : "0".repeat(32) } });
    if (problems.length > 0) {
      return { code: "ecs_invalid", reason: problems.map((p) => `${p.location?.key ?? ""}: ${p.message}`).join("; ").slice(0, 500) };
    }
    const out = ev as unknown as EcsEvent;
    if (notes.length > 0) out.tags = [...(Array.isArray(out.tags) ? out.tags : []), "sigil_ecs_repaired"];
    // Sigil's own id is kept, so replays of normalized output deduplicate with the original
    if (given && EVENT_ID_PATTERN.test(given)) return out;
    if (given) out.labels = { ...(asObject(out.labels as JsonValue) ?? {}), original_event_id: given };
    out.event.id = eventId(out.event.dataset, rec.data, rec.origin);
    if (rec.host !== undefined && !out.host?.name) out.host = { ...(out.host ?? {}), name: rec.host };
    return out;
  },
});
