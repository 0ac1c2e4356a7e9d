// Entity normalization: one user across DOMAIN\user, user@domain, SIDs and cloud principals; one host
// across FQDN, short name and its IPs; process GUIDs, logon sessions, traces, spans and cloud keys.

import { isIp } from "../../schema/validate.ts";

/** The kinds of entity a chain can be linked through. */
export type EntityType =
  | "user"
  | "host"
  | "ip"
  | "process"
  | "session"
  | "trace"
  | "span"
  | "cloud_key"
  | "cloud_session"
  | "file"
  | "service"
  | "workload";

/** How much sharing one entity of a type says about two signals being one story (before rarity). */
export const TYPE_STRENGTH: Record<EntityType, number> = {
  process: 1.0,
  trace: 1.0,
  span: 1.0,
  cloud_key: 0.95,
  cloud_session: 0.95,
  session: 0.9,
  file: 0.75,
  ip: 0.6,
  user: 0.6,
  workload: 0.55,
  host: 0.5,
  service: 0.3,
};

/** One entity a signal carries, normalized, with the raw value it came from and the field it was read from. */
export interface EntityRef {
  type: EntityType;
  /** Normalized value, e.g. "bob" for "CORP\\Bob". */
  value: string;
  /** `${type}:${value}`, the index key. */
  key: string;
  /** The raw value as the event carried it. */
  raw: string;
  /** The field it was read from, e.g. "user.name", "winlog.event_data.TargetUserName". */
  field: string;
  /** How the entity relates to the signal's event, e.g. "actor", "parent process", "ancestor process (2 up)". */
  relation?: string;
  /** Strength multiplier for indirect relations (ancestors): 1 for direct. */
  factor: number;
}

export function entityKey(type: EntityType, value: string): string {
  return `${type}:${value}`;
}

// Well-known identities that every machine has: they identify nothing. This is a prior on top of the
// frequency-based down-weighting in EntityModel, not a replacement for it.
const PSEUDO_USERS = new Set([
  "system", "local service", "network service", "localsystem", "anonymous logon", "anonymous", "nobody",
  "-", "", "n/a", "na", "none", "null", "unknown", "(unknown)", "dwm-1", "dwm-2", "dwm-3", "umfd-0", "umfd-1", "umfd-2",
  "font driver host", "window manager", "trustedinstaller",
]);
const PSEUDO_SIDS = new Set(["s-1-5-18", "s-1-5-19", "s-1-5-20", "s-1-5-7", "s-1-0-0", "s-1-5-6", "s-1-1-0", "s-1-5-11", "s-1-5-32-544"]);
const PSEUDO_HOSTS = new Set(["localhost", "localhost.localdomain", "-", "", "unknown", "(none)", "ip6-localhost", "ip6-loopback"]);
const PSEUDO_LOGON_IDS = new Set(["0x0", "0x3e7", "0x3e4", "0x3e5", "0x3e3", "0"]);

/** A normalized user: the bare account name (lower case) and the domain or provider it came with. */
export interface NormalizedUser {
  name: string;
  domain?: string;
  /** A SID or cloud principal id when that is what the raw value was (to be resolved to a name). */
  id?: string;
  /** A machine account (NAME$): really a host. */
  machine?: string;
  pseudo: boolean;
}

const SID_RE = /^s-1-\d+(-\d+)+$/i;

/**
 * Normalizes a user identity: `CORP\bob`, `bob@corp.example`, `BOB`, `arn:aws:iam::1:user/bob`,
 * `arn:aws:sts::1:assumed-role/Admin/bob`, `AROAXXXX:bob`, `user:bob@corp.example` all become `bob`.
 * A SID becomes `{id}` (the resolver maps it to a name it learned); `HOST$` is a machine account.
 */
export function normalizeUser(raw: string): NormalizedUser | null {
  let s = raw.trim();
  if (s.length === 0 || s.length > 512) return null;
  const lower = s.toLowerCase();
  if (SID_RE.test(s)) return { name: lower, id: lower, pseudo: PSEUDO_SIDS.has(lower) };
  let domain: string | undefined;
  // cloud ARNs
  if (lower.startsWith("arn:")) {
    const parts = s.split(":");
    const resource = parts.slice(5).join(":");
    const account = parts[4] ?? "";
    if (resource === "root") return { name: `root@${account}`, domain: "aws", pseudo: false };
    const segs = resource.split("/");
    // assumed-role/<role>/<session>: the session name is the human; user/<path>/<name>: the last segment
    const n = normalizeUser(segs[segs.length - 1]);
    return n ? { ...n, domain: "aws" } : null;
  }
  // GCP style "user:alice@x", "serviceAccount:sa@proj.iam.gserviceaccount.com"
  const colonPrefix = /^(user|serviceaccount|group|principal|domain):(.+)$/i.exec(s);
  if (colonPrefix) s = colonPrefix[2];
  // AWS principal id "AROAXXXX:session"
  const principal = /^(A[A-Z0-9]{3}[A-Z0-9]{8,}):(.+)$/.exec(s);
  if (principal) s = principal[2];
  else if (/^A(IDA|ROA|SIA|KIA|GPA|NPA|NVA|PKA|CCA|SCA)[A-Z0-9]{12,}$/.test(s)) return { name: s.toLowerCase(), id: s, pseudo: false };
  const bs = s.lastIndexOf("\\");
  if (bs >= 0) {
    domain = s.slice(0, bs).toLowerCase();
    s = s.slice(bs + 1);
  }
  const at = s.indexOf("@");
  if (at > 0) {
    domain = s.slice(at + 1).toLowerCase();
    s = s.slice(0, at);
  }
  const name = s.toLowerCase().trim();
  if (name.endsWith("$") && name.length > 1) return { name, domain, machine: normalizeHostName(name.slice(0, -1)) ?? undefined, pseudo: false };
  const pseudo = PSEUDO_USERS.has(name) || (domain === "nt authority" && name !== "") || domain === "font driver host" || domain === "window manager";
  return { name, domain, pseudo };
}

/** Host name to its canonical short form: lower case, no trailing dot, first label of an FQDN. */
export function normalizeHostName(raw: string): string | null {
  let s = raw.trim().toLowerCase();
  if (s.startsWith("\\\\")) s = s.slice(2);
  if (s.endsWith(".")) s = s.slice(0, -1);
  if (s.length === 0 || s.length > 255) return null;
  if (isIp(s)) return null;
  const dot = s.indexOf(".");
  return dot > 0 ? s.slice(0, dot) : s;
}

export function isPseudoHost(name: string): boolean {
  return PSEUDO_HOSTS.has(name);
}

/** Canonical IP text: lower case, no zone, IPv4-mapped IPv6 unwrapped; null when not an IP. */
export function normalizeIp(raw: string): string | null {
  let s = raw.trim().toLowerCase();
  const pct = s.indexOf("%");
  if (pct > 0) s = s.slice(0, pct);
  if (s.startsWith("::ffff:") && s.includes(".")) s = s.slice(7);
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  return isIp(s) ? s : null;
}

/** Addresses that never identify one machine: loopback, unspecified, broadcast, multicast, link-local. */
export function isNonIdentifyingIp(ip: string): boolean {
  if (ip.includes(":")) {
    // "::" and "::1" also written out in full ("0:0:0:0:0:0:0:0", as Sysmon for Linux does)
    return /^[0:]+$/.test(ip) || /^[0:]+:0*1$/.test(ip) || ip.startsWith("ff") || ip.startsWith("fe80:");
  }
  const first = Number(ip.slice(0, ip.indexOf(".")));
  if (first === 127 || first === 0 || first >= 224) return true;
  if (ip.endsWith(".255")) return true;
  return ip.startsWith("169.254.");
}

/** RFC 1918 / ULA / CGNAT: addresses inside an organisation. */
export function isPrivateIp(ip: string): boolean {
  if (ip.includes(":")) return ip.startsWith("fc") || ip.startsWith("fd");
  if (ip.startsWith("10.") || ip.startsWith("192.168.")) return true;
  const [a, b] = ip.split(".").map(Number);
  return (a === 172 && b >= 16 && b <= 31) || (a === 100 && b >= 64 && b <= 127);
}

/** Process GUID / entity id: braces stripped, lower case. */
export function normalizeProcessId(raw: string): string | null {
  let s = raw.trim().toLowerCase();
  if (s.startsWith("{") && s.endsWith("}")) s = s.slice(1, -1);
  if (s.length < 4 || s.length > 200 || /^0+(-0+)*$/.test(s)) return null;
  return s;
}

/** Windows logon id (hex or decimal) scoped to its host: logon ids are only unique per machine. */
export function normalizeLogonId(raw: string | number, host: string | null): string | null {
  let s = typeof raw === "number" ? "0x" + raw.toString(16) : raw.trim().toLowerCase();
  if (/^\d+$/.test(s)) s = "0x" + Number(s).toString(16);
  if (!/^0x[0-9a-f]+$/.test(s)) return null;
  s = "0x" + s.slice(2).replace(/^0+(?=.)/, "");
  if (PSEUDO_LOGON_IDS.has(s) || !host) return null;
  return `${host}|${s}`;
}

/** Trace and span ids: lower-case hex; all-zero ids mean "none". */
export function normalizeTraceId(raw: string): string | null {
  const s = raw.trim().toLowerCase();
  if (s.length < 8 || s.length > 64 || /^0+$/.test(s)) return null;
  return s;
}

/** File paths compared case-insensitively with one separator style. */
export function normalizePath(raw: string): string | null {
  const s = raw.trim().toLowerCase().replace(/\//g, "\\");
  if (s.length < 3 || s.length > 1024) return null;
  return s;
}
