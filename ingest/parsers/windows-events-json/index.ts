// Windows event log records as JSON → ECS: the EVTX rendering (Event.System / Event.EventData or
// UserData, XML attributes under #attributes), the flat OTRF/NXLog/Logstash shape and the Winlogbeat
// shape. winlog.event_data.* keeps every EventData field verbatim (spaces stripped from names).
// Event time is the record's own clock (System.TimeCreated, Sysmon's UtcTime, TimeCreated/EventTime of
// a flat export), with export clocks calibrated per host against Sysmon's UTC clock (see Clocks).

import type { EcsEvent, EventCategory, EventType, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { eventId } from "../../../schema/event-id.ts";
import { isUnsafeKey, safeJsonParse, safeKeyName } from "../../../schema/fields.ts";
import type { Emit, ParseContext, Parser, ParserSession, RawRecord } from "../types.ts";
import { recordOfEvent } from "../common/event.ts";
import { compileZone, localToUtc, type ZoneOffset } from "../common/time.ts";

const MAX_RECORD = 1024 * 1024;
const MAX_FIELDS = 4096;

/** Keys of the flat OTRF/NXLog/HELK shape that describe the record, not its EventData. */
const FLAT_SYSTEM = new Set([
  "EventID", "Channel", "Hostname", "SourceName", "ProviderGuid", "Task", "Keywords", "Level", "Opcode", "OpcodeValue",
  "RecordNumber", "ExecutionProcessID", "ThreadID", "EventReceivedTime", "EventTime", "@timestamp", "@version", "host",
  "port", "tags", "SourceModuleName", "SourceModuleType", "Severity", "SeverityValue", "Version", "Category", "Message",
  "TimeCreated", "UserID", "AccountName", "AccountType", "Domain", "EventTypeOrignal", "ERROR_EVT_UNRESOLVED",
]);
const NXLOG_EVENT_TYPES = new Set(["INFO", "AUDIT_SUCCESS", "AUDIT_FAILURE", "WARNING", "ERROR", "VERBOSE", "CRITICAL"]);

export const SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational";

type Obj = Record<string, unknown>;

function asObj(v: unknown): Obj | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined;
}

function attr(v: unknown, name: string): unknown {
  return asObj(asObj(v)?.["#attributes"])?.[name];
}

function scalar(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const o = asObj(v);
  if (o && "#text" in o) return scalar(o["#text"]);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// EventData and UserData

/** Field names as stored: whitespace removed, unsafe names renamed, "" dropped (null). Cached: names repeat. */
const keyNames = new Map<string, string | null>();
const MAX_KEY_NAMES = 8192;
const WHITESPACE = /\s/;

function keyName(key: string): string | null {
  let k = keyNames.get(key);
  if (k !== undefined) return k;
  let n = WHITESPACE.test(key) ? key.replace(/\s+/g, "") : key;
  if (isUnsafeKey(n)) n = safeKeyName(n);
  k = n === "" ? null : n;
  if (keyNames.size >= MAX_KEY_NAMES) keyNames.clear();
  keyNames.set(key, k);
  return k;
}

/** Sets a field under its stored name (never an unsafe key, so a plain assignment is safe). */
function putKey(out: JsonObject, key: string, v: JsonValue): void {
  const k = keyName(key);
  if (k !== null) out[k] = v;
}

/** EventData/UserData values: `#text` unwrapped, `#attributes` dropped, names without spaces. */
function cleanValue(v: unknown, depth = 0): JsonValue {
  if (v === null || typeof v !== "object") return v as JsonValue;
  if (depth > 16) return null;
  if (Array.isArray(v)) return v.map((x) => cleanValue(x, depth + 1));
  const o = v as Obj;
  if ("#text" in o) return cleanValue(o["#text"], depth + 1);
  const out: JsonObject = {};
  for (const k in o) if (k !== "#attributes") putKey(out, k, cleanValue(o[k], depth + 1));
  return out;
}

/** Flattens EventData: named keys, or `Data: [{#attributes: {Name}, #text}]`, or unnamed Data values. */
function flattenEventData(ed: unknown): JsonObject {
  const out: JsonObject = {};
  const o = asObj(ed);
  if (!o) return out;
  for (const k in o) {
    if (k === "#attributes") continue;
    const v = o[k];
    if (k === "Data" && (Array.isArray(v) || asObj(v))) {
      const items = Array.isArray(v) ? v : [v];
      const unnamed: JsonValue[] = [];
      for (const it of items) {
        const name = attr(it, "Name");
        if (typeof name === "string") putKey(out, name, cleanValue(it));
        else if (asObj(it) && Array.isArray((it as Obj)["#text"])) unnamed.push(...((it as Obj)["#text"] as unknown[]).map((x) => cleanValue(x)));
        else unnamed.push(cleanValue(it));
      }
      if (unnamed.length) out.Data = unnamed.length === 1 ? unnamed[0] : unnamed;
      continue;
    }
    putKey(out, k, cleanValue(v));
  }
  return out;
}

/** UserData holds one element whose children are the fields. */
function flattenUserData(ud: unknown): JsonObject {
  const out: JsonObject = {};
  const o = asObj(ud);
  if (!o) return out;
  for (const k in o) {
    if (k === "#attributes") continue;
    const inner = asObj(o[k]);
    if (inner) {
      for (const ik in inner) if (ik !== "#attributes") putKey(out, ik, cleanValue(inner[ik]));
    } else putKey(out, k, cleanValue(o[k]));
  }
  return out;
}

/** Drops empty objects nested in EventData/UserData values (they carry nothing). */
function dropEmpty(o: JsonObject): boolean {
  let any = false;
  for (const k in o) {
    const v = o[k];
    if (v !== null && typeof v === "object" && !Array.isArray(v) && !dropEmpty(v as JsonObject)) delete o[k];
    else any = true;
  }
  return any;
}

function hasNestedObject(o: JsonObject): boolean {
  for (const k in o) {
    const v = o[k];
    if (v !== null && typeof v === "object" && !Array.isArray(v)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Records

/** The source-neutral view of one record before ECS mapping. */
interface WinRecord {
  eventId: string;
  channel?: string;
  provider?: string;
  providerGuid?: string;
  computer?: string;
  recordId?: number;
  /** The record's own UTC time: System.TimeCreated of the EVTX rendering, Sysmon's UtcTime, Winlogbeat's @timestamp. */
  utcTime?: string;
  /** Time from an export's clock (flat shape): TimeCreated, EventTime or @timestamp, and which one. */
  exportTime?: string;
  exportField?: string;
  /** TimeCreated as a flat export wrote it (kept in winlog.time_created). */
  timeCreated?: string;
  level?: string;
  task?: string;
  opcode?: string;
  keywords?: string;
  version?: string;
  pid?: number;
  tid?: number;
  userSid?: string;
  eventData: JsonObject;
  userData?: JsonObject;
  message?: string;
  /** ECS namespaces already present (Winlogbeat shape). */
  ecs?: Obj;
}

const DIGITS = /^\d+$/;

function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && DIGITS.test(v)) return Number(v);
  return undefined;
}

function fromNested(o: Obj): WinRecord | string {
  const ev = asObj(o.Event);
  const sys = asObj(ev?.System);
  if (!ev || !sys) return "Event.System is missing";
  const eid = scalar(sys.EventID);
  if (eid === undefined) return "Event.System.EventID is missing";
  return {
    eventId: eid,
    channel: scalar(sys.Channel),
    provider: scalar(attr(sys.Provider, "Name")),
    providerGuid: scalar(attr(sys.Provider, "Guid")),
    computer: scalar(sys.Computer),
    recordId: num(scalar(sys.EventRecordID)),
    utcTime: scalar(attr(sys.TimeCreated, "SystemTime")),
    level: scalar(sys.Level),
    task: scalar(sys.Task),
    opcode: scalar(sys.Opcode),
    keywords: scalar(sys.Keywords),
    version: scalar(sys.Version),
    pid: num(attr(sys.Execution, "ProcessID")),
    tid: num(attr(sys.Execution, "ThreadID")),
    userSid: scalar(attr(sys.Security, "UserID")),
    eventData: flattenEventData(ev.EventData),
    userData: ev.UserData ? flattenUserData(ev.UserData) : undefined,
    message: scalar(o.Message) ?? scalar(ev.RenderingInfo && asObj(ev.RenderingInfo)?.Message),
  };
}

function fromFlat(o: Obj): WinRecord | string {
  const eid = scalar(o.EventID);
  if (eid === undefined) return "EventID is missing";
  const ed: JsonObject = {};
  const nxlogType = typeof o.EventType === "string" && NXLOG_EVENT_TYPES.has(o.EventType) && !("EventTypeOrignal" in o);
  for (const k in o) {
    if (FLAT_SYSTEM.has(k)) continue;
    if (k === "EventType" && nxlogType) continue;
    const v = o[k];
    putKey(ed, k, v === null || typeof v !== "object" ? (v as JsonValue) : cleanValue(v));
  }
  // The event's own clock: Sysmon's UtcTime; else the export's TimeCreated, EventTime or @timestamp,
  // the first that names its zone (NXLog's EventTime is local time without one), else the first there.
  const timeCreated = scalar(o.TimeCreated);
  const eventTime = scalar(o.EventTime);
  const stamp = typeof o["@timestamp"] === "string" ? (o["@timestamp"] as string) : undefined;
  const exportField =
    timeCreated !== undefined && hasZone(timeCreated) ? "TimeCreated"
    : eventTime !== undefined && hasZone(eventTime) ? "EventTime"
    : stamp !== undefined && hasZone(stamp) ? "@timestamp"
    : timeCreated !== undefined ? "TimeCreated"
    : eventTime !== undefined ? "EventTime"
    : stamp !== undefined ? "@timestamp"
    : undefined;
  return {
    eventId: eid,
    channel: scalar(o.Channel),
    provider: scalar(o.SourceName),
    providerGuid: scalar(o.ProviderGuid),
    computer: scalar(o.Hostname) ?? scalar(o.host),
    recordId: num(o.RecordNumber),
    utcTime: typeof ed.UtcTime === "string" ? ed.UtcTime : undefined,
    exportTime: exportField === "TimeCreated" ? timeCreated : exportField === "EventTime" ? eventTime : stamp,
    exportField,
    timeCreated,
    level: scalar(o.Level),
    task: scalar(o.Task),
    opcode: scalar(o.Opcode),
    keywords: scalar(o.Keywords),
    version: scalar(o.Version),
    pid: num(o.ExecutionProcessID),
    tid: num(o.ThreadID),
    userSid: scalar(o.UserID),
    eventData: ed,
    message: scalar(o.Message),
  };
}

const ZONE_SUFFIX = /(?:Z|[+-]\d\d:?\d\d)$/i;

/** Whether a time text names its zone (Z or an offset). */
function hasZone(t: string): boolean {
  return ZONE_SUFFIX.test(t.trimEnd());
}

const WINLOGBEAT_ECS = ["process", "user", "source", "destination", "file", "registry", "network", "dns", "hash", "related", "url", "service", "powershell", "sysmon", "message"];

function fromWinlogbeat(o: Obj): WinRecord | string {
  const w = asObj(o.winlog) as Obj;
  const eid = scalar(w.event_id) ?? scalar(asObj(o.event)?.code);
  if (eid === undefined) return "winlog.event_id is missing";
  const ecs: Obj = {};
  for (const k of WINLOGBEAT_ECS) if (k in o) ecs[k] = o[k];
  return {
    eventId: eid,
    channel: scalar(w.channel),
    provider: scalar(w.provider_name),
    providerGuid: scalar(w.provider_guid),
    computer: scalar(w.computer_name) ?? scalar(asObj(o.host)?.name),
    recordId: num(w.record_id),
    utcTime: typeof o["@timestamp"] === "string" ? (o["@timestamp"] as string) : undefined,
    level: scalar(asObj(o.log)?.level),
    task: scalar(w.task),
    opcode: scalar(w.opcode),
    keywords: Array.isArray(w.keywords) ? (w.keywords as unknown[]).join(",") : scalar(w.keywords),
    version: scalar(w.version),
    pid: num(asObj(w.process)?.pid),
    tid: num(asObj(asObj(w.process)?.thread)?.id),
    userSid: scalar(asObj(w.user)?.identifier),
    eventData: flattenEventData(w.event_data),
    userData: w.user_data ? (cleanValue(w.user_data) as JsonObject) : undefined,
    message: scalar(o.message),
    ecs,
  };
}

/** Which shape a parsed object is; null when it is no Windows event. */
export function shapeOf(o: unknown): "nested" | "flat" | "winlogbeat" | null {
  const x = asObj(o);
  if (!x) return null;
  if (asObj(asObj(x.Event)?.System)) return "nested";
  const w = asObj(x.winlog);
  if (w && (w.event_id !== undefined || w.channel !== undefined || w.event_data !== undefined)) return "winlogbeat";
  if (x.EventID !== undefined && (x.Channel !== undefined || x.SourceName !== undefined)) return "flat";
  return null;
}

// ---------------------------------------------------------------------------------------------
// Time

function d2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Epoch ms of a record time. `YYYY-MM-DD[ T]HH:MM:SS[.fff…][Z]` is read directly (fractions truncated
 * to ms, as Date.parse does); without a zone it is wall-clock time in the context's zone. Any other
 * form goes to Date.parse. NaN when it is no time.
 */
export function recordTimeMs(t: string, zone: ZoneOffset): number {
  const n = t.length;
  if (n >= 19 && t.charCodeAt(4) === 45 && t.charCodeAt(7) === 45 && t.charCodeAt(13) === 58 && t.charCodeAt(16) === 58 && (t.charCodeAt(10) === 32 || t.charCodeAt(10) === 84)) {
    const y = d2(t, 0) * 100 + d2(t, 2);
    const mo = d2(t, 5);
    const d = d2(t, 8);
    const h = d2(t, 11);
    const mi = d2(t, 14);
    const s = d2(t, 17);
    let i = 19;
    let ms = 0;
    if (i < n && t.charCodeAt(i) === 46) {
      i++;
      let scale = 100;
      const start = i;
      while (i < n) {
        const c = t.charCodeAt(i) - 48;
        if (c < 0 || c > 9) break;
        if (scale >= 1) ms += c * scale;
        scale /= 10;
        i++;
      }
      if (i === start) i = -1;
    }
    const utc = i === n - 1 && t.charCodeAt(i) === 90;
    if (i > 0 && (i === n || utc) && y >= 0 && mo >= 1 && d >= 1 && h >= 0 && mi >= 0 && s >= 0 && h < 24 && mi < 60 && s < 60 && mo <= 12 && d <= 31) {
      return utc ? Date.UTC(y, mo - 1, d, h, mi, s, ms) : localToUtc(zone, y, mo - 1, d, h, mi, s, ms);
    }
  }
  const trimmed = t.trim();
  return trimmed === t ? Date.parse(t) : recordTimeMs(trimmed, zone);
}

/** Quarter hours: time zones are whole quarter hours apart. */
const QUARTER_MS = 15 * 60_000;
/** Two clocks of one record within this of a whole number of quarter hours disagree by a zone, not by delay. */
const SKEW_TOLERANCE_MS = 5_000;
/** Hosts (and export fields) a session keeps a calibration for. */
const MAX_CALIBRATIONS = 1024;

/**
 * The skew of an export clock from a record that carries both it and Sysmon's UTC clock: the
 * difference rounded to quarter hours when it is one (a time-zone or 12-hour-clock rendering mistake
 * of the export), else 0 (the two clocks agree up to delay).
 */
export function exportSkewMs(utcMs: number, exportMs: number): number {
  const d = utcMs - exportMs;
  const q = Math.round(d / QUARTER_MS) * QUARTER_MS;
  return q !== 0 && Math.abs(d - q) <= SKEW_TOLERANCE_MS ? q : 0;
}

// ---------------------------------------------------------------------------------------------
// ECS mapping

const CAT: Record<string, [EventCategory[], EventType[]]> = {
  "sysmon:1": [["process"], ["start"]],
  "sysmon:2": [["file"], ["change"]],
  "sysmon:3": [["network"], ["connection", "start"]],
  "sysmon:4": [["host"], ["change"]],
  "sysmon:5": [["process"], ["end"]],
  "sysmon:6": [["driver"], ["start"]],
  "sysmon:7": [["library"], ["start"]],
  "sysmon:8": [["process"], ["change"]],
  "sysmon:9": [["file"], ["access"]],
  "sysmon:10": [["process"], ["access"]],
  "sysmon:11": [["file"], ["creation"]],
  "sysmon:12": [["registry"], ["change"]],
  "sysmon:13": [["registry"], ["change"]],
  "sysmon:14": [["registry"], ["change"]],
  "sysmon:15": [["file"], ["creation"]],
  "sysmon:16": [["configuration"], ["change"]],
  "sysmon:17": [["file"], ["creation"]],
  "sysmon:18": [["file"], ["access"]],
  "sysmon:19": [["host"], ["creation"]],
  "sysmon:20": [["host"], ["creation"]],
  "sysmon:21": [["host"], ["access"]],
  "sysmon:22": [["network"], ["protocol"]],
  "sysmon:23": [["file"], ["deletion"]],
  "sysmon:24": [["host"], ["info"]],
  "sysmon:25": [["process"], ["change"]],
  "sysmon:26": [["file"], ["deletion"]],
  "sysmon:27": [["file"], ["denied"]],
  "sysmon:28": [["file"], ["denied"]],
  "sysmon:29": [["file"], ["creation"]],
  "security:4624": [["authentication"], ["start"]],
  "security:4625": [["authentication"], ["start"]],
  "security:4634": [["authentication"], ["end"]],
  "security:4647": [["authentication"], ["end"]],
  "security:4648": [["authentication"], ["start"]],
  "security:4672": [["iam"], ["admin"]],
  "security:4688": [["process"], ["start"]],
  "security:4689": [["process"], ["end"]],
  "security:4697": [["configuration"], ["creation"]],
  "security:4698": [["configuration"], ["creation"]],
  "security:4699": [["configuration"], ["deletion"]],
  "security:4700": [["configuration"], ["change"]],
  "security:4701": [["configuration"], ["change"]],
  "security:4702": [["configuration"], ["change"]],
  "security:4720": [["iam"], ["user", "creation"]],
  "security:4726": [["iam"], ["user", "deletion"]],
  "security:4728": [["iam"], ["group", "change"]],
  "security:4732": [["iam"], ["group", "change"]],
  "security:4756": [["iam"], ["group", "change"]],
  "security:4768": [["authentication"], ["start"]],
  "security:4769": [["authentication"], ["start"]],
  "security:4776": [["authentication"], ["start"]],
  "security:5140": [["file"], ["access"]],
  "security:5145": [["file"], ["access"]],
  "security:5156": [["network"], ["connection", "allowed"]],
  "security:5157": [["network"], ["connection", "denied"]],
  "security:5158": [["network"], ["connection"]],
  "security:1102": [["host"], ["deletion"]],
  "system:7045": [["configuration"], ["creation"]],
  "powershell:4103": [["process"], ["info"]],
  "powershell:4104": [["process"], ["info"]],
};

const modules = new Map<string, { module: string; dataset: string }>();

/** ECS module and dataset of a channel (memoized: channels are few). */
function moduleOf(channel: string | undefined): { module: string; dataset: string } {
  const key = channel ?? "";
  let m = modules.get(key);
  if (m === undefined) {
    m = moduleOfChannel(key);
    if (modules.size >= 1024) modules.clear();
    modules.set(key, m);
  }
  return m;
}

function moduleOfChannel(channel: string): { module: string; dataset: string } {
  const c = channel.toLowerCase();
  if (c === SYSMON_CHANNEL.toLowerCase()) return { module: "sysmon", dataset: "windows.sysmon_operational" };
  // Sysmon for Linux writes the same events (Elastic's sysmon_linux integration names)
  if (c === "linux-sysmon/operational") return { module: "sysmon_linux", dataset: "sysmon_linux.log" };
  if (c === "security") return { module: "security", dataset: "system.security" };
  if (c === "system") return { module: "system", dataset: "system.system" };
  if (c === "application") return { module: "application", dataset: "system.application" };
  if (c === "microsoft-windows-powershell/operational" || c === "powershellcore/operational") return { module: "powershell", dataset: "windows.powershell_operational" };
  if (c === "windows powershell") return { module: "powershell", dataset: "windows.powershell" };
  const slug = c.replace(/^microsoft-windows-/, "").replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
  return { module: "windows", dataset: slug ? `windows.${slug}` : "windows.unknown" };
}

function str(ed: JsonObject, k: string): string | undefined {
  const v = ed[k];
  if (v === undefined || v === null || typeof v === "object") return undefined;
  const s = typeof v === "string" ? v : String(v);
  return s === "" || s === "-" ? undefined : s;
}

const HEX = /^0x[0-9a-f]+$/i;

/** Windows pids: decimal numbers, or hex strings in Security events (0x1a2c). */
function pid(v: JsonValue | undefined): number | undefined {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === "string") {
    if (HEX.test(v)) return parseInt(v, 16);
    if (DIGITS.test(v)) return Number(v);
  }
  return undefined;
}

function port(v: JsonValue | undefined): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && DIGITS.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]+(%[\w.-]+)?$/;
function ip(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const s = v.startsWith("::ffff:") && IPV4.test(v.slice(7)) ? v.slice(7) : v;
  return IPV4.test(s) || (s.includes(":") && IPV6.test(s)) ? s : undefined;
}

function baseName(p: string | undefined): string | undefined {
  if (!p) return undefined;
  const i = Math.max(p.lastIndexOf("\\"), p.lastIndexOf("/"));
  return i >= 0 ? p.slice(i + 1) : p;
}

/** Sets o[k] when v is defined (ECS objects never carry undefined members). */
function set(o: JsonObject, k: string, v: JsonValue | undefined): void {
  if (v !== undefined) o[k] = v;
}

function isEmpty(o: JsonObject): boolean {
  for (const _ in o) return false;
  return true;
}

/** Sets o[k] = child when the child has members. */
function setObj(o: JsonObject, k: string, child: JsonObject): void {
  if (!isEmpty(child)) o[k] = child;
}

const LOGON_CODES = new Set(["4624", "4625", "4648", "4768", "4769", "4771", "4776"]);

/**
 * Maps a record to an ECS event (SIGMA.md 11 and 12.2) with `@timestamp` at `timeMs` (the record's
 * own time; NaN: the context's clock).
 */
export function toEcs(r: WinRecord, raw: string, rec: RawRecord, ctx: ParseContext, timeMs = NaN): EcsEvent {
  const { module, dataset } = moduleOf(r.channel);
  const ed = r.eventData;
  const code = r.eventId;
  const [category, type] = CAT[`${module === "sysmon_linux" ? "sysmon" : module}:${code}`] ?? DEFAULT_CAT;
  // (member order as the first version wrote it: output stays byte-identical where nothing changed)
  const event = { id: eventId(dataset, raw, rec.origin), kind: "event", category: [...category], type: [...type], code } as EcsEvent["event"];
  if (r.provider !== undefined) event.provider = r.provider;
  event.module = module;
  event.dataset = dataset;
  const ev: EcsEvent = {
    "@timestamp": new Date(Number.isFinite(timeMs) ? timeMs : ctx.now().getTime()).toISOString(),
    // No event.original: the record is structured and winlog.* keeps all of it verbatim (like Winlogbeat
    // without preserve_original_event); event.id still derives from the raw bytes.
    event,
  };
  const winlog: JsonObject = {};
  set(winlog, "channel", r.channel);
  set(winlog, "provider_name", r.provider);
  set(winlog, "provider_guid", r.providerGuid);
  set(winlog, "computer_name", r.computer);
  winlog.event_id = code;
  set(winlog, "record_id", r.recordId);
  set(winlog, "task", r.task);
  set(winlog, "opcode", r.opcode);
  set(winlog, "keywords", r.keywords);
  set(winlog, "level", r.level);
  set(winlog, "version", r.version);
  set(winlog, "time_created", r.timeCreated);
  if (r.pid !== undefined || r.tid !== undefined) {
    const p: JsonObject = {};
    set(p, "pid", r.pid);
    if (r.tid !== undefined) p.thread = { id: r.tid };
    winlog.process = p;
  }
  if (r.userSid !== undefined) winlog.user = { identifier: r.userSid };
  const edFull = hasNestedObject(ed) ? dropEmpty(ed) : !isEmpty(ed);
  if (edFull) winlog.event_data = ed;
  const ud = r.userData;
  if (ud !== undefined && !isEmpty(ud) && (!hasNestedObject(ud) || dropEmpty(ud))) winlog.user_data = ud;
  if (!edFull) winlog.event_data = ed;
  ev.winlog = winlog;
  if (r.computer) ev.host = { name: r.computer, hostname: r.computer };
  if (r.message) ev.message = r.message;
  const sysmon = module === "sysmon" || module === "sysmon_linux";
  const security = module === "security";
  const proc: JsonObject = {};
  const parent: JsonObject = {};
  // Process fields (Sysmon and Security 4688 name them differently).
  if (sysmon && (code === "10" || code === "8")) {
    set(proc, "executable", str(ed, "SourceImage"));
    set(proc, "pid", pid(ed.SourceProcessId));
    set(proc, "entity_id", str(ed, "SourceProcessGUID") ?? str(ed, "SourceProcessGuid"));
    const tid = pid(ed.SourceThreadId);
    if (tid !== undefined) proc.thread = { id: tid };
  } else if (security && code === "4688") {
    set(proc, "executable", str(ed, "NewProcessName"));
    set(proc, "pid", pid(ed.NewProcessId));
    set(proc, "command_line", str(ed, "CommandLine"));
    set(parent, "executable", str(ed, "ParentProcessName"));
    set(parent, "pid", pid(ed.ProcessId));
  } else if (security) {
    set(proc, "executable", str(ed, "ProcessName") ?? str(ed, "Application"));
    set(proc, "pid", pid(ed.ProcessId));
  } else {
    set(proc, "executable", str(ed, "Image"));
    set(proc, "pid", pid(ed.ProcessId));
    set(proc, "entity_id", str(ed, "ProcessGuid"));
    set(proc, "command_line", str(ed, "CommandLine"));
    set(proc, "working_directory", str(ed, "CurrentDirectory"));
    set(parent, "executable", str(ed, "ParentImage"));
    set(parent, "pid", pid(ed.ParentProcessId));
    set(parent, "entity_id", str(ed, "ParentProcessGuid"));
    set(parent, "command_line", str(ed, "ParentCommandLine"));
  }
  if (sysmon && code === "1") {
    const pe: JsonObject = {};
    set(pe, "original_file_name", str(ed, "OriginalFileName"));
    set(pe, "description", str(ed, "Description"));
    set(pe, "product", str(ed, "Product"));
    set(pe, "company", str(ed, "Company"));
    set(pe, "file_version", str(ed, "FileVersion"));
    setObj(proc, "pe", pe);
  }
  set(proc, "name", baseName(proc.executable as string | undefined));
  set(parent, "name", baseName(parent.executable as string | undefined));
  setObj(proc, "parent", parent);
  // Files, registry, network, DNS.
  if (sysmon && (code === "6" || code === "7")) {
    const file: JsonObject = {};
    const loaded = str(ed, "ImageLoaded");
    set(file, "path", loaded);
    set(file, "name", baseName(loaded));
    const sig: JsonObject = {};
    if (ed.Signed !== undefined) sig.signed = ed.Signed === true || str(ed, "Signed")?.toLowerCase() === "true";
    set(sig, "status", str(ed, "SignatureStatus"));
    setObj(file, "code_signature", sig);
    const pe: JsonObject = {};
    set(pe, "imphash", str(ed, "Imphash"));
    if (code === "7") {
      set(pe, "original_file_name", str(ed, "OriginalFileName"));
      set(pe, "description", str(ed, "Description"));
      set(pe, "product", str(ed, "Product"));
      set(pe, "company", str(ed, "Company"));
      set(pe, "file_version", str(ed, "FileVersion"));
    }
    setObj(file, "pe", pe);
    setObj(ev as unknown as JsonObject, "file", file);
  } else {
    const target = str(ed, "TargetFilename");
    if (target) ev.file = { path: target, name: baseName(target) as string };
    else if (sysmon && (code === "17" || code === "18")) {
      const pipe = str(ed, "PipeName");
      if (pipe !== undefined) ev.file = { name: pipe };
    } else if (security && (code === "4656" || code === "4663")) {
      const obj = str(ed, "ObjectName");
      if (obj) ev.file = { path: obj };
    }
  }
  const regPath = str(ed, "TargetObject");
  if (regPath) {
    const reg: JsonObject = { path: regPath };
    set(reg, "value", str(ed, "Details"));
    ev.registry = reg;
  }
  if (sysmon && code === "3") {
    const src: JsonObject = {};
    set(src, "ip", ip(str(ed, "SourceIp")));
    set(src, "port", port(ed.SourcePort));
    set(src, "domain", str(ed, "SourceHostname"));
    setObj(ev as unknown as JsonObject, "source", src);
    const dst: JsonObject = {};
    set(dst, "ip", ip(str(ed, "DestinationIp")));
    set(dst, "port", port(ed.DestinationPort));
    set(dst, "domain", str(ed, "DestinationHostname"));
    setObj(ev as unknown as JsonObject, "destination", dst);
    const net: JsonObject = {};
    set(net, "transport", str(ed, "Protocol")?.toLowerCase());
    set(net, "protocol", str(ed, "DestinationPortName"));
    if (ed.Initiated !== undefined) net.direction = ed.Initiated === true || str(ed, "Initiated")?.toLowerCase() === "true" ? "egress" : "ingress";
    setObj(ev as unknown as JsonObject, "network", net);
  }
  if (security && (code === "5156" || code === "5157" || code === "5158")) {
    const src: JsonObject = {};
    set(src, "ip", ip(str(ed, "SourceAddress")));
    set(src, "port", port(ed.SourcePort));
    setObj(ev as unknown as JsonObject, "source", src);
    const dst: JsonObject = {};
    set(dst, "ip", ip(str(ed, "DestAddress")));
    set(dst, "port", port(ed.DestPort));
    setObj(ev as unknown as JsonObject, "destination", dst);
  }
  if (security && LOGON_CODES.has(code)) {
    const src: JsonObject = {};
    set(src, "ip", ip(str(ed, "IpAddress")));
    set(src, "port", port(ed.IpPort));
    set(src, "domain", str(ed, "WorkstationName"));
    setObj(ev as unknown as JsonObject, "source", src);
    if (code === "4624" || code === "4625") event.outcome = code === "4624" ? "success" : "failure";
  }
  if (sysmon && code === "22") {
    const q = str(ed, "QueryName");
    if (q !== undefined) ev.dns = { question: { name: q } };
  }
  if (module === "powershell" && (code === "4104" || code === "4103")) {
    const f: JsonObject = {};
    set(f, "script_block_text", str(ed, "ScriptBlockText") ?? str(ed, "Payload"));
    set(f, "script_block_id", str(ed, "ScriptBlockId"));
    if (!isEmpty(f)) ev.powershell = { file: f };
  }
  // User: Sysmon's DOMAIN\name, Security's target (logons) or subject account.
  const u = str(ed, "User") ?? str(ed, "SourceUser");
  if (u) {
    const i = u.indexOf("\\");
    ev.user = i >= 0 ? { domain: u.slice(0, i), name: u.slice(i + 1) } : { name: u };
  } else if (security) {
    const target = str(ed, "TargetUserName");
    const user: JsonObject = {};
    if (target && code !== "4688") {
      user.name = target;
      set(user, "domain", str(ed, "TargetDomainName"));
      set(user, "id", str(ed, "TargetUserSid"));
    } else {
      set(user, "name", str(ed, "SubjectUserName"));
      set(user, "domain", str(ed, "SubjectDomainName"));
      set(user, "id", str(ed, "SubjectUserSid"));
    }
    setObj(ev as unknown as JsonObject, "user", user);
  }
  if (security && (code === "4697" || code === "4769")) {
    const svc = str(ed, "ServiceName");
    if (svc) ev.service = { name: svc };
  }
  setObj(ev as unknown as JsonObject, "process", proc);
  // A Winlogbeat record's own ECS fields win where it has them.
  const prev = r.ecs;
  if (prev !== undefined)
    for (const k of Object.keys(prev)) {
      const v = prev[k];
      if (k === "message" && typeof v === "string") ev.message = v;
      else if (asObj(v)) {
        const merged = mergeInto((asObj(ev[k]) ?? {}) as JsonObject, v as Obj);
        if (compact(merged)) ev[k] = merged;
        else delete ev[k];
      }
    }
  // related.*
  const srcIp = (ev.source as JsonObject | undefined)?.ip;
  const dstIp = (ev.destination as JsonObject | undefined)?.ip;
  const rel: JsonObject = prev !== undefined && asObj(ev.related) ? (ev.related as JsonObject) : {};
  if (typeof srcIp === "string" || typeof dstIp === "string") {
    const ips: string[] = [];
    if (typeof srcIp === "string") ips.push(srcIp);
    if (typeof dstIp === "string" && dstIp !== srcIp) ips.push(dstIp);
    rel.ip = ips;
  }
  if (typeof ev.user?.name === "string") rel.user = [ev.user.name];
  if (r.computer) rel.hosts = [r.computer];
  if (!isEmpty(rel)) ev.related = rel;
  return ev;
}

const DEFAULT_CAT: [EventCategory[], EventType[]] = [["host"], ["info"]];

/** Removes undefined members and empty objects, recursively; false when nothing is left. */
function compact(o: JsonObject): boolean {
  let any = false;
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined) delete o[k];
    else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      if (!compact(v as JsonObject)) delete o[k];
      else any = true;
    } else any = true;
  }
  return any;
}

function mergeInto(base: JsonObject, extra: Obj): JsonObject {
  for (const k of Object.keys(extra)) {
    if (isUnsafeKey(k)) continue;
    const v = extra[k];
    const b = asObj(base[k]);
    if (b && asObj(v)) base[k] = mergeInto(b as JsonObject, v as Obj);
    else if (v !== undefined) base[k] = v as JsonValue;
  }
  return base;
}

/** Counts values (up to `limit`); Infinity when nesting is deeper than 64 levels. */
function countFields(v: unknown, limit: number, depth = 0): number {
  if (depth > 64) return Infinity;
  if (v === null || typeof v !== "object") return 1;
  let n = 1;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      n += x === null || typeof x !== "object" ? 1 : countFields(x, limit, depth + 1);
      if (n > limit) return n;
    }
  } else
    for (const k in v as Obj) {
      const x = (v as Obj)[k];
      n += x === null || typeof x !== "object" ? 1 : countFields(x, limit, depth + 1);
      if (n > limit) return n;
    }
  return n;
}

const UTC = compileZone("UTC");

/** A normalized record with its clocks, for the session's calibration. */
interface Converted {
  event: EcsEvent;
  host: string;
  /** Epoch ms of the record's own UTC clock and of its export clock (NaN when absent). */
  utcMs: number;
  exportMs: number;
  exportField: string | undefined;
}

function convert(o: unknown, raw: string, rec: RawRecord, ctx: ParseContext, zone: ZoneOffset): Converted | { code: string; reason: string } {
  const shape = shapeOf(o);
  if (!shape) return { code: "windows_not_event", reason: "not a Windows event record: expected Event.System, a winlog object, or EventID with Channel" };
  if (countFields(o, MAX_FIELDS) > MAX_FIELDS) return { code: "windows_too_many_fields", reason: `record has more than ${MAX_FIELDS} fields or nests deeper than 64 levels` };
  const r = shape === "nested" ? fromNested(o as Obj) : shape === "flat" ? fromFlat(o as Obj) : fromWinlogbeat(o as Obj);
  if (typeof r === "string") return { code: "windows_missing_field", reason: r };
  const utcMs = r.utcTime !== undefined ? recordTimeMs(r.utcTime, UTC) : NaN;
  const exportMs = r.exportTime !== undefined ? recordTimeMs(r.exportTime, zone) : NaN;
  const event = toEcs(r, raw, rec, ctx, Number.isFinite(utcMs) ? utcMs : exportMs);
  return { event, host: (r.computer ?? "").toLowerCase(), utcMs, exportMs, exportField: r.exportField };
}

/** Parses one already-decoded object (for callers that parsed the JSON themselves). */
export function normalizeWindowsObject(o: unknown, raw: string, rec: RawRecord, ctx: ParseContext): { event: EcsEvent } | { code: string; reason: string } {
  const c = convert(o, raw, rec, ctx, compileZone(ctx.timezone));
  return "event" in c ? { event: c.event } : c;
}

// ---------------------------------------------------------------------------------------------
// Clocks: calibration of export clocks per session

interface Held {
  event: EcsEvent;
  key: string;
  exportMs: number;
}

/**
 * Per session: the skew of each host's export clock (TimeCreated, EventTime or @timestamp of a flat
 * export), learned from records that carry Sysmon's UTC clock too and applied to that host's records
 * that carry only the export clock. With `ctx.clockLookahead` (offline readers), records that need a
 * calibration not learned yet are held, up to that many, until one arrives or the input ends.
 */
class Clocks {
  private readonly skew = new Map<string, number>();
  private held: Held[] = [];
  private holding: boolean;

  constructor(private readonly lookahead: number) {
    this.holding = lookahead > 0;
  }

  /** Emits the event now (adjusted), or holds it until its host's export clock is calibrated. */
  pass(c: Converted, emit: Emit): void {
    if (c.exportField === undefined || !Number.isFinite(c.exportMs)) {
      emit.event(c.event);
      return;
    }
    const key = `${c.host}\u0000${c.exportField}`;
    if (Number.isFinite(c.utcMs)) {
      this.learn(key, exportSkewMs(c.utcMs, c.exportMs), emit);
      emit.event(c.event);
      return;
    }
    const s = this.skew.get(key);
    if (s !== undefined) {
      if (s !== 0) c.event["@timestamp"] = new Date(c.exportMs + s).toISOString();
      emit.event(c.event);
    } else if (this.holding) {
      this.held.push({ event: c.event, key, exportMs: c.exportMs });
      if (this.held.length >= this.lookahead) {
        // no calibration within the lookahead: emit as they are and stop holding
        this.holding = false;
        this.release(null, emit);
      }
    } else emit.event(c.event);
  }

  private learn(key: string, skew: number, emit: Emit): void {
    if (this.skew.size >= MAX_CALIBRATIONS && !this.skew.has(key)) this.skew.clear();
    this.skew.set(key, skew);
    if (this.held.length) this.release(key, emit);
  }

  /** Emits held events of `key` (all when null), adjusted by what is known, in arrival order. */
  release(key: string | null, emit: Emit): void {
    const keep: Held[] = [];
    for (const h of this.held) {
      if (key !== null && h.key !== key) {
        keep.push(h);
        continue;
      }
      const s = this.skew.get(h.key);
      if (s !== undefined && s !== 0) h.event["@timestamp"] = new Date(h.exportMs + s).toISOString();
      emit.event(h.event);
    }
    this.held = keep;
  }
}

export const parser: Parser = {
  name: "windows-events-json",
  description: "Windows event log records as JSON: EVTX rendering (Event.System/EventData/UserData), flat OTRF/NXLog/Logstash, Winlogbeat",
  detect(sample: string): number {
    const s = sample.trimStart();
    if (!s.startsWith("{")) return 0;
    if (/"Event"\s*:\s*\{/.test(s) && /"System"\s*:/.test(s)) return 0.95;
    if (/"winlog"\s*:\s*\{/.test(s) && /"(event_id|channel)"\s*:/.test(s)) return 0.9;
    if (/"EventID"\s*:/.test(s) && /"(Channel|SourceName)"\s*:/.test(s)) return 0.9;
    return 0;
  },
  open(ctx: ParseContext): ParserSession {
    const zone = compileZone(ctx.timezone);
    const clocks = new Clocks(ctx.clockLookahead ?? 0);
    return {
      push(rec: RawRecord, emit: Emit) {
        if (rec.data.length > MAX_RECORD) {
          emit.reject({ code: "line_too_long", reason: `record is ${rec.data.length} characters; the limit is ${MAX_RECORD}`, record: rec });
          return;
        }
        let o: unknown;
        try {
          o = safeJsonParse(rec.data);
        } catch (err) {
          emit.reject({ code: "json_invalid", reason: `invalid JSON: ${(err as Error).message}`, record: rec });
          return;
        }
        const c = convert(o, rec.data, rec, ctx, zone);
        if (!("event" in c)) {
          emit.reject({ code: c.code, reason: c.reason, record: rec });
          return;
        }
        if (rec.host && !c.event.host?.name) c.event.host = { name: rec.host };
        recordOfEvent.set(c.event, rec);
        clocks.pass(c, emit);
      },
      flush(emit: Emit) {
        clocks.release(null, emit);
      },
    };
  },
};
