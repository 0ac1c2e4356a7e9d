// Signals, chains and alerts: what correlate publishes on sigil.signals, what the chain builder
// publishes on sigil.alerts, and what the store and console keep. They are ECS documents too.

import type { EcsEvent, JsonObject, JsonValue } from "./ecs.ts";

export const LEVELS = ["informational", "low", "medium", "high", "critical"] as const;
export type Level = (typeof LEVELS)[number];

/** ECS event.severity and event.risk_score per Sigma level (Elastic's detection-rule convention). */
export const LEVEL_SEVERITY: Record<Level, number> = { informational: 1, low: 2, medium: 3, high: 4, critical: 5 };
export const LEVEL_RISK: Record<Level, number> = { informational: 10, low: 21, medium: 47, high: 73, critical: 99 };

export type SignalType = "match" | "correlation" | "anomaly";

/** A rule as carried on signals and alerts (the author stays attached: DRL 1.1). */
export interface SignalRule extends JsonObject {
  id: string;
  name?: string;
  title: string;
  level: Level;
  author?: string;
  tags?: string[];
  description?: string;
  references?: string[];
  status?: string;
}

/** The event behind a signal, and where it came from (for replay: input file and 1-based line). */
export interface EventRef extends JsonObject {
  id: string;
  "@timestamp": string;
  dataset?: string;
  file?: string;
  line?: number;
}

export interface CorrelationInfo extends JsonObject {
  type: string; // event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile, value_median
  group: JsonObject; // group-by field → value
  value: number;
  first_seen: string;
  last_seen: string;
  timespan_ms: number;
}

export interface AnomalyInfo extends JsonObject {
  metric: string; // e.g. "event_count", "distinct_count:destination.ip", "sum:destination.bytes", "first_seen:user.name"
  entity: { field: string; value: string };
  interval_start: string;
  interval_ms: number;
  observed: number;
  expected: { low: number; high: number; center: number };
  score: number; // robust z-score or similar, >= threshold when raised
}

/**
 * A routing copy of a match on `sigil.signals` (docs/decisions/0015): input for correlation or
 * baseline rules, keyed (signal.key) by their group-by or entity value so that every group is
 * evaluated on one partition. Not an alert by itself: the chain builder and the store skip it.
 */
export interface SignalRoute extends JsonObject {
  /** Correlation rule ids this copy feeds. */
  correlations?: string[];
  /** Anomaly rule ids this copy feeds. */
  baselines?: string[];
  /** The event fields those rules read (dotted path → value). */
  fields: JsonObject;
  /** The `sigil.events` partition the matched event was read from (the runner's per-input watermark). */
  src?: number;
}

/**
 * A signal: one rule match, one correlation hit or one anomaly. Entity fields of the (last) source
 * event are copied to the top level (host, user, source, destination, process, service, trace, span,
 * parent, cloud, orchestrator, related, winlog.logon ...), so the chain builder links without lookups.
 */
export interface Signal extends JsonObject {
  "@timestamp": string; // event time of the last contributing event
  event: { id: string; kind: "signal"; dataset: "sigil.signal"; severity: number; risk_score: number; created?: string };
  rule: SignalRule;
  threat?: {
    framework: "MITRE ATT&CK";
    tactic: { name: string[]; id?: string[] };
    technique: { id: string[]; name?: string[] };
  };
  signal: {
    type: SignalType;
    key: string; // the partition key used on sigil.signals
    events: EventRef[];
    correlation?: CorrelationInfo;
    anomaly?: AnomalyInfo;
    route?: SignalRoute;
  };
}

export type AlertStatus = "new" | "acknowledged" | "in_progress" | "closed";
export const ALERT_STATUSES: readonly AlertStatus[] = ["new", "acknowledged", "in_progress", "closed"];

export interface ChainStep extends JsonObject {
  signal_id: string;
  "@timestamp": string;
  rule: { id: string; title: string; level: Level };
  tactic?: string;
  technique?: string;
  host?: string;
  user?: string;
  why: string[]; // why this step joined the chain, e.g. "user bob (normalized from CORP\\bob) shared with step 2"
  events: EventRef[];
}

export interface ChainLink extends JsonObject {
  from: string; // signal id
  to: string; // signal id
  entity: { type: string; value: string }; // type: user, host, ip, process, session, trace, cloud_key, ...
  reason: string;
}

export interface Chain extends JsonObject {
  id: string;
  "@timestamp": string; // last update
  version: number;
  score: number;
  tactics: string[];
  techniques: string[];
  entities: { users: string[]; hosts: string[]; ips: string[]; services: string[]; processes?: string[] };
  first_seen: string;
  last_seen: string;
  steps: ChainStep[];
  links: ChainLink[];
}

export interface AlertNote extends JsonObject {
  id: string;
  author: string;
  at: string;
  text: string;
}

/** An alert: the analyst-facing unit of work, usually one per chain; updated, never duplicated. */
export interface Alert extends JsonObject {
  id: string;
  "@timestamp": string; // created
  updated: string;
  version: number; // bumped on every change; triage uses it for optimistic concurrency
  title: string;
  level: Level;
  risk_score: number;
  status: AlertStatus;
  close_reason?: string | null;
  assignee?: string | null;
  notes: AlertNote[];
  chain_id?: string;
  rule_ids: string[];
  tactics: string[];
  techniques: string[];
  entities: { users: string[]; hosts: string[]; ips: string[]; services: string[] };
  first_seen: string;
  last_seen: string;
  signal_count: number;
  duplicate_count: number; // signals suppressed into this alert (same rule and entity within the window)
}

/** An append-only audit record: who did what, when, to what. */
export interface AuditRecord extends JsonObject {
  id: string;
  "@timestamp": string;
  actor: string; // user name, "token:<id>", or "system"
  action: string; // e.g. "auth.sign_in", "auth.sign_in_failed", "alert.update", "rules.change", "token.create", "user.disable", "config.change"
  target?: string;
  outcome: "success" | "failure";
  details?: JsonObject;
  source_ip?: string;
}

/** Entity fields copied from an event onto the signals it produces. */
export const SIGNAL_ENTITY_FIELDS = [
  "host", "user", "source", "destination", "process", "service", "trace", "span", "parent", "transaction",
  "cloud", "orchestrator", "related", "file", "url", "http", "user_agent", "dns", "registry", "network",
] as const;

/** Copies entity namespaces (and winlog logon ids) from an event; shallow, the values are shared. */
export function entityFieldsOf(e: EcsEvent): JsonObject {
  const out: JsonObject = {};
  for (const f of SIGNAL_ENTITY_FIELDS) {
    const v = e[f] as JsonValue | undefined;
    if (v !== undefined) out[f] = v;
  }
  const winlog = e["winlog"] as JsonObject | undefined;
  if (winlog && typeof winlog === "object") {
    const w: JsonObject = {};
    if (winlog["logon"] !== undefined) w["logon"] = winlog["logon"];
    if (winlog["computer_name"] !== undefined) w["computer_name"] = winlog["computer_name"];
    const ed = winlog["event_data"] as JsonObject | undefined;
    if (ed && typeof ed === "object") {
      const keep: JsonObject = {};
      for (const k of ["SubjectUserName", "SubjectDomainName", "SubjectUserSid", "SubjectLogonId", "TargetUserName", "TargetDomainName", "TargetUserSid", "TargetLogonId", "IpAddress", "WorkstationName", "LogonType", "ProcessGuid", "ParentProcessGuid", "SourceProcessGuid", "TargetProcessGuid", "LogonId", "LogonGuid", "User", "ParentUser"]) {
        if (ed[k] !== undefined) keep[k] = ed[k];
      }
      if (Object.keys(keep).length) w["event_data"] = keep;
    }
    if (Object.keys(w).length) out["winlog"] = w;
  }
  const aws = e["aws"] as JsonObject | undefined;
  if (aws && typeof aws === "object" && aws["cloudtrail"] && typeof aws["cloudtrail"] === "object") {
    const ct = aws["cloudtrail"] as JsonObject;
    const keep: JsonObject = {};
    if (ct["user_identity"] !== undefined) keep["user_identity"] = ct["user_identity"];
    if (Object.keys(keep).length) out["aws"] = { cloudtrail: keep };
  }
  return out;
}
