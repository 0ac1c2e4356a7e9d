// Windows event log records as JSON → ECS: the EVTX rendering (Event.System / Event.EventData or
// UserData, XML attributes under #attributes), the flat OTRF/NXLog/Logstash shape and the Winlogbeat
// shape. winlog.event_data.* keeps every EventData field verbatim (spaces stripped from names).

import type { EcsEvent, EventCategory, EventType, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { eventId } from "../../../schema/event-id.ts";
import { isUnsafeKey, safeJsonParse, safeKeyName } from "../../../schema/fields.ts";
import type { Emit, ParseContext, Parser, ParserSession, RawRecord } from "../types.ts";
import { recordOfEvent } from "../common/event.ts";

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

/** EventData/UserData values: `#text` unwrapped, `#attributes` dropped, names without spaces. */
function cleanValue(v: unknown, depth = 0): JsonValue {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (depth > 16) return null;
  if (Array.isArray(v)) return v.map((x) => cleanValue(x, depth + 1));
  const o = v as Obj;
  if ("#text" in o) return cleanValue(o["#text"], depth + 1);
  const out: JsonObject = {};
  for (const k of Object.keys(o)) if (k !== "#attributes") putKey(out, k, cleanValue(o[k], depth + 1));
  return out;
}

function putKey(out: JsonObject, key: string, v: JsonValue) {
  let k = key.replace(/\s+/g, "");
  if (isUnsafeKey(k)) k = safeKeyName(k);
  if (k === "") return;
  Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Flattens EventData: named keys, or `Data: [{#attributes: {Name}, #text}]`, or unnamed Data values. */
function flattenEventData(ed: unknown): JsonObject {
  const out: JsonObject = {};
  const o = asObj(ed);
  if (!o) return out;
  for (const k of Object.keys(o)) {
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
  for (const k of Object.keys(o)) {
    if (k === "#attributes") continue;
    const inner = asObj(o[k]);
    if (inner) for (const ik of Object.keys(inner)) {
      if (ik !== "#attributes") putKey(out, ik, cleanValue(inner[ik]));
    }
    else putKey(out, k, cleanValue(o[k]));
  }
  return out;
}

/** The source-neutral view of one record before ECS mapping. */
interface WinRecord {
  eventId: string;
  channel?: string;
  provider?: string;
  providerGuid?: string;
  computer?: string;
  recordId?: number;
  time?: string;
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

function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && /^\d+$/.test(v)) return Number(v);
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
    time: scalar(attr(sys.TimeCreated, "SystemTime")),
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
  for (const k of Object.keys(o)) {
    if (FLAT_SYSTEM.has(k)) continue;
    if (k === "EventType" && nxlogType) continue;
    putKey(ed, k, cleanValue(o[k]));
  }
  const ts = typeof o["@timestamp"] === "string" ? (o["@timestamp"] as string) : undefined;
  return {
    eventId: eid,
    channel: scalar(o.Channel),
    provider: scalar(o.SourceName),
    providerGuid: scalar(o.ProviderGuid),
    computer: scalar(o.Hostname) ?? scalar(o.host),
    recordId: num(o.RecordNumber),
    time: ts ?? (typeof ed.UtcTime === "string" ? (ed.UtcTime as string) : undefined) ?? scalar(o.TimeCreated) ?? scalar(o.EventTime),
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

function fromWinlogbeat(o: Obj): WinRecord | string {
  const w = asObj(o.winlog) as Obj;
  const eid = scalar(w.event_id) ?? scalar(asObj(o.event)?.code);
  if (eid === undefined) return "winlog.event_id is missing";
  const ecs: Obj = {};
  for (const k of ["process", "user", "source", "destination", "file", "registry", "network", "dns", "hash", "related", "url", "service", "powershell", "sysmon", "message"]) if (k in o) ecs[k] = o[k];
  return {
    eventId: eid,
    channel: scalar(w.channel),
    provider: scalar(w.provider_name),
    providerGuid: scalar(w.provider_guid),
    computer: scalar(w.computer_name) ?? scalar(asObj(o.host)?.name),
    recordId: num(w.record_id),
    time: typeof o["@timestamp"] === "string" ? (o["@timestamp"] as string) : undefined,
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

function moduleOf(channel: string | undefined): { module: string; dataset: string } {
  const c = (channel ?? "").toLowerCase();
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
  const s = String(v);
  return s === "" || s === "-" ? undefined : s;
}

/** Windows pids: decimal numbers, or hex strings in Security events (0x1a2c). */
function pid(v: JsonValue | undefined): number | undefined {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === "string") {
    if (/^0x[0-9a-f]+$/i.test(v)) return parseInt(v, 16);
    if (/^\d+$/.test(v)) return Number(v);
  }
  return undefined;
}

function port(v: JsonValue | undefined): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
function ip(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const s = v.startsWith("::ffff:") && IPV4.test(v.slice(7)) ? v.slice(7) : v;
  return IPV4.test(s) || (s.includes(":") && /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(s)) ? s : undefined;
}

function baseName(p: string | undefined): string | undefined {
  if (!p) return undefined;
  const i = Math.max(p.lastIndexOf("\\"), p.lastIndexOf("/"));
  return i >= 0 ? p.slice(i + 1) : p;
}

function splitUser(u: string | undefined): { name?: string; domain?: string } {
  if (!u) return {};
  const i = u.indexOf("\\");
  return i >= 0 ? { domain: u.slice(0, i), name: u.slice(i + 1) } : { name: u };
}

function compact<T extends JsonObject>(o: T): T | undefined {
  let any = false;
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined) delete o[k];
    else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const c = compact(v as JsonObject);
      if (c === undefined) delete o[k];
      else any = true;
    } else any = true;
  }
  return any ? o : undefined;
}

function isoTime(t: string | undefined, now: Date): string {
  if (t) {
    let s = t.trim();
    if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(s)) s = s.replace(" ", "T") + "Z";
    const ms = Date.parse(s);
    if (Number.isFinite(ms)) return new Date(ms).toISOString();
  }
  return now.toISOString();
}

/** Maps a record to an ECS event (SIGMA.md 11 and 12.2). */
export function toEcs(r: WinRecord, raw: string, rec: RawRecord, ctx: ParseContext): EcsEvent {
  const { module, dataset } = moduleOf(r.channel);
  const ed = r.eventData;
  const code = r.eventId;
  const [category, type] = CAT[`${module === "sysmon_linux" ? "sysmon" : module}:${code}`] ?? [["host"], ["info"]];
  const prev = r.ecs ?? {};
  const ev: EcsEvent = {
    "@timestamp": isoTime(r.time, ctx.now()),
    // No event.original: the record is structured and winlog.* keeps all of it verbatim (like Winlogbeat
    // without preserve_original_event); event.id still derives from the raw bytes.
    event: { id: eventId(dataset, raw, rec.origin), kind: "event", category: [...category], type: [...type], code, provider: r.provider, module, dataset },
  };
  const winlog: JsonObject = {
    channel: r.channel,
    provider_name: r.provider,
    provider_guid: r.providerGuid,
    computer_name: r.computer,
    event_id: code,
    record_id: r.recordId,
    task: r.task,
    opcode: r.opcode,
    keywords: r.keywords,
    level: r.level,
    version: r.version,
    process: { pid: r.pid, thread: { id: r.tid } },
    user: { identifier: r.userSid },
    event_data: ed,
  };
  if (r.userData && Object.keys(r.userData).length) winlog.user_data = r.userData;
  ev.winlog = winlog;
  if (r.computer) ev.host = { name: r.computer, hostname: r.computer };
  if (r.message) ev.message = r.message;
  const sysmon = module === "sysmon" || module === "sysmon_linux";
  const security = module === "security";
  const proc: JsonObject = {};
  const parent: JsonObject = {};
  // Process fields (Sysmon and Security 4688 name them differently).
  if (sysmon && (code === "10" || code === "8")) {
    Object.assign(proc, { executable: str(ed, "SourceImage"), pid: pid(ed.SourceProcessId), entity_id: str(ed, "SourceProcessGUID") ?? str(ed, "SourceProcessGuid"), thread: { id: pid(ed.SourceThreadId) } });
  } else if (security && code === "4688") {
    Object.assign(proc, { executable: str(ed, "NewProcessName"), pid: pid(ed.NewProcessId), command_line: str(ed, "CommandLine") });
    Object.assign(parent, { executable: str(ed, "ParentProcessName"), pid: pid(ed.ProcessId) });
  } else if (security) {
    Object.assign(proc, { executable: str(ed, "ProcessName") ?? str(ed, "Application"), pid: pid(ed.ProcessId) });
  } else {
    Object.assign(proc, {
      executable: str(ed, "Image"),
      pid: pid(ed.ProcessId),
      entity_id: str(ed, "ProcessGuid"),
      command_line: str(ed, "CommandLine"),
      working_directory: str(ed, "CurrentDirectory"),
    });
    Object.assign(parent, { executable: str(ed, "ParentImage"), pid: pid(ed.ParentProcessId), entity_id: str(ed, "ParentProcessGuid"), command_line: str(ed, "ParentCommandLine") });
  }
  if (sysmon && code === "1") proc.pe = { original_file_name: str(ed, "OriginalFileName"), description: str(ed, "Description"), product: str(ed, "Product"), company: str(ed, "Company"), file_version: str(ed, "FileVersion") };
  proc.name = baseName(proc.executable as string | undefined);
  parent.name = baseName(parent.executable as string | undefined);
  proc.parent = parent;
  // Files, registry, network, DNS.
  if (sysmon && (code === "6" || code === "7")) {
    ev.file = { path: str(ed, "ImageLoaded"), name: baseName(str(ed, "ImageLoaded")), code_signature: { signed: ed.Signed === true || str(ed, "Signed")?.toLowerCase() === "true" ? true : ed.Signed === undefined ? undefined : false, status: str(ed, "SignatureStatus") }, pe: { imphash: str(ed, "Imphash") } };
    if (code === "7") (ev.file.pe as JsonObject) = { ...(ev.file.pe as JsonObject), original_file_name: str(ed, "OriginalFileName"), description: str(ed, "Description"), product: str(ed, "Product"), company: str(ed, "Company"), file_version: str(ed, "FileVersion") };
  } else if (str(ed, "TargetFilename")) ev.file = { path: str(ed, "TargetFilename"), name: baseName(str(ed, "TargetFilename")) };
  else if (sysmon && (code === "17" || code === "18")) ev.file = { name: str(ed, "PipeName") };
  else if (security && (code === "4656" || code === "4663") && str(ed, "ObjectName")) ev.file = { path: str(ed, "ObjectName") };
  if (str(ed, "TargetObject")) ev.registry = { path: str(ed, "TargetObject"), value: str(ed, "Details") };
  if (sysmon && code === "3") {
    ev.source = { ip: ip(str(ed, "SourceIp")), port: port(ed.SourcePort), domain: str(ed, "SourceHostname") };
    ev.destination = { ip: ip(str(ed, "DestinationIp")), port: port(ed.DestinationPort), domain: str(ed, "DestinationHostname") };
    const initiated = ed.Initiated === true || str(ed, "Initiated")?.toLowerCase() === "true";
    ev.network = { transport: str(ed, "Protocol")?.toLowerCase(), protocol: str(ed, "DestinationPortName"), direction: ed.Initiated === undefined ? undefined : initiated ? "egress" : "ingress" };
  }
  if (security && (code === "5156" || code === "5157" || code === "5158")) {
    ev.source = { ip: ip(str(ed, "SourceAddress")), port: port(ed.SourcePort) };
    ev.destination = { ip: ip(str(ed, "DestAddress")), port: port(ed.DestPort) };
  }
  if (security && ["4624", "4625", "4648", "4768", "4769", "4771", "4776"].includes(code)) {
    ev.source = { ip: ip(str(ed, "IpAddress")), port: port(ed.IpPort), domain: str(ed, "WorkstationName") };
    if (code === "4624" || code === "4625") ev.event.outcome = code === "4624" ? "success" : "failure";
  }
  if (sysmon && code === "22") ev.dns = { question: { name: str(ed, "QueryName") } };
  if (module === "powershell" && (code === "4104" || code === "4103")) ev.powershell = { file: { script_block_text: str(ed, "ScriptBlockText") ?? str(ed, "Payload"), script_block_id: str(ed, "ScriptBlockId") } };
  // User: Sysmon's DOMAIN\name, Security's target (logons) or subject account.
  const u = str(ed, "User") ?? str(ed, "SourceUser");
  if (u) ev.user = splitUser(u);
  else if (security) {
    const target = str(ed, "TargetUserName");
    ev.user = target && code !== "4688" ? { name: target, domain: str(ed, "TargetDomainName"), id: str(ed, "TargetUserSid") } : { name: str(ed, "SubjectUserName"), domain: str(ed, "SubjectDomainName"), id: str(ed, "SubjectUserSid") };
  }
  if (security && (code === "4697" || code === "4769") && str(ed, "ServiceName")) ev.service = { name: str(ed, "ServiceName") };
  ev.process = proc;
  // A Winlogbeat record's own ECS fields win where it has them.
  for (const k of Object.keys(prev)) {
    const v = prev[k];
    if (k === "message" && typeof v === "string") ev.message = v;
    else if (asObj(v)) ev[k] = mergeInto((asObj(ev[k]) ?? {}) as JsonObject, v as Obj);
  }
  compact(ev as unknown as JsonObject);
  ev.winlog = ev.winlog ?? {};
  (ev.winlog as JsonObject).event_data = ed;
  const rel: string[] = [];
  for (const x of [(ev.source as JsonObject | undefined)?.ip, (ev.destination as JsonObject | undefined)?.ip]) if (typeof x === "string" && !rel.includes(x)) rel.push(x);
  if (rel.length) ev.related = { ...(ev.related ?? {}), ip: rel };
  if (typeof ev.user?.name === "string") ev.related = { ...(ev.related ?? {}), user: [ev.user.name] };
  if (r.computer) ev.related = { ...(ev.related ?? {}), hosts: [r.computer] };
  return ev;
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

function countFields(v: unknown, limit: number, depth = 0): number {
  if (depth > 64) return Infinity;
  if (v === null || typeof v !== "object") return 1;
  let n = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v as Obj)) {
    n += countFields(x, limit, depth + 1);
    if (n > limit) return n;
  }
  return n + 1;
}

/** Parses one already-decoded object (for callers that parsed the JSON themselves). */
export function normalizeWindowsObject(o: unknown, raw: string, rec: RawRecord, ctx: ParseContext): { event: EcsEvent } | { code: string; reason: string } {
  const shape = shapeOf(o);
  if (!shape) return { code: "windows_not_event", reason: "not a Windows event record: expected Event.System, a winlog object, or EventID with Channel" };
  if (countFields(o, MAX_FIELDS) > MAX_FIELDS) return { code: "windows_too_many_fields", reason: `record has more than ${MAX_FIELDS} fields or nests deeper than 64 levels` };
  const r = shape === "nested" ? fromNested(o as Obj) : shape === "flat" ? fromFlat(o as Obj) : fromWinlogbeat(o as Obj);
  if (typeof r === "string") return { code: "windows_missing_field", reason: r };
  return { event: toEcs(r, raw, rec, ctx) };
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
        const r = normalizeWindowsObject(o, rec.data, rec, ctx);
        if ("event" in r) {
          if (rec.host && !r.event.host?.name) r.event.host = { name: rec.host };
          recordOfEvent.set(r.event, rec);
          emit.event(r.event);
        } else emit.reject({ code: r.code, reason: r.reason, record: rec });
      },
      flush() {},
    };
  },
};
