// Parity with Elastic's shippers: normalizes a raw sample from ../shared/data/logs and compares a core
// field set with the output Filebeat 7.4 or the Elastic integration produced for the same lines.
// GeoIP, ASN and user-agent enrichment are not compared (they come from Elastic's databases).

import fs from "node:fs";
import { Readable } from "node:stream";
import type { EcsEvent, JsonObject, JsonValue } from "../schema/ecs.ts";
import { EVENT_CATEGORIES, EVENT_OUTCOMES, EVENT_TYPES } from "../schema/ecs.ts";
import { flatten } from "../schema/fields.ts";
import { Normalizer } from "./normalize.ts";
import { readRecords } from "./input.ts";
import { defaultParseContext, type Emit, type RawRecord } from "./parsers/types.ts";

/** The fields compared: what detections and analysts rely on. */
export const CORE_FIELDS = [
  "@timestamp", "event.category", "event.type", "event.action", "event.outcome",
  "source.ip", "source.port", "destination.ip", "destination.port",
  "user.name", "user.id", "host.hostname",
  "process.name", "process.pid", "process.executable", "process.args",
  "http.request.method", "http.request.referrer", "http.response.status_code", "http.response.body.bytes", "http.version",
  "url.original", "url.domain", "dns.question.name", "dns.response_code", "network.transport", "network.community_id", "file.path",
] as const;

const CATEGORIES = new Set<string>(EVENT_CATEGORIES);
const TYPES = new Set<string>(EVENT_TYPES);
const OUTCOMES = new Set<string>(EVENT_OUTCOMES);
/** ECS 1.x values Filebeat 7.4 wrote and their ECS 8 names. */
const LEGACY: Record<string, string> = { network_traffic: "network" };

export interface ParityCase {
  format: string;
  raw: string;
  expected: string;
  /** Clock for year-less stamps (the year the fixture was generated). */
  now?: string;
}

export interface Mismatch {
  line: number;
  field: string;
  expected: JsonValue;
  actual: JsonValue | undefined;
}

export interface ParityResult {
  format: string;
  file: string;
  events: number;
  compared: number;
  agreed: number;
  mismatches: Mismatch[];
}

/** Expected events of a file: Filebeat arrays of flat keys, or integration {"expected": [...]} nested. */
function loadExpected(file: string): Array<Record<string, JsonValue>> {
  const v = JSON.parse(fs.readFileSync(file, "utf8")) as JsonValue;
  const list = Array.isArray(v) ? v : ((v as JsonObject).expected as JsonValue[]);
  return list.map((e) => flatten(e as JsonObject));
}

function scalar(v: JsonValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Whether the actual value agrees with the expected one under the comparison rules above. */
function agrees(field: string, expected: JsonValue, actual: JsonValue | undefined, ours: Record<string, JsonValue>): boolean | null {
  if (field === "event.category" || field === "event.type") {
    const allowed = field === "event.category" ? CATEGORIES : TYPES;
    const want = (Array.isArray(expected) ? expected : [expected]).map((x) => LEGACY[String(x)] ?? String(x)).filter((x) => allowed.has(x));
    if (want.length === 0) return null; // ECS 1.x values (authentication_success ...) have no ECS 8 equivalent
    const got = Array.isArray(actual) ? actual.map(String) : actual === undefined ? [] : [String(actual)];
    return want.every((x) => got.includes(x));
  }
  if (field === "event.outcome" && !OUTCOMES.has(String(expected))) return null;
  if (field === "event.action" && typeof ours["event.module"] === "string" && ours["event.module"] === "auditd") {
    // auditd events join the records of one serial; Filebeat 7.4 made one event per record
    const types = ours["auditd.message_type"];
    if (Array.isArray(types) && types.some((t) => String(t).toLowerCase() === String(expected).toLowerCase())) return true;
  }
  if (field === "@timestamp") {
    const e = typeof expected === "number" ? expected : Date.parse(String(expected));
    const a = Date.parse(String(actual));
    if (!Number.isFinite(e) || !Number.isFinite(a)) return false;
    // Filebeat's epoch parsing kept whole seconds: compare at the precision the expected value has
    return e % 1000 === 0 && typeof expected === "number" ? Math.floor(a / 1000) === e / 1000 : a === e;
  }
  if (Array.isArray(expected)) {
    if (Array.isArray(actual)) return JSON.stringify(expected.map(String)) === JSON.stringify(actual.map(String));
    return expected.length === 1 && scalar(expected[0]) === scalar(actual);
  }
  if (actual === undefined) return false;
  if (Array.isArray(actual)) return actual.length === 1 && scalar(actual[0]) === scalar(expected);
  if (field === "http.request.method") return String(expected).toUpperCase() === String(actual).toUpperCase();
  return scalar(expected) === scalar(actual);
}

/** Normalizes the raw file with the named parser and compares its events with the expected ones. */
export async function runParity(c: ParityCase): Promise<ParityResult> {
  const now = c.now ? new Date(c.now) : new Date("2024-11-01T00:00:00Z");
  const ctx = defaultParseContext({ now: () => now });
  const n = new Normalizer({ format: c.format, ctx });
  const events: EcsEvent[] = [];
  const records: RawRecord[] = [];
  const emit: Emit = { event: (e) => events.push(e), reject: () => undefined };
  for await (const batch of readRecords(Readable.from(fs.readFileSync(c.raw)), { source: c.raw, path: c.raw })) {
    for (const r of batch.records) {
      records.push(r);
      n.push(r, emit);
    }
  }
  n.flush(emit);
  // each of our events, by the raw lines it was made from
  const byLine = new Map<string, EcsEvent>();
  for (const e of events) {
    const original = e.event.original ?? "";
    for (const l of original.split("\n")) if (!byLine.has(l)) byLine.set(l, e);
  }
  const expected = loadExpected(c.expected);
  const byOffset = new Map(records.map((r) => [r.offset, r]));
  const result: ParityResult = { format: c.format, file: c.raw, events: expected.length, compared: 0, agreed: 0, mismatches: [] };
  const badPort = (v: JsonValue | undefined) => typeof v === "number" && (v < 0 || v > 65535);
  expected.forEach((exp, i) => {
    // a port outside 0..65535 is not valid ECS; Community ID needs 16-bit ports, so neither is compared
    const invalidPorts = badPort(exp["source.port"]) || badPort(exp["destination.port"]);
    const rec = typeof exp["log.offset"] === "number" ? byOffset.get(exp["log.offset"]) : records[i];
    const ours = rec ? byLine.get(rec.data) : undefined;
    const flat = ours ? flatten(ours) : {};
    for (const field of CORE_FIELDS) {
      const want = exp[field];
      if (want === undefined || want === null || want === "" || want === "-") continue;
      if (invalidPorts && (field.endsWith(".port") || field === "network.community_id")) continue;
      const verdict = agrees(field, want, flat[field], flat);
      if (verdict === null) continue;
      result.compared++;
      if (verdict) result.agreed++;
      else result.mismatches.push({ line: rec?.line ?? -1, field, expected: want, actual: flat[field] });
    }
  });
  return result;
}

/** The raw → expected pairs in the shared data, with the parser each is for. */
export function parityCases(dataDir: string): ParityCase[] {
  const d = (p: string) => `${dataDir}/logs/${p}`;
  const beats = (folder: string, sub: string, files: string[], format: string): ParityCase[] =>
    files.map((f) => ({ format, raw: d(`${folder}/${sub}/${f}`), expected: d(`${folder}/${sub}/${f}-expected.json`) }));
  return [
    ...beats("sshd-auth", "elastic-beats-7.4-system-auth", ["test.log", "auth-ubuntu1204.log", "timestamp.log"], "sshd-auth"),
    ...beats("syslog-rfc3164", "elastic-beats-7.4-system-syslog", ["darwin-syslog-sample.log", "suse-syslog.log", "tz-offset.log"], "syslog-rfc3164"),
    { format: "syslog-rfc5424", raw: d("syslog-rfc5424/elastic-integrations/test-5424.log"), expected: d("syslog-rfc5424/elastic-integrations/test-5424.log-expected.json"), now: "2024-11-01T00:00:00Z" },
    ...beats("apache-access", "elastic-beats-7.4-apache-access", ["darwin-2.4.23.log", "ssl-request.log", "test.log"], "apache-access"),
    ...beats("apache-error", "elastic-beats-7.4-apache-error", ["darwin-2.4.23.log", "test.log"], "apache-error"),
    ...beats("nginx-access", "elastic-beats-7.4-nginx-access", ["access.log"], "nginx-access"),
    ...beats("nginx-access", "elastic-beats-7.4-nginx-error", ["error.log"], "nginx-error"),
    ...beats("linux-auditd", "elastic-beats-7.4-auditd", ["audit-rhel6.log", "test.log"], "linux-auditd"),
    ...beats("zeek", "elastic-beats-7.4-zeek", ["connection-json.log", "dns-json.log", "files-json.log", "http-json.log", "notice-json.log", "ssl-json.log"], "zeek"),
    ...beats("suricata-eve", "elastic-beats-7.4-suricata", ["eve-dns-4.1.4.log", "eve-small.log"], "suricata-eve"),
    { format: "aws-cloudtrail", raw: d("aws-cloudtrail/elastic-integrations/test-console-login-json.log"), expected: d("aws-cloudtrail/elastic-integrations/test-console-login-json.log-expected.json") },
    { format: "k8s-audit", raw: d("k8s-audit/elastic-integrations/test-audit.log"), expected: d("k8s-audit/elastic-integrations/test-audit.log-expected.json") },
  ];
}
