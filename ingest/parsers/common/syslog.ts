// Syslog framing shared by the syslog-rfc3164, syslog-rfc5424 and sshd-auth parsers: the <PRI>, the
// RFC 5424 header and structured data, the BSD header (year-less or ISO stamp, host, tag[pid]:), and
// the event every syslog line becomes. A hand-written scanner: this runs for every line.

import type { EcsEvent, JsonObject } from "../../../schema/ecs.ts";
import { isUnsafeKey } from "../../../schema/fields.ts";
import { monthIndex, parseIsoAt, resolveYearless, toIso, validDate, localToUtc, type ParsedStamp, type ZoneOffset } from "./time.ts";

export interface SyslogHeader {
  /** <PRI> value, -1 when the line has none. */
  pri: number;
  /** 1 for RFC 5424, 0 for BSD (RFC 3164) framing. */
  version: number;
  /** Epoch ms of the stamp (NaN for RFC 5424 "-"). */
  ms: number;
  /** True when the year came from the clock (RFC 3164 stamps carry none). */
  yearless: boolean;
  /** True when the RFC 5424 stamp was "-" and `ms` is the receiving clock's time. */
  nilTime?: boolean;
  host?: string;
  /** RFC 5424 APP-NAME or the BSD tag. */
  app?: string;
  procid?: string;
  msgid?: string;
  sd?: JsonObject;
  msg: string;
}

const FACILITIES = [
  "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
  "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];
const SEVERITIES = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"];
/** log.level values (short forms, as syslog daemons print them). */
const LEVELS = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function num(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(i + k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

const stamp: ParsedStamp = { ms: NaN, end: 0 };

/**
 * Parses one syslog line. Returns null when no syslog header is recognizable (no stamp where one must
 * be); the caller rejects the line with a reason.
 */
export function parseSyslog(line: string, zone: ZoneOffset, nowMs: number): SyslogHeader | null {
  let i = 0;
  let pri = -1;
  if (line.charCodeAt(0) === 60 /* < */) {
    let j = 1;
    let v = 0;
    while (j < 5 && isDigit(line.charCodeAt(j))) v = v * 10 + line.charCodeAt(j++) - 48;
    if (j === 1 || line.charCodeAt(j) !== 62 /* > */ || v > 191) return null;
    pri = v;
    i = j + 1;
  }
  // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
  if (pri >= 0 && isDigit(line.charCodeAt(i))) {
    let j = i;
    while (j < i + 3 && isDigit(line.charCodeAt(j))) j++;
    if (line.charCodeAt(j) === 32 && (line.charCodeAt(j + 1) === 45 /* - */ ? line.charCodeAt(j + 2) === 32 : num(line, j + 1, 4) >= 0 && line.charCodeAt(j + 5) === 45)) {
      return parse5424(line, j + 1, pri, Number(line.slice(i, j)), zone, nowMs);
    }
  }
  return parse3164(line, i, pri, zone, nowMs);
}

function nextField(line: string, i: number): [string | undefined, number] {
  let j = line.indexOf(" ", i);
  if (j < 0) j = line.length;
  const v = line.slice(i, j);
  return [v === "-" || v === "" ? undefined : v, j + 1];
}

function parse5424(line: string, i: number, pri: number, version: number, zone: ZoneOffset, nowMs: number): SyslogHeader | null {
  let ms: number;
  let nil = false;
  if (line.charCodeAt(i) === 45) {
    // NILVALUE: the sender had no clock; the receiving time stands in (and event.created says so)
    ms = nowMs;
    nil = true;
    i += 2;
  } else {
    const r = parseIsoAt(line, i, zone, stamp);
    if (Number.isNaN(r.ms) || line.charCodeAt(r.end) !== 32) return null;
    ms = r.ms;
    i = r.end + 1;
  }
  let host: string | undefined, app: string | undefined, procid: string | undefined, msgid: string | undefined;
  [host, i] = nextField(line, i);
  [app, i] = nextField(line, i);
  [procid, i] = nextField(line, i);
  [msgid, i] = nextField(line, i);
  if (i > line.length + 1) return null;
  let sd: JsonObject | undefined;
  if (line.charCodeAt(i) === 45 /* - */) i += 2;
  else if (line.charCodeAt(i) === 91 /* [ */) {
    const r = parseStructuredData(line, i);
    if (!r) return null;
    sd = r.sd;
    i = r.end;
    if (line.charCodeAt(i) === 32) i++;
  } else if (i < line.length) return null;
  let msg = i < line.length ? line.slice(i) : "";
  if (msg.charCodeAt(0) === 0xfeff) msg = msg.slice(1);
  return { pri, version, ms, yearless: false, nilTime: nil, host, app, procid, msgid, sd, msg };
}

/** RFC 5424 STRUCTURED-DATA: one or more [id name="value" ...] with \" \\ \] escapes. */
function parseStructuredData(line: string, i: number): { sd: JsonObject; end: number } | null {
  const sd: JsonObject = {};
  let count = 0;
  while (line.charCodeAt(i) === 91) {
    if (++count > 64) return null;
    let j = i + 1;
    while (j < line.length && line.charCodeAt(j) !== 32 && line.charCodeAt(j) !== 93) j++;
    const id = line.slice(i + 1, j);
    if (id.length === 0 || j >= line.length) return null;
    const params: JsonObject = {};
    while (line.charCodeAt(j) === 32) {
      const eq = line.indexOf("=", j + 1);
      if (eq < 0 || line.charCodeAt(eq + 1) !== 34 /* " */) return null;
      const name = line.slice(j + 1, eq);
      let k = eq + 2;
      let value = "";
      let start = k;
      for (;;) {
        if (k >= line.length) return null;
        const c = line.charCodeAt(k);
        if (c === 92 /* \ */ && k + 1 < line.length) {
          value += line.slice(start, k);
          value += line[k + 1];
          k += 2;
          start = k;
          continue;
        }
        if (c === 34) break;
        k++;
      }
      value += line.slice(start, k);
      if (!isUnsafeKey(name) && name.length > 0) {
        const prev = params[name];
        params[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev as string, value];
      }
      j = k + 1;
    }
    if (line.charCodeAt(j) !== 93) return null;
    if (!isUnsafeKey(id)) sd[id] = params;
    i = j + 1;
  }
  return { sd, end: i };
}

function parse3164(line: string, i: number, pri: number, zone: ZoneOffset, nowMs: number): SyslogHeader | null {
  let ms: number;
  let yearless = false;
  const c0 = line.charCodeAt(i);
  if (isDigit(c0)) {
    const r = parseIsoAt(line, i, zone, stamp);
    if (Number.isNaN(r.ms)) return null;
    ms = r.ms;
    i = r.end;
  } else {
    // Mmm dd HH:MM:SS[.fff] [YYYY] — also "Mmm dd YYYY HH:MM:SS"
    const mo = monthIndex(line.slice(i, i + 3));
    if (mo < 0 || line.charCodeAt(i + 3) !== 32) return null;
    let j = i + 4;
    if (line.charCodeAt(j) === 32) j++;
    let d = 0;
    const dStart = j;
    while (j < dStart + 2 && isDigit(line.charCodeAt(j))) d = d * 10 + line.charCodeAt(j++) - 48;
    if (j === dStart || line.charCodeAt(j) !== 32) return null;
    j++;
    let year = -1;
    if (num(line, j, 4) >= 0 && line.charCodeAt(j + 4) === 32) {
      year = num(line, j, 4);
      j += 5;
    }
    const h = num(line, j, 2);
    const mi = num(line, j + 3, 2);
    const s = num(line, j + 6, 2);
    if (h < 0 || mi < 0 || s < 0 || line.charCodeAt(j + 2) !== 58 || line.charCodeAt(j + 5) !== 58 || h > 23 || mi > 59 || s > 60) return null;
    j += 8;
    let frac = 0;
    if (line.charCodeAt(j) === 46) {
      let scale = 100;
      j++;
      const st = j;
      while (isDigit(line.charCodeAt(j))) {
        if (scale >= 1) frac += (line.charCodeAt(j) - 48) * scale;
        scale /= 10;
        j++;
      }
      if (j === st) return null;
      frac = Math.floor(frac);
    }
    if (year < 0 && line.charCodeAt(j) === 32 && num(line, j + 1, 4) >= 0 && (line.charCodeAt(j + 5) === 32 || j + 5 === line.length)) {
      year = num(line, j + 1, 4);
      j += 5;
    }
    if (year >= 0) {
      if (!validDate(year, mo, d)) return null;
      ms = localToUtc(zone, year, mo, d, h, mi, Math.min(s, 59), frac);
    } else {
      ms = resolveYearless(zone, nowMs, mo, d, h, mi, Math.min(s, 59), frac);
      yearless = true;
      if (Number.isNaN(ms)) return null;
    }
    i = j;
  }
  if (i < line.length && line.charCodeAt(i) !== 32) return null;
  // after the stamp: [HOST SP] TAG[PID]: MSG, or just MSG
  let rest = i + 1;
  let host: string | undefined;
  if (line.charCodeAt(rest) === 32) {
    // empty host field ("Feb  9 21:20:08  sshd[8317]: ...")
    rest++;
  } else {
    const sp = line.indexOf(" ", rest);
    const first = sp < 0 ? line.slice(rest) : line.slice(rest, sp);
    if (first.endsWith(":")) {
      // no host: the first token is the tag ("<13>Feb  5 17:32:18 myprog[123]: msg")
      const asTag = parseTag(line, rest);
      if (asTag && asTag.end >= rest + first.length) return { pri, version: 0, ms, yearless, app: asTag.app, procid: asTag.pid, msg: line.slice(asTag.end) };
    }
    if (sp > 0 && looksLikeHost(first)) {
      host = first;
      rest = sp + 1;
    } else {
      return { pri, version: 0, ms, yearless, msg: line.slice(Math.min(rest, line.length)) };
    }
  }
  const tag = parseTag(line, rest);
  if (tag) return { pri, version: 0, ms, yearless, host, app: tag.app, procid: tag.pid, msg: line.slice(tag.end) };
  if (host !== undefined && /^[A-Za-z0-9]/.test(host)) return { pri, version: 0, ms, yearless, host, msg: line.slice(rest) };
  return { pri, version: 0, ms, yearless, msg: line.slice(Math.min(i + 1, line.length)) };
}

function looksLikeHost(s: string): boolean {
  if (s.length === 0 || s.length > 255) return false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    const ok = (c >= 48 && c <= 58) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95 || c === 37 || c === 91 || c === 93;
    if (!ok) return false;
  }
  return /[A-Za-z0-9]/.test(s);
}

/** TAG[PID]: or TAG: at `i`, followed by a space or the end. */
function parseTag(line: string, i: number): { app: string; pid?: string; end: number } | null {
  let j = i;
  const max = Math.min(line.length, i + 128);
  while (j < max) {
    const c = line.charCodeAt(j);
    if (c === 91 /* [ */ || c === 58 /* : */ || c === 32) break;
    j++;
  }
  if (j === i || j >= line.length) return null;
  const app = line.slice(i, j);
  let pid: string | undefined;
  if (line.charCodeAt(j) === 91) {
    const close = line.indexOf("]", j + 1);
    if (close < 0 || close - j > 32) return null;
    pid = line.slice(j + 1, close);
    j = close + 1;
  }
  if (line.charCodeAt(j) !== 58) return null;
  j++;
  if (j < line.length && line.charCodeAt(j) !== 32) return null;
  return { app, pid, end: Math.min(j + 1, line.length) };
}

/** The ECS event of a syslog line before program-specific enrichment. */
export function syslogEvent(h: SyslogHeader, dataset: string): EcsEvent | null {
  const ts = toIso(h.ms);
  if (ts === null) return null;
  const ev: EcsEvent = {
    "@timestamp": ts,
    event: { id: "", kind: "event", category: [], type: ["info"], dataset, module: "system" },
    message: h.msg,
  };
  if (h.nilTime) ev.event.created = ts;
  if (h.host !== undefined) {
    ev.host = { name: h.host, hostname: h.host };
    ev.related = { hosts: [h.host] };
  }
  if (h.app !== undefined) {
    const paren = h.app.indexOf("(");
    const proc: JsonObject = { name: paren > 0 ? h.app.slice(0, paren) : h.app };
    if (h.procid !== undefined) {
      const pid = /^\d{1,10}$/.test(h.procid) ? Number(h.procid) : NaN;
      if (pid <= 2 ** 31) proc.pid = pid;
    }
    ev.process = proc;
  }
  const syslog: JsonObject = {};
  if (h.pri >= 0) {
    const fac = h.pri >> 3;
    const sev = h.pri & 7;
    syslog.priority = h.pri;
    syslog.facility = { code: fac, name: FACILITIES[fac] ?? `facility${fac}` };
    syslog.severity = { code: sev, name: SEVERITIES[sev] };
  }
  if (h.version > 0) syslog.version = String(h.version);
  if (h.app !== undefined) syslog.appname = h.app;
  if (h.procid !== undefined) syslog.procid = h.procid;
  if (h.msgid !== undefined) syslog.msgid = h.msgid;
  if (h.sd !== undefined) syslog.structured_data = h.sd;
  if (h.host !== undefined) syslog.hostname = h.host;
  const log: JsonObject = { syslog };
  if (h.pri >= 0) log.level = LEVELS[h.pri & 7];
  ev.log = log;
  return ev;
}

/** 0..1: how much a sample line looks like syslog with BSD framing. */
export function looks3164(line: string): number {
  return /^(<\d{1,3}>)?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /.test(line) ? 0.9 : /^(<\d{1,3}>)?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S* \S+ \S+?(\[\d+\])?: /.test(line) ? 0.7 : 0;
}

/** 0..1: how much a sample line looks like RFC 5424. */
export function looks5424(line: string): number {
  return /^<\d{1,3}>\d{1,2} (\d{4}-\d\d-\d\dT\S+|-) \S+ \S+ \S+ \S+ (-|\[)/.test(line) ? 0.95 : 0;
}
