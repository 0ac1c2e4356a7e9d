// Deterministic lane inputs for bench/detect: real samples from ../shared/data, varied by a seeded
// PRNG (users, hosts, pids, guids, paths, arguments, addresses) so no lane repeats one event, and
// serialized as the ECS JSON lines the correlate role reads.

import fs from "node:fs";
import zlib from "node:zlib";
import path from "node:path";
import { splitJsonValues } from "../../correlate/sigma/json-stream.ts";
import { normalizeWindowsObject } from "../../ingest/parsers/windows-events-json/index.ts";
import { defaultParseContext } from "../../ingest/parsers/types.ts";
import { eventId } from "../../schema/event-id.ts";
import { mulberry32 } from "../../platform/prng.ts";

export const prng = mulberry32;

type Obj = Record<string, any>;

const USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "svc_backup", "svc_sql", "admin", "jdoe", "mallory", "trent"];
const HOSTS = ["WKS-0142", "WKS-0877", "SRV-FS01", "SRV-DC02", "LAPTOP-7Q2", "SRV-APP03", "WKS-1203", "JUMP-01"];
const WORDS = ["report", "data", "backup", "invoice", "update", "config", "temp", "build", "archive", "notes", "setup", "log"];
const EXTS = [".txt", ".docx", ".xlsx", ".pdf", ".zip", ".log", ".csv", ".tmp", ".json", ".ps1", ".dll", ".exe"];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function hex(r: () => number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += "0123456789ABCDEF"[Math.floor(r() * 16)];
  return s;
}

function guid(r: () => number): string {
  return `{${hex(r, 8)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 12)}}`;
}

function clone<T>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

/** Replaces the user profile folder in a path and sprinkles a varied file name where one is. */
function varyPath(r: () => number, p: unknown, user: string): unknown {
  if (typeof p !== "string") return p;
  let s = p.replace(/\\Users\\[^\\]+\\/i, `\\Users\\${user}\\`);
  if (r() < 0.3) s = s.replace(/\\([A-Za-z0-9_-]+)(\.[a-z0-9]{2,4})$/i, (_m, _n, ext) => `\\${pick(r, WORDS)}${Math.floor(r() * 1000)}${ext}`);
  return s;
}

function varyCommand(r: () => number, c: unknown, user: string): unknown {
  if (typeof c !== "string") return c;
  let s = c.replace(/\\Users\\[^\\]+\\/gi, `\\Users\\${user}\\`);
  if (r() < 0.5) s += ` ${pick(r, WORDS)}${Math.floor(r() * 100)}${pick(r, EXTS)}`;
  return s;
}

function sharedDir(): string {
  return process.env.SIGIL_SHARED_DATA ?? path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../shared/data");
}

/** Windows events of a real campaign host (OTRF LSASS campaign 02): mostly benign background activity. */
function campaignSamples(filter: (o: Obj) => boolean): Obj[] {
  const file = path.join(sharedDir(), "attacks/otrf-lsass-campaign-02/host-windows-events.jsonl.gz");
  const out: Obj[] = [];
  for (const l of zlib.gunzipSync(fs.readFileSync(file)).toString("utf8").split("\n")) {
    if (!l.trim()) continue;
    try {
      const o = JSON.parse(l) as Obj;
      if (filter(o)) out.push(o);
    } catch {
      // the recording has a few truncated lines; they are not lane input
    }
  }
  return out;
}

/** Raw Windows events (nested and flat shapes) of the given Sysmon/Security event ids: regression and OTRF samples. */
function windowsSamples(filter: (o: Obj) => boolean): Obj[] {
  const dir = sharedDir();
  const out: Obj[] = [];
  const reg = path.join(dir, "sigma-regression");
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".json")) for (const c of splitJsonValues(fs.readFileSync(p, "utf8"))) out.push(JSON.parse(c.text));
    }
  };
  walk(reg);
  const otrf = path.join(dir, "logs/windows-events-json/otrf-security-datasets");
  for (const f of fs.readdirSync(otrf)) if (f.endsWith(".json")) for (const l of fs.readFileSync(path.join(otrf, f), "utf8").split("\n")) if (l.trim()) out.push(JSON.parse(l));
  return out.filter(filter);
}

function eid(o: Obj): string {
  return String(o.Event?.System?.EventID ?? o.EventID ?? "");
}
function chan(o: Obj): string {
  return String(o.Event?.System?.Channel ?? o.Channel ?? "").toLowerCase();
}
function data(o: Obj): Obj {
  return o.Event ? (o.Event.EventData ?? {}) : o;
}
function setComputer(o: Obj, h: string) {
  if (o.Event) o.Event.System.Computer = h;
  else o.Hostname = h;
}

/**
 * Normalizes varied raw Windows events to ECS JSON lines: background events from a real host, with a
 * small share (`attackShare`) of known-malicious samples (SigmaHQ regression events) mixed in.
 */
function windowsLane(background: Obj[], attacks: Obj[], n: number, seed: number, vary: (r: () => number, d: Obj) => void, attackShare = 0.05): string[] {
  if (background.length === 0) throw new Error("no samples for lane");
  const r = prng(seed);
  const ctx = defaultParseContext({ now: () => new Date("2026-01-01T00:00:00Z") });
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const o = clone(attacks.length && r() < attackShare ? pick(r, attacks) : pick(r, background));
    setComputer(o, pick(r, HOSTS));
    vary(r, data(o));
    const raw = JSON.stringify(o);
    const res = normalizeWindowsObject(o, raw, { data: raw, source: "bench", origin: `bench@${i}` }, ctx);
    if (!("event" in res)) throw new Error(`sample did not normalize: ${res.reason}`);
    out.push(JSON.stringify(res.event));
  }
  return out;
}

export function sysmonProcessLane(n: number): string[] {
  const f = (o: Obj) => eid(o) === "1" && chan(o).includes("sysmon");
  return windowsLane(campaignSamples(f), windowsSamples(f), n, 1, (r, d) => {
    const user = pick(r, USERS);
    d.ProcessId = Math.floor(r() * 60000);
    d.ParentProcessId = Math.floor(r() * 60000);
    d.ProcessGuid = guid(r);
    d.ParentProcessGuid = guid(r);
    if (typeof d.User === "string") d.User = d.User.replace(/\\.*$/, `\\${user}`);
    d.Image = varyPath(r, d.Image, user);
    d.CommandLine = varyCommand(r, d.CommandLine, user);
    d.CurrentDirectory = varyPath(r, d.CurrentDirectory, user);
    d.LogonId = `0x${hex(r, 6).toLowerCase()}`;
  });
}

export function sysmonFileLane(n: number): string[] {
  const f = (o: Obj) => (eid(o) === "11" || eid(o) === "23") && chan(o).includes("sysmon");
  return windowsLane(campaignSamples(f), windowsSamples(f), n, 2, (r, d) => {
    const user = pick(r, USERS);
    d.ProcessId = Math.floor(r() * 60000);
    d.ProcessGuid = guid(r);
    d.Image = varyPath(r, d.Image, user);
    const t = typeof d.TargetFilename === "string" ? d.TargetFilename : `C:\\Users\\${user}\\AppData\\Local\\Temp\\x.tmp`;
    d.TargetFilename = r() < 0.5 ? varyPath(r, t, user) : `C:\\Users\\${user}\\${pick(r, ["Documents", "Downloads", "AppData\\Local\\Temp", "Desktop"])}\\${pick(r, WORDS)}${Math.floor(r() * 10000)}${pick(r, EXTS)}`;
  });
}

export function securityLogonLane(n: number): string[] {
  const f = (o: Obj) => chan(o) === "security" && ["4624", "4625", "4634", "4672", "4648"].includes(eid(o));
  return windowsLane([...campaignSamples(f), ...windowsSamples(f)], [], n, 3, (r, d) => {
    const user = pick(r, USERS);
    if ("TargetUserName" in d) d.TargetUserName = user;
    if ("SubjectUserName" in d) d.SubjectUserName = r() < 0.5 ? `${pick(r, HOSTS)}$` : user;
    if ("IpAddress" in d) d.IpAddress = `10.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${Math.floor(r() * 254) + 1}`;
    if ("IpPort" in d) d.IpPort = String(1024 + Math.floor(r() * 60000));
    if ("LogonType" in d) d.LogonType = String(pick(r, [2, 3, 3, 3, 5, 7, 10, 11]));
    if ("TargetLogonId" in d) d.TargetLogonId = `0x${hex(r, 6).toLowerCase()}`;
    if ("WorkstationName" in d) d.WorkstationName = pick(r, HOSTS);
  });
}

const SYSLOG = /^(\w{3} +\d+ [\d:]+) (\S+) ([^\s:[(]+)(?:\([^)]*\))?(?:\[(\d+)\])?: (.*)$/;

/** Raw syslog lines (loghub Linux /var/log/messages) as the ECS events keyword rules see. */
export function syslogLane(n: number): string[] {
  const file = path.join(sharedDir(), "logs/syslog-rfc3164/loghub/Linux_2k.log");
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => SYSLOG.test(l));
  const r = prng(4);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let line = lines[i % lines.length];
    line = line.replace(/\b(\d{1,3}\.){3}\d{1,3}\b/g, () => `${Math.floor(r() * 223) + 1}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${Math.floor(r() * 254) + 1}`).replace(/\[(\d+)\]/, () => `[${Math.floor(r() * 60000)}]`).replace(/user (\w+)/, () => `user ${pick(r, USERS)}`);
    const m = SYSLOG.exec(line) as RegExpExecArray;
    const ev = {
      "@timestamp": new Date(Date.UTC(2026, 5, 14, 15, 16, Math.floor(i / 10))).toISOString(),
      event: { id: eventId("system.syslog", line, `bench@${i}`), kind: "event", category: [], type: ["info"], dataset: "system.syslog", module: "system", original: line },
      message: m[5],
      host: { name: m[2], hostname: m[2] },
      process: { name: m[3], ...(m[4] ? { pid: Number(m[4]) } : {}) },
      log: { syslog: { appname: m[3] } },
    };
    out.push(JSON.stringify(ev));
  }
  return out;
}

const CLF = /^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"/;

/** Web access log lines (elastic/examples apache combined log) as ECS web events. */
export function webAccessLane(n: number): string[] {
  const file = path.join(sharedDir(), "logs/apache-access/elastic-examples/apache_logs.first5000.log");
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => CLF.test(l));
  const r = prng(5);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const line = lines[i % lines.length].replace(/^\S+/, () => `${Math.floor(r() * 223) + 1}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${Math.floor(r() * 254) + 1}`);
    const m = CLF.exec(line) as RegExpExecArray;
    const target = m[5];
    const q = target.indexOf("?");
    const ev = {
      "@timestamp": new Date(Date.UTC(2015, 4, 17, 10, 5, Math.floor(i / 10))).toISOString(),
      event: { id: eventId("apache.access", line, `bench@${i}`), kind: "event", category: ["web"], type: ["access"], dataset: "apache.access", module: "apache", original: line, outcome: Number(m[7]) < 400 ? "success" : "failure" },
      source: { ip: m[1], address: m[1] },
      user: m[2] !== "-" ? { name: m[2] } : undefined,
      http: { request: { method: m[4], ...(m[9] !== "-" ? { referrer: m[9] } : {}) }, response: { status_code: Number(m[7]), body: { bytes: m[8] === "-" ? 0 : Number(m[8]) } }, version: m[6].replace("HTTP/", "") },
      url: { original: target, path: q >= 0 ? target.slice(0, q) : target, ...(q >= 0 ? { query: target.slice(q + 1) } : {}) },
      user_agent: { original: m[10] },
    };
    out.push(JSON.stringify(ev));
  }
  return out;
}
