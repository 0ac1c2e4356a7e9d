// Azure Monitor Log Analytics / Microsoft Sentinel table exports (one JSON row per line, as the portal,
// the API and `az monitor log-analytics query` export them): every row keeps its columns under
// azure.log_analytics.* and its own time (TimeGenerated, or the time the payload itself records), and
// the payloads the tables carry become what the other parsers make of them, so detections see one
// shape whatever the transport: Syslog rows with Sysmon for Linux XML → Sysmon events (Windows-parser
// field layout, Linux-Sysmon channel), AUOMS auditd records → the linux-auditd parser's event, other
// syslog messages → the RFC 5424 parser's (auth programs enriched); SecurityEvent (XML EventData) and
// WindowsEvent (JSON EventData) → the Windows parser's events; VMConnection → network connections.

import type { EcsEvent, EventCategory, EventType, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { eventId } from "../../../schema/event-id.ts";
import { isUnsafeKey, safeJsonParse, safeKeyName } from "../../../schema/fields.ts";
import { relate } from "../common/event.ts";
import { asIp, asNumber, asPort } from "../common/net.ts";
import { parser as auditdParser } from "../linux-auditd/index.ts";
import { parser as syslogParser } from "../syslog-rfc5424/index.ts";
import { normalizeWindowsObject } from "../windows-events-json/index.ts";
import type { Emit, ParseContext, Parser, ParserSession, RawRecord } from "../types.ts";

const MAX_RECORD = 1024 * 1024;
const MAX_XML_FIELDS = 512;
const NS = "log_analytics";

type Obj = Record<string, unknown>;

function asObj(v: unknown): Obj | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined;
}

function str(v: unknown): string | undefined {
  if (typeof v === "string") return v.length > 0 ? v : undefined;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

/** The table a row comes from: its Type column, else what its columns say. */
function tableOf(o: Obj): string | undefined {
  const t = str(o.Type);
  if (t) return t;
  if (typeof o.SyslogMessage === "string") return "Syslog";
  if (o.EventID !== undefined && typeof o.EventSourceName === "string") return "SecurityEvent";
  if (o.ConnectionId !== undefined && o.RemoteIp !== undefined) return "VMConnection";
  return undefined;
}

/** An ISO time column as UTC with milliseconds, or undefined. */
function isoOf(v: unknown): string | undefined {
  const s = str(v);
  if (!s) return undefined;
  let t = s.trim();
  // "2022-05-11 18:10:20.395" (Sysmon UtcTime) is UTC without a zone
  if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(t)) t = t.replace(" ", "T") + "Z";
  if (!/^\d{4}-\d{2}-\d{2}T/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/** The row's columns, kept verbatim (unsafe keys renamed) for azure.log_analytics. */
function columns(o: Obj): JsonObject {
  const out: JsonObject = {};
  for (const k of Object.keys(o)) {
    const key = isUnsafeKey(k) ? safeKeyName(k) : k;
    Object.defineProperty(out, key, { value: o[k] as JsonValue, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// A small XML reader for Windows event XML (Sysmon for Linux, SecurityEvent EventData): elements,
// attributes and text, entities decoded; no DTDs, no namespaces beyond ignoring xmlns.

interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: XmlNode[];
}

const ENTITY: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|[a-z]{2,4});/g, (m, e: string) => {
    if (e[0] === "#") {
      const cp = e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : m;
    }
    return ENTITY[e] ?? m;
  });
}

const TAG = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->/g;
const ATTR = /([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/**
 * Parses XML into a tree; null when it is not well-formed enough to trust (mismatched tags, too large).
 * A document cut short (syslog truncates long messages) keeps what it has: the open elements are closed
 * at the end, the text being read is kept, and `truncated` says so.
 */
function parseXml(xml: string): { root: XmlNode; truncated: boolean } | null {
  const root: XmlNode = { name: "#root", attrs: {}, text: "", children: [] };
  const stack: XmlNode[] = [root];
  let last = 0;
  let count = 0;
  TAG.lastIndex = 0;
  for (let m = TAG.exec(xml); m !== null; m = TAG.exec(xml)) {
    const between = xml.slice(last, m.index);
    if (between.trim().length > 0) stack[stack.length - 1].text += decodeEntities(between);
    last = TAG.lastIndex;
    if (m[2] === undefined) continue; // declaration or comment
    if (++count > MAX_XML_FIELDS * 4) return null;
    if (m[1] === "/") {
      const top = stack.pop();
      if (!top || top.name !== m[2] || stack.length === 0) return null;
      continue;
    }
    const node: XmlNode = { name: m[2], attrs: {}, text: "", children: [] };
    ATTR.lastIndex = 0;
    for (let a = ATTR.exec(m[3]); a !== null; a = ATTR.exec(m[3])) {
      if (!isUnsafeKey(a[1])) node.attrs[a[1]] = decodeEntities(a[2] ?? a[3] ?? "");
    }
    stack[stack.length - 1].children.push(node);
    if (m[4] !== "/") stack.push(node);
  }
  const rest = xml.slice(last);
  if (stack.length === 1) return rest.trim().length > 0 ? null : { root, truncated: false };
  // cut short: keep the text up to a partial tag
  const lt = rest.indexOf("<");
  const text = lt < 0 ? rest : rest.slice(0, lt);
  if (text.length > 0) stack[stack.length - 1].text += decodeEntities(text);
  return { root, truncated: true };
}

const child = (n: XmlNode | undefined, name: string): XmlNode | undefined => n?.children.find((c) => c.name === name);

/** `<Data Name="X">v</Data>` elements as the Windows parser's nested EventData (Data items with a Name). */
function dataItems(ed: XmlNode | undefined): Array<{ "#attributes": { Name: string }; "#text": string }> | null {
  if (!ed) return [];
  const out: Array<{ "#attributes": { Name: string }; "#text": string }> = [];
  for (const d of ed.children) {
    if (d.name !== "Data" || d.attrs.Name === undefined) continue;
    if (out.length >= MAX_XML_FIELDS) return null;
    out.push({ "#attributes": { Name: d.attrs.Name }, "#text": d.text });
  }
  return out;
}

/** A Windows event XML document (`<Event><System>…<EventData>…`) in the Windows parser's nested shape. */
function eventXmlToNested(xml: string): { nested: Obj; truncated: boolean } | string {
  const doc = parseXml(xml);
  const ev = child(doc?.root, "Event");
  const sys = child(ev, "System");
  if (!doc || !ev || !sys) return "the payload is not a Windows event XML document (<Event><System>…)";
  const text = (name: string) => child(sys, name)?.text;
  const at = (name: string) => (child(sys, name) ? { "#attributes": { ...child(sys, name)!.attrs } } : undefined);
  const items = dataItems(child(ev, "EventData"));
  if (items === null) return `EventData has more than ${MAX_XML_FIELDS} fields`;
  const nested = {
    Event: {
      System: {
        Provider: at("Provider"),
        EventID: text("EventID"),
        Version: text("Version"),
        Level: text("Level"),
        Task: text("Task"),
        Opcode: text("Opcode"),
        Keywords: text("Keywords"),
        TimeCreated: at("TimeCreated"),
        EventRecordID: text("EventRecordID"),
        Execution: at("Execution"),
        Channel: text("Channel"),
        Computer: text("Computer"),
        // Windows writes UserID, Sysmon for Linux UserId
        Security: child(sys, "Security") ? { "#attributes": { UserID: child(sys, "Security")!.attrs.UserID ?? child(sys, "Security")!.attrs.UserId } } : undefined,
      },
      EventData: { Data: items },
    },
  };
  return { nested, truncated: doc.truncated };
}

// ---------------------------------------------------------------------------------------------
// AUOMS (the Azure Monitor agent's auditd plugin): one line per syscall with the SYSCALL, EXECVE,
// CWD and PATH records folded into it. Unfolded back into audit records, the linux-auditd parser joins
// them into the same event it makes of auditd's own log.

const AUOMS = /^type=(AUOMS_[A-Z_]+|[A-Z][A-Z0-9_]+) audit\((\d{1,12}(?:\.\d{1,6})?):(\d{1,20})\): ?/;
/** Fields whose values run to the end (AUOMS writes them unescaped): up to the next of these trailing keys. */
const TAIL_FIELDS = ["cmdline", "proctitle"];
const TAIL_END = /\s(?:redactors|containerid)=/;
const ARCH_CODE: Record<string, string> = { x86_64: "c000003e", i386: "40000003", aarch64: "c00000b7", arm: "40000028", ppc64le: "c0000015", s390x: "80000016", riscv64: "c000f243" };

/** key=value, key="value", key=["a","b"]; cmdline and proctitle run to the trailing keys. */
function auomsFields(body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  let i = 0;
  const n = body.length;
  while (i < n) {
    while (i < n && body.charCodeAt(i) === 32) i++;
    const eq = body.indexOf("=", i);
    if (eq < 0) break;
    const sp = body.indexOf(" ", i);
    if (sp >= 0 && sp < eq) {
      i = sp + 1;
      continue;
    }
    const key = body.slice(i, eq);
    let j = eq + 1;
    let value: string | string[];
    if (TAIL_FIELDS.includes(key)) {
      const rest = body.slice(j);
      const m = TAIL_END.exec(rest);
      let v = m ? rest.slice(0, m.index) : rest;
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      value = v;
      j += m ? m.index : rest.length;
    } else if (body[j] === "[") {
      const close = body.indexOf("]", j);
      const end = close < 0 ? n : close;
      value = [...body.slice(j + 1, end).matchAll(/"([^"]*)"/g)].map((x) => x[1]);
      j = end + 1;
    } else if (body[j] === '"') {
      const close = body.indexOf('"', j + 1);
      const end = close < 0 ? n : close;
      value = body.slice(j + 1, end);
      j = end + 1;
    } else {
      let end = body.indexOf(" ", j);
      if (end < 0) end = n;
      value = body.slice(j, end);
      j = end;
    }
    if (key.length > 0 && key.length <= 64 && !isUnsafeKey(key)) out[key] = value;
    i = j;
  }
  return out;
}

const hex = (s: string) => Buffer.from(s, "utf8").toString("hex").toUpperCase();
/** An audit value: bare when it is one safe word, hex otherwise (the auditd parser decodes it). */
const auditValue = (s: string) => (s === "" ? '""' : /^[\w./:,+@%-]+$/.test(s) ? `"${s}"` : hex(s));

/** argv from AUOMS' space-joined cmdline and argc: the last argument keeps the rest (it had the spaces). */
function splitArgs(cmdline: string, argc: number): string[] {
  const parts: string[] = [];
  let rest = cmdline;
  while (parts.length < argc - 1) {
    const sp = rest.indexOf(" ");
    if (sp < 0) break;
    parts.push(rest.slice(0, sp));
    rest = rest.slice(sp + 1);
  }
  parts.push(rest);
  // AUOMS quotes arguments that hold spaces or shell characters; the argument itself has no quotes
  return parts.map((a) => (a.length >= 2 && a.startsWith('"') && a.endsWith('"') ? a.slice(1, -1) : a));
}

/** The audit records an AUOMS line stands for (SYSCALL with enriched names, EXECVE, CWD, PATH, PROCTITLE, EOE). */
function auomsToAudit(message: string): string[] | null {
  const m = AUOMS.exec(message);
  if (!m) return null;
  const f = auomsFields(message.slice(m[0].length));
  const type = m[1].replace(/^AUOMS_/, "");
  const head = (t: string) => `${typeof f.node === "string" ? `node=${f.node} ` : ""}type=${t} msg=audit(${m[2]}:${m[3]}): `;
  const one = (k: string) => (typeof f[k] === "string" ? (f[k] as string) : undefined);
  const lines: string[] = [];
  if (type !== "EXECVE" && type !== "SYSCALL") {
    // another AUOMS record type: its fields as one audit record of that type
    const body = Object.entries(f).filter(([, v]) => typeof v === "string").map(([k, v]) => `${k}=${auditValue(v as string)}`);
    lines.push(head(type) + body.join(" "));
    return lines;
  }
  const arch = one("arch");
  const syscallNumber = one("syscall_r") ?? one("syscall");
  const numeric = ["success", "exit", "a0", "a1", "a2", "a3", "ppid", "pid", "auid", "uid", "gid", "euid", "suid", "fsuid", "egid", "sgid", "fsgid", "ses", "tty"];
  const sys: string[] = [];
  if (arch) sys.push(`arch=${ARCH_CODE[arch] ?? arch}`);
  if (syscallNumber) sys.push(`syscall=${syscallNumber}`);
  for (const k of numeric) {
    const v = one(k);
    if (v !== undefined && v !== "") sys.push(`${k}=${/^[\w()-]+$/.test(v) ? v : auditValue(v)}`);
  }
  for (const k of ["comm", "exe", "key"]) {
    const v = one(k);
    if (v !== undefined && v !== "") sys.push(`${k}=${auditValue(v)}`);
  }
  // the names AUOMS resolved, as enriched fields (auditd's log_format=ENRICHED)
  const enriched: string[] = [];
  if (arch) enriched.push(`ARCH=${arch}`);
  if (one("syscall")) enriched.push(`SYSCALL=${one("syscall")}`);
  const names: Array<[string, string]> = [["audit_user", "AUID"], ["user", "UID"], ["group", "GID"], ["effective_user", "EUID"], ["set_user", "SUID"], ["filesystem_user", "FSUID"], ["effective_group", "EGID"], ["set_group", "SGID"], ["filesystem_group", "FSGID"]];
  for (const [k, up] of names) {
    const v = one(k);
    if (v !== undefined && v !== "") enriched.push(`${up}=${auditValue(v)}`);
  }
  lines.push(head("SYSCALL") + sys.join(" ") + (enriched.length ? `\x1d${enriched.join(" ")}` : ""));
  const cmdline = one("cmdline");
  if (type === "EXECVE" && cmdline !== undefined && one("success") !== "no") {
    const argc = Number(one("argc") ?? "0");
    const args = splitArgs(cmdline, Number.isSafeInteger(argc) && argc > 0 && argc <= 4096 ? argc : cmdline.split(" ").length);
    lines.push(head("EXECVE") + [`argc=${args.length}`, ...args.map((a, i) => `a${i}=${a === "" ? '""' : hex(a)}`)].join(" "));
  }
  const cwd = one("cwd");
  if (cwd !== undefined) lines.push(head("CWD") + `cwd=${auditValue(cwd)}`);
  const paths = Array.isArray(f.path_name) ? f.path_name : one("name") !== undefined ? [one("name")!] : [];
  paths.slice(0, 64).forEach((p, i) => {
    const at = (k: string) => (Array.isArray(f[k]) ? (f[k] as string[])[i] : undefined);
    const rec = [`item=${i}`, `name=${auditValue(p)}`];
    for (const [k, out] of [["path_nametype", "nametype"], ["path_mode", "mode"], ["path_ouid", "ouid"], ["path_ogid", "ogid"]] as const) {
      const v = at(k);
      if (v) rec.push(`${out}=${/^\w+$/.test(v) ? v : auditValue(v)}`);
    }
    lines.push(head("PATH") + rec.join(" "));
  });
  const title = one("proctitle");
  if (title) lines.push(head("PROCTITLE") + `proctitle=${hex(title)}`);
  lines.push(head("EOE"));
  return lines;
}

// ---------------------------------------------------------------------------------------------

const SEVERITY: Record<string, number> = { emerg: 0, emergency: 0, alert: 1, crit: 2, critical: 2, err: 3, error: 3, warning: 4, warn: 4, notice: 5, info: 6, informational: 6, debug: 7 };
const FACILITY: Record<string, number> = { kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11, ntp: 12, audit: 13, alert: 14, clock: 15, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23 };

/** A Syslog row as the RFC 5424 line its columns describe. */
function syslogLine(o: Obj, message: string): string {
  const pri = (FACILITY[(str(o.Facility) ?? "user").toLowerCase()] ?? 1) * 8 + (SEVERITY[(str(o.SeverityLevel) ?? "info").toLowerCase()] ?? 6);
  const word = (v: unknown) => (str(v) ?? "-").replace(/\s+/g, "_").slice(0, 255);
  const time = isoOf(o.EventTime) ?? isoOf(o.TimeGenerated) ?? "-";
  return `<${pri}>1 ${time} ${word(o.HostName ?? o.Computer)} ${word(o.ProcessName)} ${word(o.ProcessID)} - - ${message}`;
}

function vmConnection(o: Obj, ev: EcsEvent): void {
  const direction = (str(o.Direction) ?? "").toLowerCase();
  ev.event.category = ["network"];
  ev.event.type = ["connection"];
  ev.event.action = direction === "outbound" || direction === "inbound" ? `${direction}_connection` : "connection";
  const src = asIp(o.SourceIp);
  const dst = asIp(o.DestinationIp);
  const srcPort = asPort(o.SourcePort);
  const dstPort = asPort(o.DestinationPort);
  if (src) ev.source = { ip: src, ...(srcPort !== undefined ? { port: srcPort } : {}) };
  if (dst) ev.destination = { ip: dst, ...(dstPort !== undefined ? { port: dstPort } : {}) };
  const sent = asNumber(o.BytesSent);
  const received = asNumber(o.BytesReceived);
  // BytesSent is what the monitored machine sent: the source for outbound, the destination for inbound
  if (sent !== undefined || received !== undefined) {
    const [out, back] = direction === "inbound" ? [received, sent] : [sent, received];
    if (ev.source && out !== undefined) ev.source.bytes = out;
    if (ev.destination && back !== undefined) ev.destination.bytes = back;
    ev.network = { ...(ev.network ?? {}), bytes: (sent ?? 0) + (received ?? 0) };
  }
  const proto = str(o.Protocol);
  ev.network = { ...(ev.network ?? {}), ...(proto ? { transport: proto.toLowerCase().slice(0, 32) } : {}), ...(direction === "outbound" ? { direction: "egress" } : direction === "inbound" ? { direction: "ingress" } : {}) };
  const pname = str(o.ProcessName);
  if (pname) ev.process = { name: pname };
  for (const ip of [src, dst, asIp(o.RemoteIp)]) relate(ev, "ip", ip);
}

export const parser: Parser = {
  name: "azure-log-analytics",
  description: "Azure Monitor Log Analytics / Microsoft Sentinel table rows (Syslog with Sysmon for Linux or AUOMS auditd, SecurityEvent, WindowsEvent, VMConnection, any table) as JSON lines",
  detect(sample) {
    const s = sample.trimStart();
    if (!s.startsWith("{") || !s.includes('"TimeGenerated"')) return 0;
    if (/"Type"\s*:\s*"[A-Za-z_][\w]*"/.test(s) && (s.includes('"TenantId"') || s.includes('"_ResourceId"') || s.includes('"SourceSystem"'))) return 0.97;
    if (s.includes('"SyslogMessage"') || s.includes('"TenantId"')) return 0.9;
    return 0.4;
  },
  open(ctx: ParseContext): ParserSession {
    // the parsers the payloads belong to, one session each (auditd keeps no state across our records)
    let auditd: ParserSession | null = null;
    let syslog: ParserSession | null = null;

    /** Runs `lines` through a session and returns what it emitted (rejections carry the row's record). */
    const through = (session: ParserSession, lines: string[], rec: RawRecord): { events: EcsEvent[]; reasons: string[] } => {
      const events: EcsEvent[] = [];
      const reasons: string[] = [];
      const sub: Emit = { event: (e) => events.push(e), reject: (r) => reasons.push(`${r.code}: ${r.reason}`) };
      for (const data of lines) session.push({ ...rec, data }, sub);
      session.flush(sub);
      return { events, reasons };
    };

    return {
      push(rec, emit) {
        if (rec.data.length > MAX_RECORD) {
          emit.reject({ code: "line_too_long", reason: `record is ${rec.data.length} characters; the limit is ${MAX_RECORD}`, record: rec });
          return;
        }
        let parsed: unknown;
        try {
          parsed = safeJsonParse(rec.data);
        } catch (err) {
          emit.reject({ code: "json_invalid", reason: `invalid JSON: ${(err as Error).message}`, record: rec });
          return;
        }
        const o = asObj(parsed);
        if (!o) {
          emit.reject({ code: "azure_not_a_row", reason: "not a Log Analytics row: expected a JSON object with TimeGenerated", record: rec });
          return;
        }
        const generated = isoOf(o.TimeGenerated);
        if (generated === undefined) {
          emit.reject({ code: o.TimeGenerated === undefined ? "azure_not_a_row" : "azure_bad_timestamp", reason: o.TimeGenerated === undefined ? "not a Log Analytics row: TimeGenerated is missing" : `TimeGenerated ${JSON.stringify(o.TimeGenerated).slice(0, 80)} is not an ISO 8601 time`, record: rec });
          return;
        }
        const table = tableOf(o) ?? "Unknown";
        const computer = str(o.Computer) ?? str(o.HostName);
        let ev: EcsEvent | null = null;
        let failure: { code: string; reason: string } | null = null;
        const message = typeof o.SyslogMessage === "string" ? o.SyslogMessage : undefined;

        if (table === "Syslog" && message !== undefined) {
          if (message.trimStart().startsWith("<Event")) {
            const x = eventXmlToNested(message);
            const r = typeof x === "string" ? { code: "azure_bad_payload", reason: x } : normalizeWindowsObject(x.nested, rec.data, rec, ctx);
            if ("event" in r) {
              ev = r.event;
              // syslog cut the message: what was read is kept, and the event says it is incomplete
              if (typeof x !== "string" && x.truncated) ev.tags = [...(Array.isArray(ev.tags) ? ev.tags : []), "truncated"];
            } else failure = { code: "azure_bad_payload", reason: `SyslogMessage: ${r.reason}` };
          } else if (AUOMS.test(message)) {
            const lines = auomsToAudit(message);
            auditd ??= auditdParser.open(ctx);
            const out = lines ? through(auditd, lines, rec) : { events: [], reasons: ["not an AUOMS record"] };
            if (out.events.length === 1) ev = out.events[0];
            else failure = { code: "azure_bad_payload", reason: `SyslogMessage is an AUOMS record the auditd parser could not read (${out.reasons.join("; ") || `${out.events.length} events`})` };
          } else {
            syslog ??= syslogParser.open(ctx);
            const out = through(syslog, [syslogLine(o, message.replace(/[\r\n]+/g, " "))], rec);
            if (out.events.length === 1) ev = out.events[0];
            else failure = { code: "azure_bad_payload", reason: `Syslog row: ${out.reasons.join("; ") || "no event"}` };
          }
          if (ev) {
            ev.event.original = message;
            ev.event.id = eventId(ev.event.dataset, rec.data, rec.origin);
            ev.host = { ...(ev.host ?? {}), os: { type: "linux" } };
          }
        } else if (table === "SecurityEvent" || (table === "WindowsEvent" && o.EventID !== undefined) || (o.EventID !== undefined && (o.Channel !== undefined || o.EventSourceName !== undefined))) {
          // the row's own columns are the System part; EventData is XML (SecurityEvent) or JSON (WindowsEvent)
          const ed = o.EventData;
          let data: Array<{ "#attributes": { Name: string }; "#text": string }> | null = [];
          if (typeof ed === "string" && ed.trimStart().startsWith("<")) {
            const x = parseXml(ed);
            data = x ? dataItems(child(x.root, "EventData") ?? x.root.children[0]) : null;
          } else if (typeof ed === "string" && ed.trimStart().startsWith("{")) {
            try {
              const j = asObj(safeJsonParse(ed));
              data = j ? Object.keys(j).slice(0, MAX_XML_FIELDS).map((k) => ({ "#attributes": { Name: k }, "#text": typeof j[k] === "string" ? (j[k] as string) : JSON.stringify(j[k]) })) : null;
            } catch {
              data = null;
            }
          } else if (asObj(ed)) {
            const j = asObj(ed)!;
            data = Object.keys(j).slice(0, MAX_XML_FIELDS).map((k) => ({ "#attributes": { Name: k }, "#text": typeof j[k] === "string" ? (j[k] as string) : JSON.stringify(j[k]) }));
          }
          if (data === null) failure = { code: "azure_bad_payload", reason: "EventData is neither event XML nor a JSON object" };
          else {
            // SecurityEvent also has the EventData fields as columns: fill in what EventData lacks
            const named = new Set(data.map((d) => d["#attributes"].Name));
            if (table === "SecurityEvent") {
              for (const k of ["SubjectUserName", "SubjectDomainName", "SubjectUserSid", "SubjectLogonId", "TargetUserName", "TargetDomainName", "TargetUserSid", "TargetLogonId", "NewProcessName", "NewProcessId", "ProcessName", "ProcessId", "CommandLine", "ParentProcessName", "IpAddress", "IpPort", "WorkstationName", "LogonType", "ObjectName", "AccessMask"]) {
                const v = str(o[k]);
                if (v !== undefined && !named.has(k)) data.push({ "#attributes": { Name: k }, "#text": v });
              }
            }
            const channel = str(o.Channel) ?? (str(o.EventSourceName) === "Microsoft-Windows-Security-Auditing" ? "Security" : undefined);
            const utc = data.find((d) => d["#attributes"].Name === "UtcTime")?.["#text"];
            const nested = {
              Event: {
                System: {
                  Provider: { "#attributes": { Name: str(o.Provider) ?? str(o.EventSourceName) } },
                  EventID: String(o.EventID),
                  Channel: channel,
                  Computer: computer,
                  Level: str(o.EventLevel) ?? str(o.Level),
                  Task: str(o.Task),
                  TimeCreated: { "#attributes": { SystemTime: isoOf(utc) ?? generated } },
                },
                EventData: { Data: data },
              },
            };
            const r = normalizeWindowsObject(nested, rec.data, rec, ctx);
            if ("event" in r) ev = r.event;
            else failure = { code: "azure_bad_payload", reason: r.reason };
            if (ev && typeof o.Activity === "string") ev.message ??= o.Activity;
          }
        } else {
          const dataset = `azure.${table.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64) || "unknown"}`;
          ev = { "@timestamp": generated, event: { id: eventId(dataset, rec.data, rec.origin), kind: "event", category: ["host"] as EventCategory[], type: ["info"] as EventType[], module: "azure", dataset } };
          if (table === "VMConnection") vmConnection(o, ev);
          if (computer) ev.host = { name: computer, hostname: computer };
        }

        if (!ev) {
          emit.reject({ code: failure?.code ?? "azure_bad_payload", reason: failure?.reason ?? "the row could not be read", record: rec });
          return;
        }
        // the payload's own time when it has one (Sysmon's TimeCreated, audit's stamp), else TimeGenerated
        if (!ev["@timestamp"]) ev["@timestamp"] = generated;
        if (computer && !ev.host?.name) ev.host = { ...(ev.host ?? {}), name: computer, hostname: computer };
        const os = str(o.OSType)?.toLowerCase();
        if (os === "linux" || os === "windows" || os === "macos") ev.host = { ...(ev.host ?? {}), os: { ...((ev.host?.os as JsonObject | undefined) ?? {}), type: os } };
        const hostIp = asIp(o.HostIP) ?? asIp(o.ComputerIP);
        if (hostIp) {
          ev.host = { ...(ev.host ?? {}), ip: [hostIp] };
          relate(ev, "ip", hostIp);
        }
        if (computer) relate(ev, "hosts", computer);
        const cloud = str(o._ResourceId);
        if (cloud && cloud.startsWith("/subscriptions/")) ev.cloud = { provider: "azure", ...(cloud.split("/")[2] && cloud.split("/")[2] !== "redacted" ? { account: { id: cloud.split("/")[2] } } : {}) };
        ev.azure = { [NS]: { table, columns: columns(o) } } as JsonObject;
        if (rec.path !== undefined || rec.offset !== undefined) {
          const log = (ev.log ??= {}) as JsonObject;
          if (rec.path !== undefined) log.file = { path: rec.path };
          if (rec.offset !== undefined) log.offset = rec.offset;
        }
        emit.event(ev, rec);
      },
      flush() {},
    };
  },
};
