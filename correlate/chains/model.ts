// The entity model the chain builder links with: aliases learned from the event stream (IP → host,
// SID → user, access key → user, process lineage) and how common each entity is, so hubs weigh little.

import type { EcsEvent, JsonObject, JsonValue } from "../../schema/ecs.ts";
import type { Signal } from "../../schema/signal.ts";
import {
  TYPE_STRENGTH,
  entityKey,
  isNonIdentifyingIp,
  isPrivateIp,
  isPseudoHost,
  normalizeHostName,
  normalizeIp,
  normalizeLogonId,
  normalizePath,
  normalizeProcessId,
  normalizeTraceId,
  normalizeUser,
  type EntityRef,
  type EntityType,
} from "./entities.ts";

export interface EntityModelOptions {
  /** Most distinct entities whose frequency is tracked; past it the oldest counts are decayed away. */
  maxKeys: number;
  /** Most learned aliases per kind (IP → host, SID → user, ...). */
  maxAliases: number;
  /** Most parent links kept for process lineage. */
  maxLineage: number;
  /** Occurrences of a type seen before its frequencies are trusted (below it, nothing is down-weighted). */
  minObservations: number;
  /**
   * An entity carried by at most this fraction of the occurrences of its type keeps its full weight;
   * above it the weight falls with the entity's inverse document frequency, to 0 for "in every event".
   */
  commonFraction: number;
  /**
   * Distinct partners an identifier may have before it counts as a hub and loses weight: the hosts
   * and addresses an IP talks with, the processes that run a file, the children of a process.
   */
  peerSoftCap: number;
  /** Children a process may have before it counts as a hub (explorer.exe, services.exe, init). */
  childSoftCap: number;
  /** Counts are halved after this many observations (exponential forgetting, bounded memory). */
  decayEvery: number;
  /** Process ancestors followed from a signal's process. */
  ancestorDepth: number;
}

export const DEFAULT_MODEL_OPTIONS: EntityModelOptions = {
  maxKeys: 200_000,
  maxAliases: 100_000,
  maxLineage: 200_000,
  minObservations: 200,
  commonFraction: 0.02,
  peerSoftCap: 8,
  childSoftCap: 12,
  decayEvery: 2_000_000,
  ancestorDepth: 4,
};

const PEER_CAP = 48;

interface Stat {
  n: number;
  peers: number[] | null;
}

/** A Map that forgets its oldest entries past a size. */
class BoundedMap<K, V> {
  private readonly m = new Map<K, V>();
  constructor(private readonly cap: number) {}
  get(k: K): V | undefined {
    return this.m.get(k);
  }
  set(k: K, v: V): void {
    if (this.m.has(k)) this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.cap) {
      const drop = Math.max(1, this.cap >> 4);
      let i = 0;
      for (const key of this.m.keys()) {
        if (i++ >= drop) break;
        this.m.delete(key);
      }
    }
  }
  get size(): number {
    return this.m.size;
  }
  entries(): IterableIterator<[K, V]> {
    return this.m.entries();
  }
  clear(): void {
    this.m.clear();
  }
}

/** Memo of raw → normalized strings: values repeat heavily, so normalization is paid once per value. */
class Memo {
  private m = new Map<string, string | null>();
  constructor(private readonly cap: number, private readonly fn: (s: string) => string | null) {}
  get(s: string): string | null {
    let v = this.m.get(s);
    if (v === undefined) {
      v = this.fn(s);
      if (this.m.size >= this.cap) this.m = new Map();
      this.m.set(s, v);
    }
    return v;
  }
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const obj = (v: JsonValue | undefined): JsonObject | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined);
const str = (v: JsonValue | undefined): string | undefined => (typeof v === "string" && v.length > 0 ? v : typeof v === "number" ? String(v) : undefined);
/** Reads `a.b` on an object holding either nested objects or literal dotted keys. */
function pick(o: JsonObject | undefined, ...keys: string[]): JsonValue | undefined {
  if (!o) return undefined;
  for (const k of keys) {
    const v = o[k];
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

/** How an entity's weight came about, for the "why" of a link. */
export interface EntityWeight {
  weight: number;
  strength: number;
  /** 0..1: 1 for rare entities, lower for common ones (hubs). */
  rarity: number;
  /** Fraction of its type's occurrences this entity accounts for (NaN before enough observations). */
  share: number;
  peers: number;
}

export class EntityModel {
  readonly opts: EntityModelOptions;
  private stats = new Map<string, Stat>();
  private readonly typeTotals = new Map<EntityType, number>();
  private observations = 0;
  private readonly ipHost: BoundedMap<string, string>;
  private readonly sidUser: BoundedMap<string, string>;
  private readonly principalUser: BoundedMap<string, string>;
  private readonly keyUser: BoundedMap<string, string>;
  private readonly parentOf: BoundedMap<string, string>;
  /** Paths seen written (file creation/change events): a process image among them is a dropped tool. */
  private readonly written: BoundedMap<string, true>;
  private readonly hostMemo = new Memo(50_000, normalizeHostName);
  private readonly ipMemo = new Memo(100_000, (s) => {
    const ip = normalizeIp(s);
    return ip && !isNonIdentifyingIp(ip) ? ip : null;
  });
  private readonly userMemo = new Memo(50_000, (s) => {
    const u = normalizeUser(s);
    return u && !u.pseudo && !u.id && !u.machine ? u.name : null;
  });
  private readonly procMemo = new Memo(100_000, normalizeProcessId);
  private readonly pathMemo = new Memo(100_000, normalizePath);

  constructor(opts: Partial<EntityModelOptions> = {}) {
    this.opts = { ...DEFAULT_MODEL_OPTIONS, ...opts };
    this.ipHost = new BoundedMap(this.opts.maxAliases);
    this.sidUser = new BoundedMap(this.opts.maxAliases);
    this.principalUser = new BoundedMap(this.opts.maxAliases);
    this.keyUser = new BoundedMap(this.opts.maxAliases);
    this.parentOf = new BoundedMap(this.opts.maxLineage);
    this.written = new BoundedMap(this.opts.maxAliases);
  }

  // ---- learning from events (per event: a handful of map operations) ----

  /** Learns aliases and counts entity frequencies from one normalized event. */
  observe(e: EcsEvent | JsonObject): void {
    const hostObj = obj(e["host"]);
    const rawHost = str(pick(hostObj, "name", "hostname")) ?? str(pick(obj(e["winlog"]), "computer_name"));
    const host = rawHost ? this.hostMemo.get(rawHost) : null;
    const hostHash = host ? fnv1a(host) : 0;
    if (host) this.count("host", host, 0);

    const user = obj(e["user"]);
    const uname = str(user?.["name"]);
    if (uname) {
      const u = this.userMemo.get(uname);
      if (u) this.count("user", u, hostHash);
      const uid = str(user?.["id"]);
      if (uid && /^s-1-/i.test(uid)) this.learnSid(uid, uname);
    }

    const src = obj(e["source"]);
    const dst = obj(e["destination"]);
    const sip = str(src?.["ip"]);
    const dip = str(dst?.["ip"]);
    const s = sip ? this.ipMemo.get(sip) : null;
    const d = dip ? this.ipMemo.get(dip) : null;
    // an address's partners: the address at the other end, else the host that logged it
    if (s) this.count("ip", s, d ? fnv1a(d) : hostHash);
    if (d) this.count("ip", d, s ? fnv1a(s) : hostHash);

    const proc = obj(e["process"]);
    if (proc) {
      const pid = str(proc["entity_id"]);
      const p = pid ? this.procMemo.get(pid) : null;
      if (p) this.count("process", p, 0);
      const parent = obj(proc["parent"]);
      const ppid = str(parent?.["entity_id"]);
      const pp = ppid ? this.procMemo.get(ppid) : null;
      if (pp) {
        // a process's partners are its children: explorer.exe and services.exe collect many
        this.count("process", pp, p && p !== pp ? fnv1a(p) : 0);
        if (p && p !== pp && this.parentOf.get(p) === undefined) this.parentOf.set(p, pp);
      }
      // a file's partners are the processes that run or touch it (cmd.exe has many, a dropped tool few)
      const procHash = p ? fnv1a(p) : hostHash;
      const exe = str(proc["executable"]);
      const x = exe ? this.pathMemo.get(exe) : null;
      if (x) this.count("file", x, procHash);
      const fpath = str(obj(e["file"])?.["path"]);
      if (fpath) {
        const f = this.pathMemo.get(fpath);
        if (f) this.count("file", f, procHash);
      }
      if (fpath && this.isWrite(e)) {
        const f = this.pathMemo.get(fpath);
        if (f) this.written.set(f, true);
      }
    } else {
      const fpath = str(obj(e["file"])?.["path"]);
      if (fpath) {
        const f = this.pathMemo.get(fpath);
        if (f) {
          this.count("file", f, hostHash);
          if (this.isWrite(e)) this.written.set(f, true);
        }
      }
    }
    const trace = str(obj(e["trace"])?.["id"]);
    if (trace) {
      const t = normalizeTraceId(trace);
      if (t) this.count("trace", t, 0);
    }
    const svc = str(obj(e["service"])?.["name"]);
    if (svc) this.count("service", svc.toLowerCase(), hostHash);

    const winlog = obj(e["winlog"]);
    if (winlog) this.observeWinlog(winlog, host);
    const aws = obj(e["aws"]);
    if (aws) this.observeCloud(aws);

    // host ↔ IP, learned from the events themselves
    if (host && !isPseudoHost(host)) {
      const ips = hostObj?.["ip"];
      if (Array.isArray(ips) && ips.length <= 8) for (const ip of ips) if (typeof ip === "string") this.learnIp(ip, host);
      const dir = str(obj(e["network"])?.["direction"]);
      if (dir === "egress" || dir === "outbound") {
        if (sip) this.learnIp(sip, host);
      } else if (dir === "ingress" || dir === "inbound") {
        if (dip) this.learnIp(dip, host);
      }
    }
    const zeek = obj(e["zeek"]);
    if (zeek) this.observeZeek(zeek, e);
    const dns = obj(e["dns"]);
    if (dns) this.observeDns(dns);

    if (++this.observations % this.opts.decayEvery === 0 || this.stats.size > this.opts.maxKeys) this.decay();
  }

  /** A file creation or change event (not a read, an image load or a deletion). */
  private isWrite(e: EcsEvent | JsonObject): boolean {
    const ev = obj(e["event"]);
    const cat = ev?.["category"];
    const typ = ev?.["type"];
    return Array.isArray(cat) && cat.includes("file") && Array.isArray(typ) && (typ.includes("creation") || typ.includes("change"));
  }

  private count(type: EntityType, value: string, peer: number): void {
    const key = type + ":" + value;
    let st = this.stats.get(key);
    if (!st) {
      st = { n: 0, peers: null };
      this.stats.set(key, st);
    }
    st.n++;
    this.typeTotals.set(type, (this.typeTotals.get(type) ?? 0) + 1);
    if (peer !== 0) {
      if (!st.peers) st.peers = [peer];
      else if (st.peers.length < PEER_CAP && !st.peers.includes(peer)) st.peers.push(peer);
    }
  }

  private decay(): void {
    const next = new Map<string, Stat>();
    for (const [k, st] of this.stats) {
      st.n = st.n / 2;
      if (st.n >= 1) next.set(k, st);
    }
    this.stats = next;
    for (const [t, n] of this.typeTotals) this.typeTotals.set(t, n / 2);
  }

  private observeWinlog(w: JsonObject, host: string | null): void {
    const ed = obj(w["event_data"]);
    if (!ed) return;
    for (const [sidK, nameK, domK] of [["SubjectUserSid", "SubjectUserName", "SubjectDomainName"], ["TargetUserSid", "TargetUserName", "TargetDomainName"]] as const) {
      const sid = str(ed[sidK]);
      const name = str(ed[nameK]);
      if (sid && name) {
        const dom = str(ed[domK]);
        this.learnSid(sid, dom ? `${dom}\\${name}` : name);
      }
    }
    // Sysmon network connection made by this host: its source address is the host's own
    if (host && (ed["Initiated"] === "true" || ed["Initiated"] === true)) {
      const sip = str(ed["SourceIp"]);
      if (sip) this.learnIp(sip, host);
    }
    const ws = str(ed["WorkstationName"]);
    const ipa = str(ed["IpAddress"]);
    if (ws && ipa) {
      const h = this.hostMemo.get(ws);
      if (h && !isPseudoHost(h)) this.learnIp(ipa, h);
    }
    for (const k of ["LogonId", "SubjectLogonId", "TargetLogonId"]) {
      const v = ed[k];
      if (v !== undefined && v !== null && host) {
        const sess = normalizeLogonId(v as string | number, host);
        if (sess) this.count("session", sess, 0);
      }
    }
    for (const k of ["SourceProcessGuid", "SourceProcessGUID", "TargetProcessGuid", "TargetProcessGUID"]) {
      const v = str(ed[k]);
      if (v) {
        const p = this.procMemo.get(v);
        if (p) this.count("process", p, 0);
      }
    }
  }

  private observeCloud(aws: JsonObject): void {
    const ct = obj(aws["cloudtrail"]);
    const ui = obj(pick(ct, "user_identity", "userIdentity"));
    if (!ui) return;
    const name = str(pick(ui, "arn")) ?? str(pick(ui, "user_name", "userName"));
    const u = name ? normalizeUser(name) : null;
    if (!u || u.pseudo) return;
    const pid = str(pick(ui, "principal_id", "principalId"));
    if (pid) this.principalUser.set(pid.split(":")[0].toLowerCase(), u.name);
    const akid = str(pick(ui, "access_key_id", "accessKeyId"));
    if (akid) {
      this.keyUser.set(akid.toUpperCase(), u.name);
      this.count("cloud_key", akid.toUpperCase(), 0);
    }
    this.count("user", u.name, 0);
  }

  private observeZeek(z: JsonObject, e: JsonObject): void {
    const dhcp = obj(z["dhcp"]);
    if (dhcp) {
      const hn = str(pick(dhcp, "host_name", "hostname", "client_fqdn"));
      const ip = str(pick(dhcp, "assigned_addr", "assigned_ip", "client_addr")) ?? str(obj(e["client"])?.["ip"]);
      if (hn && ip) {
        const h = this.hostMemo.get(hn);
        if (h && !isPseudoHost(h)) this.learnIp(ip, h);
      }
    }
  }

  private observeDns(dns: JsonObject): void {
    const q = str(obj(dns["question"])?.["name"]);
    const resolved = dns["resolved_ip"];
    if (!q || !Array.isArray(resolved) || resolved.length === 0 || resolved.length > 4) return;
    const h = this.hostMemo.get(q);
    if (!h || isPseudoHost(h) || !q.includes(".")) return;
    // only names that resolve inside the organisation name machines we can join on
    for (const r of resolved) if (typeof r === "string" && isPrivateIp(r)) this.learnIp(r, h);
  }

  /** Records that `ip` is (now) one of `host`'s addresses. */
  learnIp(rawIp: string, host: string): void {
    const ip = this.ipMemo.get(rawIp);
    if (ip) this.ipHost.set(ip, host);
  }

  learnSid(sid: string, user: string): void {
    const u = normalizeUser(user);
    if (u && !u.pseudo && !u.id) this.sidUser.set(sid.toLowerCase(), u.machine ? `${u.name}` : u.name);
  }

  /** The host an IP belongs to, when learned. */
  hostOfIp(ip: string): string | undefined {
    const n = this.ipMemo.get(ip);
    return n ? this.ipHost.get(n) : undefined;
  }

  userOfSid(sid: string): string | undefined {
    return this.sidUser.get(sid.toLowerCase());
  }

  parentProcess(guid: string): string | undefined {
    return this.parentOf.get(guid);
  }

  // ---- weights ----

  /**
   * How much sharing this entity says: type strength × relation factor × rarity. Rarity has two
   * principled sources (docs/chains.md): places where activity happens (hosts, users, sessions,
   * services, workloads) are weighted by the share of all activity they hold (inverse document
   * frequency: the only host of a recording tells nothing); identifiers (addresses, files, keys) by
   * their fan-out (how many distinct partners they have: a DNS server talks to everyone, an attacker's
   * address to a few machines however loud it is); processes by both (their children and their volume).
   */
  weigh(ref: EntityRef): EntityWeight {
    const strength = TYPE_STRENGTH[ref.type] * ref.factor;
    const st = this.stats.get(ref.key);
    const peers = st?.peers?.length ?? 0;
    let rarity = 1;
    let share = Number.NaN;
    const container = ref.type === "host" || ref.type === "user" || ref.type === "session" || ref.type === "service" || ref.type === "workload";
    if (container || ref.type === "process") {
      const total = this.typeTotals.get(ref.type) ?? 0;
      if (st && total >= this.opts.minObservations) {
        share = Math.min(1, st.n / total);
        if (share > this.opts.commonFraction) rarity = Math.max(0, Math.log(1 / share) / Math.log(1 / this.opts.commonFraction));
      }
    }
    if (ref.type === "process") {
      if (peers > this.opts.childSoftCap) rarity = Math.min(rarity, this.opts.childSoftCap / peers);
    } else if (!container && ref.type !== "trace" && ref.type !== "span") {
      if (peers > this.opts.peerSoftCap) rarity = Math.min(rarity, this.opts.peerSoftCap / peers);
    } else if (container && ref.type !== "host" && peers > this.opts.peerSoftCap * 4) {
      // a user seen on very many hosts (a service account) is a hub even if each host is quiet
      rarity = Math.min(rarity, (this.opts.peerSoftCap * 4) / peers);
    }
    return { weight: strength * rarity, strength, rarity, share, peers };
  }

  // ---- entities of a signal ----

  /** Every entity a signal carries, normalized and resolved through the learned aliases. */
  signalEntities(s: Signal | JsonObject): EntityRef[] {
    const out = new Map<string, EntityRef>();
    const add = (type: EntityType, value: string | null | undefined, raw: string, field: string, relation: string, factor = 1) => {
      if (!value) return;
      const key = entityKey(type, value);
      const prev = out.get(key);
      if (prev && prev.factor >= factor) return;
      out.set(key, { type, value, key, raw, field, relation, factor });
    };
    const addUser = (raw: string | undefined, field: string, relation: string, factor = 1) => {
      if (!raw) return;
      const u = normalizeUser(raw);
      if (!u || u.pseudo) return;
      if (u.machine) return add("host", u.machine, raw, field, "machine account", factor);
      if (u.id) {
        const name = this.sidUser.get(u.id) ?? this.principalUser.get(u.id.split(":")[0].toLowerCase());
        if (name) return add("user", name, raw, field, `${relation} (resolved from ${u.id})`, factor);
        return add("user", u.id, raw, field, relation, factor);
      }
      add("user", u.name, raw, field, relation, factor);
    };
    const addHost = (raw: string | undefined, field: string, relation: string) => {
      if (!raw) return;
      const h = this.hostMemo.get(raw);
      if (h && !isPseudoHost(h)) add("host", h, raw, field, relation);
    };
    const addIp = (raw: string | undefined, field: string, relation: string) => {
      if (!raw) return;
      const ip = this.ipMemo.get(raw);
      if (!ip) return;
      add("ip", ip, raw, field, relation);
      const h = this.ipHost.get(ip);
      if (h) add("host", h, raw, field, `${relation}: address of host ${h}`);
    };
    const addProc = (raw: string | undefined, field: string, relation: string, factor = 1) => {
      if (!raw) return;
      const p = this.procMemo.get(raw);
      if (!p) return;
      add("process", p, raw, field, relation, factor);
      let cur = p;
      for (let d = 1; d <= this.opts.ancestorDepth; d++) {
        const parent = this.parentOf.get(cur);
        if (!parent) break;
        add("process", parent, raw, field, d === 1 ? `parent of ${relation}` : `ancestor of ${relation} (${d} up)`, factor * Math.pow(0.85, d));
        cur = parent;
      }
    };

    const host = obj(s["host"]);
    addHost(str(host?.["name"]), "host.name", "host");
    addHost(str(host?.["hostname"]), "host.hostname", "host");
    const winlog = obj(s["winlog"]);
    addHost(str(winlog?.["computer_name"]), "winlog.computer_name", "host");
    const hostName = (() => {
      const raw = str(host?.["name"]) ?? str(winlog?.["computer_name"]);
      return raw ? this.hostMemo.get(raw) : null;
    })();

    const user = obj(s["user"]);
    if (user) {
      const name = str(user["name"]);
      const dom = str(user["domain"]);
      addUser(name && dom && !name.includes("\\") && !name.includes("@") ? `${dom}\\${name}` : name, "user.name", "user");
      addUser(str(user["id"]), "user.id", "user");
      addUser(str(user["email"]), "user.email", "user");
      addUser(str(obj(user["target"])?.["name"]), "user.target.name", "target user");
    }
    addUser(str(obj(obj(s["source"])?.["user"])?.["name"]), "source.user.name", "source user");
    addUser(str(obj(obj(s["destination"])?.["user"])?.["name"]), "destination.user.name", "destination user");
    const related = obj(s["related"]);
    if (related && Array.isArray(related["user"])) for (const u of related["user"] as JsonValue[]) addUser(str(u), "related.user", "related user", 0.8);

    addIp(str(obj(s["source"])?.["ip"]), "source.ip", "source address");
    addIp(str(obj(s["destination"])?.["ip"]), "destination.ip", "destination address");
    addIp(str(obj(s["client"])?.["ip"]), "client.ip", "client address");
    addIp(str(obj(s["server"])?.["ip"]), "server.ip", "server address");
    if (related && Array.isArray(related["ip"])) for (const ip of (related["ip"] as JsonValue[]).slice(0, 16)) addIp(str(ip), "related.ip", "related address");

    const proc = obj(s["process"]);
    if (proc) {
      addProc(str(proc["entity_id"]), "process.entity_id", "process");
      addProc(str(obj(proc["parent"])?.["entity_id"]), "process.parent.entity_id", "parent process", 0.95);
      addUser(str(obj(proc["user"])?.["name"]), "process.user.name", "process user");
      // two processes of one pre-installed program (systeminfo.exe) are weak evidence; a program that
      // was written during the observation (a dropped tool) links its writer to its runs
      const exe = str(proc["executable"]);
      const img = exe ? this.pathMemo.get(exe) : null;
      if (img && exe) add("file", img, exe, "process.executable", this.written.get(img) ? "process image (written during the observation)" : "process image (pre-installed program)", this.written.get(img) ? 1 : 0.3);
      const sl = str(obj(proc["session_leader"])?.["entity_id"]) ?? str(obj(proc["entry_leader"])?.["entity_id"]);
      if (sl) add("session", this.procMemo.get(sl), sl, "process.session_leader.entity_id", "login session");
    }
    const fpath = str(obj(s["file"])?.["path"]);
    if (fpath) add("file", this.pathMemo.get(fpath), fpath, "file.path", "file");

    const ed = obj(winlog?.["event_data"]);
    if (ed) {
      const sd = str(ed["SubjectDomainName"]);
      const sn = str(ed["SubjectUserName"]);
      addUser(sn && sd ? `${sd}\\${sn}` : sn, "winlog.event_data.SubjectUserName", "acting user");
      const td = str(ed["TargetDomainName"]);
      const tn = str(ed["TargetUserName"]);
      addUser(tn && td ? `${td}\\${tn}` : tn, "winlog.event_data.TargetUserName", "target user");
      addUser(str(ed["SubjectUserSid"]), "winlog.event_data.SubjectUserSid", "acting user");
      addUser(str(ed["TargetUserSid"]), "winlog.event_data.TargetUserSid", "target user");
      addUser(str(ed["User"]), "winlog.event_data.User", "user");
      addUser(str(ed["ParentUser"]), "winlog.event_data.ParentUser", "parent process user", 0.8);
      addIp(str(ed["IpAddress"]), "winlog.event_data.IpAddress", "logon source address");
      addHost(str(ed["WorkstationName"]), "winlog.event_data.WorkstationName", "logon source workstation");
      addProc(str(ed["ProcessGuid"]), "winlog.event_data.ProcessGuid", "process");
      addProc(str(ed["ParentProcessGuid"]), "winlog.event_data.ParentProcessGuid", "parent process", 0.95);
      addProc(str(ed["SourceProcessGuid"] ?? ed["SourceProcessGUID"]), "winlog.event_data.SourceProcessGuid", "acting process");
      // the target of a process access (often lsass) is what was touched, not who acted
      addProc(str(ed["TargetProcessGuid"] ?? ed["TargetProcessGUID"]), "winlog.event_data.TargetProcessGuid", "target process", 0.5);
      for (const k of ["LogonId", "SubjectLogonId", "TargetLogonId"]) {
        const v = ed[k];
        if ((typeof v === "string" || typeof v === "number") && hostName) add("session", normalizeLogonId(v, hostName), String(v), `winlog.event_data.${k}`, "logon session");
      }
    }
    const logon = obj(winlog?.["logon"]);
    const lid = logon?.["id"];
    if ((typeof lid === "string" || typeof lid === "number") && hostName) add("session", normalizeLogonId(lid, hostName), String(lid), "winlog.logon.id", "logon session");

    const trace = str(obj(s["trace"])?.["id"]);
    if (trace) add("trace", normalizeTraceId(trace), trace, "trace.id", "trace");
    const span = str(obj(s["span"])?.["id"]);
    if (span) add("span", normalizeTraceId(span), span, "span.id", "span");
    const parentSpan = str(obj(s["parent"])?.["id"]);
    if (parentSpan) add("span", normalizeTraceId(parentSpan), parentSpan, "parent.id", "parent span");
    const tx = str(obj(s["transaction"])?.["id"]);
    if (tx) add("span", normalizeTraceId(tx), tx, "transaction.id", "transaction");

    const svc = str(obj(s["service"])?.["name"]);
    if (svc) add("service", svc.toLowerCase(), svc, "service.name", "service");
    const orch = obj(s["orchestrator"]);
    const res = obj(orch?.["resource"]);
    const wname = str(res?.["name"]);
    if (wname) add("workload", `${str(orch?.["namespace"]) ?? "default"}/${wname}`.toLowerCase(), wname, "orchestrator.resource.name", "workload");

    const ct = obj(obj(s["aws"])?.["cloudtrail"]);
    const ui = obj(pick(ct, "user_identity", "userIdentity"));
    if (ui) {
      addUser(str(pick(ui, "arn")) ?? str(pick(ui, "user_name", "userName")), "aws.cloudtrail.user_identity.arn", "cloud principal");
      const akid = str(pick(ui, "access_key_id", "accessKeyId"));
      if (akid && akid.length >= 16) {
        add("cloud_key", akid.toUpperCase(), akid, "aws.cloudtrail.user_identity.access_key_id", "access key");
        const owner = this.keyUser.get(akid.toUpperCase());
        if (owner) add("user", owner, akid, "aws.cloudtrail.user_identity.access_key_id", "owner of access key");
      }
      const sc = obj(pick(ui, "session_context", "sessionContext"));
      const issuer = str(pick(obj(pick(sc, "session_issuer", "sessionIssuer")), "arn"));
      const created = str(pick(obj(pick(sc, "attributes")), "creation_date", "creationDate"));
      if (issuer && created) add("cloud_session", `${issuer}|${created}`.toLowerCase(), `${issuer} ${created}`, "aws.cloudtrail.user_identity.session_context", "cloud session");
    }
    return [...out.values()];
  }

  // ---- state ----

  /** Learned aliases and lineage, for checkpoints (frequencies are re-learned quickly and not saved). */
  snapshot(): JsonObject {
    const dump = (m: BoundedMap<string, string>) => [...m.entries()].slice(-20_000).map(([k, v]) => [k, v]);
    return { ip_host: dump(this.ipHost), sid_user: dump(this.sidUser), principal_user: dump(this.principalUser), key_user: dump(this.keyUser), parent_of: dump(this.parentOf) };
  }

  restore(s: JsonObject): void {
    const load = (m: BoundedMap<string, string>, v: JsonValue | undefined) => {
      if (!Array.isArray(v)) return;
      for (const pair of v) if (Array.isArray(pair) && typeof pair[0] === "string" && typeof pair[1] === "string") m.set(pair[0], pair[1]);
    };
    load(this.ipHost, s["ip_host"]);
    load(this.sidUser, s["sid_user"]);
    load(this.principalUser, s["principal_user"]);
    load(this.keyUser, s["key_user"]);
    load(this.parentOf, s["parent_of"]);
  }

  /** Sizes for metrics and tests. */
  sizes(): { stats: number; aliases: number; lineage: number; observations: number } {
    return { stats: this.stats.size, aliases: this.ipHost.size + this.sidUser.size + this.principalUser.size + this.keyUser.size, lineage: this.parentOf.size, observations: this.observations };
  }
}
