// The live queue's filters (severity, status, assignee, tactic, entity) and the alert summary the queue
// shows, shared by the console server (store query for snapshots) and the web app (URL state, matching
// live updates), so both sides agree on what a filter selects.

import type { QueryNode } from "../../platform/store/types.ts";
import type { Alert, AlertStatus, Level } from "../../schema/signal.ts";

export const FILTER_LEVELS: readonly Level[] = ["informational", "low", "medium", "high", "critical"];
export const FILTER_STATUSES: readonly AlertStatus[] = ["new", "acknowledged", "in_progress", "closed"];

export interface AlertFilter {
  severity: Level[];
  status: AlertStatus[];
  /** A user name, "me" (the viewer), "none" (unassigned) or null (anyone). */
  assignee: string | null;
  /** ATT&CK tactic name as on alerts, e.g. "credential-access". */
  tactic: string | null;
  /** A user, host, IP or service name carried by the alert. */
  entity: string | null;
}

export const EMPTY_FILTER: AlertFilter = { severity: [], status: [], assignee: null, tactic: null, entity: null };

const MAX_VALUE = 256;

function clean(v: string | null): string | null {
  if (v === null) return null;
  const t = v.trim();
  return t ? t.slice(0, MAX_VALUE) : null;
}

/** Reads a filter from URL search parameters; unknown values are dropped, never trusted. */
export function parseFilter(p: URLSearchParams): AlertFilter {
  const list = <T extends string>(key: string, allowed: readonly T[]) =>
    [...new Set(p.getAll(key).flatMap((v) => v.split(",")))].filter((v): v is T => (allowed as readonly string[]).includes(v));
  return {
    severity: list("severity", FILTER_LEVELS),
    status: list("status", FILTER_STATUSES),
    assignee: clean(p.get("assignee")),
    tactic: clean(p.get("tactic")),
    entity: clean(p.get("entity")),
  };
}

/** Writes a filter to URL search parameters (canonical order, empty values left out). */
export function filterToParams(f: AlertFilter, into = new URLSearchParams()): URLSearchParams {
  for (const k of ["severity", "status", "assignee", "tactic", "entity"]) into.delete(k);
  if (f.severity.length) into.set("severity", [...f.severity].sort((a, b) => FILTER_LEVELS.indexOf(a) - FILTER_LEVELS.indexOf(b)).join(","));
  if (f.status.length) into.set("status", [...f.status].sort((a, b) => FILTER_STATUSES.indexOf(a) - FILTER_STATUSES.indexOf(b)).join(","));
  if (f.assignee) into.set("assignee", f.assignee);
  if (f.tactic) into.set("tactic", f.tactic);
  if (f.entity) into.set("entity", f.entity);
  return into;
}

/** A stable key for a filter (cache key for counts). */
export function filterKey(f: AlertFilter, me: string): string {
  return JSON.stringify([filterToParams(f).toString(), f.assignee === "me" ? me : ""]);
}

const ENTITY_FIELDS = ["users", "hosts", "ips", "services"] as const;

function term(field: string, value: string): QueryNode {
  return { op: "term", field, value, wildcard: false, phrase: false };
}

function anyOf(field: string, vals: readonly string[]): QueryNode {
  return vals.length === 1 ? term(field, vals[0]) : { op: "or", args: vals.map((v) => term(field, v)) };
}

/** The store query selecting the alerts a filter shows; `withStatus: false` leaves status out (for counts by status). */
export function filterToQuery(f: AlertFilter, me: string, opts: { withStatus?: boolean } = {}): QueryNode {
  const args: QueryNode[] = [];
  if (f.severity.length) args.push(anyOf("level", f.severity));
  if (f.status.length && opts.withStatus !== false) args.push(anyOf("status", f.status));
  if (f.assignee === "none") args.push({ op: "not", arg: { op: "exists", field: "assignee" } });
  else if (f.assignee) args.push(term("assignee", f.assignee === "me" ? me : f.assignee));
  if (f.tactic) args.push(term("tactics", f.tactic));
  if (f.entity) args.push({ op: "or", args: ENTITY_FIELDS.map((k) => term(`entities.${k}`, f.entity!)) });
  if (args.length === 0) return { op: "all" };
  return args.length === 1 ? args[0] : { op: "and", args };
}

/** Alert fields the queue needs; what travels on the live channel (notes are fetched when opened). */
export interface AlertSummary {
  id: string;
  title: string;
  level: Level;
  risk_score: number;
  status: AlertStatus;
  close_reason: string | null;
  assignee: string | null;
  version: number;
  created: string;
  updated: string;
  first_seen: string;
  last_seen: string;
  chain_id: string | null;
  tactics: string[];
  techniques: string[];
  entities: { users: string[]; hosts: string[]; ips: string[]; services: string[] };
  signal_count: number;
  duplicate_count: number;
  notes: number;
}

const MAX_LIST = 50;

function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string").slice(0, MAX_LIST).map((x) => x.slice(0, MAX_VALUE)) : [];
}

function str(v: unknown, fallback = ""): string {
  return typeof v === "string" ? v : fallback;
}

export function summarizeAlert(a: Alert): AlertSummary {
  const e = (a.entities ?? {}) as Partial<Alert["entities"]>;
  return {
    id: a.id,
    title: str(a.title, a.id).slice(0, 500),
    level: FILTER_LEVELS.includes(a.level) ? a.level : "medium",
    risk_score: typeof a.risk_score === "number" ? a.risk_score : 0,
    status: FILTER_STATUSES.includes(a.status) ? a.status : "new",
    close_reason: typeof a.close_reason === "string" ? a.close_reason : null,
    assignee: typeof a.assignee === "string" && a.assignee ? a.assignee : null,
    version: typeof a.version === "number" ? a.version : 0,
    created: str(a["@timestamp"]),
    updated: str(a.updated, str(a["@timestamp"])),
    first_seen: str(a.first_seen),
    last_seen: str(a.last_seen),
    chain_id: typeof a.chain_id === "string" ? a.chain_id : null,
    tactics: strs(a.tactics),
    techniques: strs(a.techniques),
    entities: { users: strs(e.users), hosts: strs(e.hosts), ips: strs(e.ips), services: strs(e.services) },
    signal_count: typeof a.signal_count === "number" ? a.signal_count : 0,
    duplicate_count: typeof a.duplicate_count === "number" ? a.duplicate_count : 0,
    notes: Array.isArray(a.notes) ? a.notes.length : 0,
  };
}

/** Whether an alert (summary) is selected by a filter; the same selection as `filterToQuery`. */
export function matchesFilter(a: AlertSummary, f: AlertFilter, me: string): boolean {
  if (f.severity.length && !f.severity.includes(a.level)) return false;
  if (f.status.length && !f.status.includes(a.status)) return false;
  if (f.assignee === "none" && a.assignee) return false;
  if (f.assignee && f.assignee !== "none" && a.assignee !== (f.assignee === "me" ? me : f.assignee)) return false;
  if (f.tactic && !a.tactics.includes(f.tactic)) return false;
  if (f.entity) {
    const x = f.entity;
    if (!ENTITY_FIELDS.some((k) => a.entities[k].includes(x))) return false;
  }
  return true;
}
