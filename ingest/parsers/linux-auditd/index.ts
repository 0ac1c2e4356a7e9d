// Linux audit daemon logs (/var/log/audit/audit.log): records joined into one event per serial
// (SYSCALL + EXECVE + CWD + PATH + PROCTITLE ...), hex-encoded values decoded, every record's fields
// kept under auditd.data.<key> with the record types in auditd.message_type, the raw lines in
// event.original, and process, user, source and file fields mapped to ECS.

import type { EcsEvent, EventCategory, EventType, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { isUnsafeKey } from "../../../schema/fields.ts";
import type { Emit, ParseContext, Parser, ParserSession, RawRecord } from "../types.ts";
import { finish, reject, relate, setHost } from "../common/event.ts";
import { asIp, asPort } from "../common/net.ts";
import { toIso } from "../common/time.ts";

const HEADER = /^(?:node=(\S+) )?type=([A-Z0-9_]+) msg=audit\((\d{1,12})(?:\.(\d{1,6}))?:(\d{1,20})\): ?/;
/** Groups of records waiting for more records with their serial; older ones are emitted beyond this. */
const MAX_OPEN_EVENTS = 4;
const MAX_RECORDS_PER_EVENT = 512;

/** Fields auditd hex-encodes when the value holds spaces, quotes or control characters. */
const ENCODED = new Set([
  "acct", "cmd", "comm", "cwd", "data", "dir", "exe", "file", "grp", "key", "name", "new-disk", "new-fs", "new_group", "ocomm", "old-disk",
  "old-fs", "path", "proctitle", "root_dir", "sw", "vm", "watch", "new-chardev", "old-chardev", "saddr",
]);
/** User-space record types: each is a whole event (kernel records wait for the rest of their serial). */
const STANDALONE_PREFIX = /^(USER_|CRED_|DAEMON_|SERVICE_|SYSTEM_|CRYPTO_|VIRT_|ROLE_|GRP_|ACCT_|ANOM_LOGIN_|ANOM_RBAC_|LABEL_|RESP_)/;
const STANDALONE = new Set(["ADD_USER", "DEL_USER", "ADD_GROUP", "DEL_GROUP", "USYS_CONFIG", "CHGRP_ID", "CHUSER_ID", "TRUSTED_APP", "TEST", "SOFTWARE_UPDATE"]);
function standalone(type: string): boolean {
  return STANDALONE.has(type) || STANDALONE_PREFIX.test(type);
}

const ARCH: Record<string, string> = { c000003e: "x86_64", "40000003": "i386", c00000b7: "aarch64", "40000028": "arm", c0000015: "ppc64le", "80000016": "s390x", c000f243: "riscv64" };
/** execve / execveat syscall numbers per architecture. */
const EXEC_SYSCALLS: Record<string, Set<string>> = { x86_64: new Set(["59", "322"]), i386: new Set(["11", "358"]), aarch64: new Set(["221", "281"]), arm: new Set(["11", "387"]) };

interface AuditRecord {
  type: string;
  node?: string;
  ms: number;
  serial: string;
  fields: Record<string, string>;
  /** Enriched (log_format=ENRICHED) interpretations after the 0x1d separator: AUID="alice" ... */
  enriched: Record<string, string>;
  raw: string;
  rec: RawRecord;
}

function decodeHex(v: string): string | null {
  if (v.length < 2 || v.length % 2 !== 0 || v.length > 262_144 || !/^[0-9A-Fa-f]+$/.test(v)) return null;
  const buf = Buffer.from(v, "hex");
  return buf.toString("utf8");
}

/** key=value pairs with "double" or 'single' quoted values; msg='...' is parsed as nested pairs. */
function parseFields(s: string, out: Record<string, string>, execve: boolean, depth = 0): void {
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
    const eq = s.indexOf("=", i);
    if (eq < 0) break;
    const sp = s.indexOf(" ", i);
    if (sp >= 0 && sp < eq) {
      // a bare word ("user", "login") with no value: skip it
      i = sp + 1;
      continue;
    }
    const key = s.slice(i, eq);
    let j = eq + 1;
    let value: string;
    let quoted = false;
    const q = s.charCodeAt(j);
    if (q === 34 || q === 39) {
      const close = s.indexOf(q === 34 ? '"' : "'", j + 1);
      const end = close < 0 ? n : close;
      value = s.slice(j + 1, end);
      j = end + 1;
      quoted = true;
      if (q === 39 && key === "msg" && depth === 0) {
        parseFields(value, out, execve, depth + 1);
        i = j;
        continue;
      }
    } else {
      let end = s.indexOf(" ", j);
      if (end < 0) end = n;
      value = s.slice(j, end);
      j = end;
    }
    if (key.length > 0 && key.length <= 64 && !isUnsafeKey(key)) {
      if (!quoted && (ENCODED.has(key) || (execve && /^a\d{1,4}(\[\d+\])?$/.test(key))) && value !== "(null)" && value !== "?") {
        const decoded = decodeHex(value);
        if (decoded !== null) value = decoded;
      }
      if (value !== "(null)") out[key] = value;
    }
    i = j;
  }
}

function parseRecord(rec: RawRecord): AuditRecord | null {
  const line = rec.data;
  const m = HEADER.exec(line);
  if (!m) return null;
  const ms = Number(m[3]) * 1000 + (m[4] ? Math.floor(Number(m[4].padEnd(3, "0").slice(0, 3))) : 0);
  const body = line.slice(m[0].length);
  const gs = body.indexOf("\x1d");
  const fields: Record<string, string> = Object.create(null);
  const enriched: Record<string, string> = Object.create(null);
  parseFields(gs >= 0 ? body.slice(0, gs) : body, fields, m[2] === "EXECVE");
  if (gs >= 0) parseFields(body.slice(gs + 1), enriched, false);
  return { type: m[2], node: m[1], ms, serial: m[5], fields, enriched, raw: line, rec };
}

/** Merges record fields: EXECVE arguments win over SYSCALL registers; repeated keys of one type become lists. */
function mergeData(records: AuditRecord[]): JsonObject {
  const data: JsonObject = {};
  const from: Record<string, string> = Object.create(null);
  const ordered = [...records.filter((r) => r.type === "EXECVE"), ...records.filter((r) => r.type !== "EXECVE" && r.type !== "SYSCALL"), ...records.filter((r) => r.type === "SYSCALL")];
  for (const r of ordered) {
    for (const [k, v] of Object.entries(r.fields)) {
      if (k === "type") continue;
      const prev = data[k];
      if (prev === undefined) {
        data[k] = v;
        from[k] = r.type;
      } else if (from[k] === r.type) {
        data[k] = Array.isArray(prev) ? [...prev, v] : [prev as string, v];
      }
    }
    for (const [k, v] of Object.entries(r.enriched)) if (data[k] === undefined) data[k] = v;
  }
  return data;
}

function classify(ev: EcsEvent, category: EventCategory[], type: EventType[]): void {
  ev.event.category = category;
  ev.event.type = type;
}

const USER_TYPES: Record<string, [EventCategory[], EventType[]]> = {
  USER_LOGIN: [["authentication", "session"], ["start"]],
  USER_LOGOUT: [["session"], ["end"]],
  USER_AUTH: [["authentication"], ["info"]],
  USER_ACCT: [["authentication"], ["info"]],
  USER_MGMT: [["iam"], ["change"]],
  USER_START: [["session"], ["start"]],
  USER_END: [["session"], ["end"]],
  USER_ERR: [["authentication"], ["error"]],
  USER_CMD: [["process"], ["start"]],
  USER_TTY: [["process"], ["info"]],
  USER_CHAUTHTOK: [["iam"], ["user", "change"]],
  USER_ROLE_CHANGE: [["iam"], ["user", "change"]],
  USER_AVC: [["process"], ["denied"]],
  USER_SELINUX_ERR: [["process"], ["error"]],
  USER_DEVICE: [["host"], ["change"]],
  CRED_ACQ: [["authentication"], ["info"]],
  CRED_DISP: [["authentication"], ["info"]],
  CRED_REFR: [["authentication"], ["info"]],
  LOGIN: [["authentication", "session"], ["start"]],
  ADD_USER: [["iam"], ["user", "creation"]],
  DEL_USER: [["iam"], ["user", "deletion"]],
  ADD_GROUP: [["iam"], ["group", "creation"]],
  DEL_GROUP: [["iam"], ["group", "deletion"]],
  GRP_MGMT: [["iam"], ["group", "change"]],
  GRP_CHAUTHTOK: [["iam"], ["group", "change"]],
  ROLE_ASSIGN: [["iam"], ["user", "change"]],
  ROLE_REMOVE: [["iam"], ["user", "change"]],
  SERVICE_START: [["process"], ["start"]],
  SERVICE_STOP: [["process"], ["end"]],
  SYSTEM_BOOT: [["host"], ["start"]],
  SYSTEM_SHUTDOWN: [["host"], ["end"]],
  SYSTEM_RUNLEVEL: [["host"], ["change"]],
  DAEMON_START: [["process"], ["start"]],
  DAEMON_END: [["process"], ["end"]],
  DAEMON_ABORT: [["process"], ["end", "error"]],
  CONFIG_CHANGE: [["configuration"], ["change"]],
  NETFILTER_CFG: [["configuration", "network"], ["change"]],
  MAC_POLICY_LOAD: [["configuration"], ["change"]],
  MAC_STATUS: [["configuration"], ["change"]],
  MAC_CONFIG_CHANGE: [["configuration"], ["change"]],
  MAC_IPSEC_EVENT: [["network"], ["info"]],
  CRYPTO_SESSION: [["network"], ["info"]],
  CRYPTO_KEY_USER: [["network"], ["info"]],
  AVC: [["process"], ["denied"]],
  ANOM_ABEND: [["process"], ["end", "error"]],
  ANOM_PROMISCUOUS: [["network", "host"], ["change"]],
  ANOM_LOGIN_FAILURES: [["authentication"], ["info"]],
  ANOM_EXEC: [["process"], ["start"]],
  KERNEL_OTHER: [["host"], ["info"]],
};

function outcomeOf(data: JsonObject): "success" | "failure" | undefined {
  const s = data.success ?? data.res ?? data.result;
  const v = Array.isArray(s) ? s[0] : s;
  if (v === "yes" || v === "success" || v === "1") return "success";
  if (v === "no" || v === "failed" || v === "0") return "failure";
  return undefined;
}

function firstString(v: JsonValue | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && typeof v[0] === "string") return v[0];
  return undefined;
}

function buildEvent(records: AuditRecord[]): EcsEvent | null {
  const primary = records.find((r) => r.type === "SYSCALL") ?? records[0];
  const ts = toIso(primary.ms);
  if (ts === null) return null;
  const types: string[] = [];
  for (const r of records) if (!types.includes(r.type) && r.type !== "EOE") types.push(r.type);
  const data = mergeData(records);
  const ev: EcsEvent = {
    "@timestamp": ts,
    event: { id: "", kind: "event", category: [], type: ["info"], dataset: "auditd.log", module: "auditd", action: primary.type.toLowerCase() },
  };
  const outcome = outcomeOf(data);
  if (outcome) ev.event.outcome = outcome;
  setHost(ev, primary.node);

  // process
  const proc: JsonObject = {};
  const pid = Number(firstString(data.pid));
  if (Number.isInteger(pid) && pid >= 0) proc.pid = pid;
  const ppid = Number(firstString(data.ppid));
  if (Number.isInteger(ppid) && ppid >= 0) proc.parent = { pid: ppid };
  const exe = firstString(data.exe);
  if (exe) proc.executable = exe;
  const comm = firstString(data.comm);
  if (comm) proc.name = comm;
  else if (exe) proc.name = exe.slice(exe.lastIndexOf("/") + 1);
  const execve = records.find((r) => r.type === "EXECVE");
  if (execve) {
    const argc = Number(execve.fields.argc);
    const args: string[] = [];
    for (let k = 0; k < Math.min(Number.isInteger(argc) ? argc : 4096, 4096); k++) {
      const a = execve.fields[`a${k}`];
      if (a === undefined) {
        // long arguments come as a1[0]=.. a1[1]=..
        let joined = "";
        for (let part = 0; execve.fields[`a${k}[${part}]`] !== undefined; part++) joined += execve.fields[`a${k}[${part}]`];
        if (joined === "") break;
        args.push(joined);
      } else args.push(a);
    }
    if (args.length > 0) {
      proc.args = args;
      proc.args_count = args.length;
      proc.command_line = args.join(" ");
    }
  }
  const cwd = records.find((r) => r.type === "CWD")?.fields.cwd;
  if (cwd) proc.working_directory = cwd;
  const title = records.find((r) => r.type === "PROCTITLE")?.fields.proctitle;
  if (title) proc.title = title.replace(/\0/g, " ").trim();
  const cmd = firstString(data.cmd);
  if (cmd && !proc.command_line) {
    proc.command_line = cmd;
    proc.args = cmd.split(" ").filter((x) => x.length > 0);
  }
  if (Object.keys(proc).length > 0) ev.process = proc;

  // users: ids as written, names from enriched fields or acct=
  const user: JsonObject = {};
  const id = (k: string) => {
    const v = firstString(data[k]);
    return v === undefined || v === "?" || v === "-1" ? undefined : v;
  };
  if (id("uid") !== undefined) user.id = id("uid");
  if (id("gid") !== undefined) user.group = { id: id("gid") };
  if (id("auid") !== undefined) user.audit = { id: id("auid") };
  if (id("euid") !== undefined || id("egid") !== undefined) user.effective = { ...(id("euid") !== undefined ? { id: id("euid") } : {}), ...(id("egid") !== undefined ? { group: { id: id("egid") } } : {}) };
  if (id("suid") !== undefined || id("sgid") !== undefined) user.saved = { ...(id("suid") !== undefined ? { id: id("suid") } : {}), ...(id("sgid") !== undefined ? { group: { id: id("sgid") } } : {}) };
  if (id("fsuid") !== undefined || id("fsgid") !== undefined) user.filesystem = { ...(id("fsuid") !== undefined ? { id: id("fsuid") } : {}), ...(id("fsgid") !== undefined ? { group: { id: id("fsgid") } } : {}) };
  const name = firstString(data.UID) ?? firstString(data.acct);
  if (name && name !== "?" && name !== "(unknown)") {
    user.name = name;
    relate(ev, "user", name);
  }
  const auidName = firstString(data.AUID);
  if (auidName && auidName !== "unset" && user.audit) (user.audit as JsonObject).name = auidName;
  if (typeof data.tty === "string" && data.tty !== "(none)") user.terminal = data.tty;
  if (Object.keys(user).length > 0) ev.user = user;

  // network peers
  const addr = asIp(firstString(data.addr));
  const peerHost = firstString(data.hostname);
  if (addr) {
    ev.source = { address: addr, ip: addr };
    relate(ev, "ip", addr);
    const rport = asPort(firstString(data.rport));
    if (rport !== undefined) ev.source.port = rport;
  } else {
    const ipsec = records.find((r) => r.type === "MAC_IPSEC_EVENT");
    const src = asIp(ipsec?.fields.src);
    const dst = asIp(ipsec?.fields.dst);
    if (src) ev.source = { address: src, ip: src };
    if (dst) ev.destination = { address: dst, ip: dst };
  }
  if (peerHost && peerHost !== "?" && ev.source && peerHost !== ev.source.ip) ev.source.domain = peerHost;
  const laddr = asIp(firstString(data.laddr));
  if (laddr) {
    ev.destination = { address: laddr, ip: laddr };
    const lport = asPort(firstString(data.lport));
    if (lport !== undefined) ev.destination.port = lport;
  }

  // what kind of event
  const arch = typeof data.arch === "string" ? ARCH[data.arch] : undefined;
  if (arch) ev.host = { ...(ev.host ?? {}), architecture: arch };
  const sysNo = firstString(data.syscall);
  if (primary.type === "SYSCALL") {
    const isExec = execve !== undefined || (arch !== undefined && sysNo !== undefined && EXEC_SYSCALLS[arch]?.has(sysNo) === true);
    if (isExec) classify(ev, ["process"], ["start"]);
    else {
      const paths = records.filter((r) => r.type === "PATH");
      if (paths.length > 0) {
        classify(ev, ["file"], ["info"]);
        const target = paths.find((p) => p.fields.nametype === "NORMAL" || p.fields.nametype === "CREATE" || p.fields.nametype === "DELETE") ?? paths[0];
        const nm = target.fields.name;
        if (nm) {
          const path = nm.startsWith("/") || !cwd ? nm : `${cwd.replace(/\/$/, "")}/${nm}`;
          ev.file = { path, name: path.slice(path.lastIndexOf("/") + 1) };
          if (target.fields.nametype === "CREATE") ev.event.type = ["creation"];
          else if (target.fields.nametype === "DELETE") ev.event.type = ["deletion"];
        }
      } else if (records.some((r) => r.type === "SOCKADDR")) classify(ev, ["network"], ["info"]);
    }
  } else {
    const t = USER_TYPES[primary.type];
    if (t) classify(ev, t[0], t[1]);
  }
  const paths = records.filter((r) => r.type === "PATH").map((r) => ({ ...r.fields }) as JsonObject);
  const auditd: JsonObject = { message_type: types, sequence: Number(primary.serial), data };
  if (paths.length > 0) auditd.paths = paths;
  ev.auditd = auditd;
  const key = firstString(data.key);
  if (key) ev.tags = [key];
  return ev;
}

export const parser: Parser = {
  name: "linux-auditd",
  description: "Linux audit daemon log: records joined by serial into one event, hex values decoded, auditd.data.* kept",
  detect: (sample) => (HEADER.test(sample) ? 0.98 : 0),
  open(_ctx: ParseContext): ParserSession {
    // serial → records, in arrival order (Map keeps insertion order, so the oldest is first)
    const open = new Map<string, AuditRecord[]>();

    const emitGroup = (serial: string, emit: Emit) => {
      const records = open.get(serial);
      open.delete(serial);
      if (!records || records.length === 0) return;
      const ev = buildEvent(records);
      const raw = records.map((r) => r.raw).join("\n");
      if (!ev) {
        for (const r of records) emit.reject(reject("auditd_bad_timestamp", "audit timestamp outside 1970..2199", r.rec));
        return;
      }
      emit.event(finish(ev, records[0].rec, raw), records[0].rec);
    };

    return {
      push(rec, emit) {
        const r = parseRecord(rec);
        if (!r) {
          emit.reject(reject("auditd_bad_record", "not an audit record: expected 'type=TYPE msg=audit(seconds.millis:serial): key=value ...'", rec));
          return;
        }
        const key = `${r.node ?? ""}:${r.serial}`;
        const group = open.get(key);
        if (group) {
          if (r.type === "EOE") {
            group.push(r);
            emitGroup(key, emit);
            return;
          }
          if (group.length >= MAX_RECORDS_PER_EVENT) emitGroup(key, emit);
          else {
            group.push(r);
            return;
          }
        }
        if (r.type === "EOE") return emit.reject(reject("auditd_orphan_eoe", "end-of-event record for an event whose records were not seen", rec));
        open.set(key, [r]);
        if (standalone(r.type)) {
          // a stand-alone record (USER_*, CRED_*, ...) is a whole event
          emitGroup(key, emit);
          return;
        }
        while (open.size > MAX_OPEN_EVENTS) emitGroup(open.keys().next().value as string, emit);
      },
      flush(emit) {
        for (const k of [...open.keys()]) emitGroup(k, emit);
      },
    };
  },
};
