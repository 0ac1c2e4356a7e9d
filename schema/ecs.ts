// The common event schema: the subset of Elastic Common Schema (ECS) that Sigil reads and writes.
// Events are nested JSON objects; source-specific data stays under its own namespace
// (winlog.event_data.*, zeek.*, suricata.*, aws.cloudtrail.*, kubernetes.audit.*), so nothing is lost.

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue | undefined;
}

export type EventKind = "event" | "alert" | "signal" | "metric" | "state" | "pipeline_error" | "enrichment";

/** ECS event.category allowed values (ECS 8.x). */
export const EVENT_CATEGORIES = [
  "api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam",
  "intrusion_detection", "library", "malware", "network", "package", "process", "registry", "session",
  "threat", "vulnerability", "web",
] as const;
export type EventCategory = (typeof EVENT_CATEGORIES)[number];

/** ECS event.type allowed values (ECS 8.x). */
export const EVENT_TYPES = [
  "access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "end", "error",
  "group", "indicator", "info", "installation", "protocol", "start", "user",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const EVENT_OUTCOMES = ["success", "failure", "unknown"] as const;
export type EventOutcome = (typeof EVENT_OUTCOMES)[number];

export interface EcsEventField extends JsonObject {
  id?: string;
  kind?: EventKind;
  category?: EventCategory[];
  type?: EventType[];
  outcome?: EventOutcome;
  action?: string;
  dataset?: string;
  module?: string;
  provider?: string;
  code?: string;
  original?: string;
  created?: string;
  ingested?: string;
  duration?: number; // nanoseconds
  severity?: number;
  risk_score?: number;
  sequence?: number;
  timezone?: string;
}

export interface EcsHost extends JsonObject {
  name?: string;
  hostname?: string;
  id?: string;
  ip?: string[];
  mac?: string[];
  domain?: string;
  os?: JsonObject;
}

export interface EcsUser extends JsonObject {
  name?: string;
  id?: string;
  domain?: string;
  email?: string;
  full_name?: string;
  roles?: string[];
}

export interface EcsEndpoint extends JsonObject {
  ip?: string;
  port?: number;
  address?: string;
  domain?: string;
  bytes?: number;
  packets?: number;
  mac?: string;
  user?: EcsUser;
}

export interface EcsProcess extends JsonObject {
  pid?: number;
  name?: string;
  executable?: string;
  command_line?: string;
  args?: string[];
  entity_id?: string;
  working_directory?: string;
  parent?: EcsProcess;
  user?: EcsUser;
}

/**
 * A normalized event. Every event has `@timestamp` and `event.id`, `event.kind`, `event.category`,
 * `event.type`, `event.dataset`; other namespaces appear when the source carries them.
 */
export interface EcsEvent extends JsonObject {
  "@timestamp": string; // ISO 8601, UTC, e.g. 2026-11-21T05:00:00.000Z
  event: EcsEventField & { id: string; kind: EventKind; dataset: string };
  message?: string;
  tags?: string[];
  labels?: JsonObject;
  ecs?: { version: string };
  host?: EcsHost;
  user?: EcsUser;
  source?: EcsEndpoint;
  destination?: EcsEndpoint;
  client?: EcsEndpoint;
  server?: EcsEndpoint;
  process?: EcsProcess;
  file?: JsonObject;
  registry?: JsonObject;
  network?: JsonObject;
  url?: JsonObject;
  http?: JsonObject;
  user_agent?: JsonObject;
  dns?: JsonObject;
  service?: JsonObject & { name?: string };
  trace?: { id?: string };
  span?: { id?: string };
  transaction?: { id?: string };
  parent?: { id?: string };
  cloud?: JsonObject;
  orchestrator?: JsonObject;
  related?: { ip?: string[]; user?: string[]; hosts?: string[]; hash?: string[] };
  log?: JsonObject; // log.file.path, log.offset, log.level, log.syslog.*
  observer?: JsonObject;
  agent?: JsonObject;
  rule?: JsonObject;
  threat?: JsonObject;
  error?: JsonObject;
  sigil?: JsonObject; // Sigil's own metadata (e.g. sigil.logsource, sigil.input)
}

/** ECS version Sigil emits in `ecs.version`. */
export const ECS_VERSION = "8.11.0";
