// Network helpers for parsers: IP checks and bytes, ports, and the Community ID flow hash
// (https://github.com/corelight/community-id-spec) that links one flow across Zeek, Suricata and others.

import { createHash } from "node:crypto";
import { isIp } from "../../../schema/validate.ts";

export { isIp };

/** The IP itself when `v` is an IPv4/IPv6 address (brackets and IPv6 zone kept as written), else undefined. */
export function asIp(v: unknown): string | undefined {
  if (typeof v !== "string" || v.length < 2 || v.length > 64) return undefined;
  let s = v;
  if (s.charCodeAt(0) === 91 /* [ */ && s.charCodeAt(s.length - 1) === 93) s = s.slice(1, -1);
  if (!isIp(s)) return undefined;
  // the IPv4 pattern already checks every octet; IPv6 also needs its groups to add up
  return !s.includes(":") || ipBytes(s) !== null ? s : undefined;
}

/** A TCP/UDP port number from a number or decimal string, else undefined. */
export function asPort(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

/** A finite number from a number or numeric string, else undefined. */
export function asNumber(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && v.length > 0 && v.length < 40 ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** 4 or 16 bytes of an address, or null. */
export function ipBytes(ip: string): Uint8Array | null {
  const zone = ip.indexOf("%");
  const s = zone >= 0 ? ip.slice(0, zone) : ip;
  if (!s.includes(":")) return v4Bytes(s);
  const dbl = s.indexOf("::");
  if (dbl !== s.lastIndexOf("::")) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const groups = part.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (i === groups.length - 1 && g.includes(".")) {
        const b = v4Bytes(g);
        if (!b) return null;
        out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  let words: number[];
  if (dbl >= 0) {
    const head = parseGroups(s.slice(0, dbl));
    const tail = parseGroups(s.slice(dbl + 2));
    if (!head || !tail || head.length + tail.length > 7) return null;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(s);
    if (!all || all.length !== 8) return null;
    words = all;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

function v4Bytes(s: string): Uint8Array | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, ipv6_icmp: 58, "ipv6-icmp": 58, icmp6: 58, icmpv6: 58, sctp: 132 };

/** IANA protocol number of a transport name (tcp, udp, icmp, sctp), else undefined. */
export function protoNumber(transport: string): number | undefined {
  return PROTO_NUMBERS[transport.toLowerCase()];
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** ICMP type pairs that make a bidirectional flow (request ↔ reply), per the Community ID spec. */
const ICMP4_PAIRS: Record<number, number> = { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17 };
const ICMP6_PAIRS: Record<number, number> = { 128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144 };

/**
 * Community ID v1 (seed 0) of a flow: "1:" + base64(sha1(seed, addrs, proto, ports)) with the
 * endpoints ordered so both directions hash the same. For ICMP the ports are type and code. Undefined
 * for other protocols or bad input.
 */
export function communityId(srcIp: string, srcPort: number, dstIp: string, dstPort: number, transport: string): string | undefined {
  const proto = protoNumber(transport);
  if (proto === undefined) return undefined;
  let sa = ipBytes(srcIp);
  let da = ipBytes(dstIp);
  if (!sa || !da || sa.length !== da.length) return undefined;
  let sp = srcPort;
  let dp = dstPort;
  let oneWay = false;
  if (proto === 1 || proto === 58) {
    const pairs = proto === 1 ? ICMP4_PAIRS : ICMP6_PAIRS;
    const peer = pairs[sp];
    if (peer !== undefined) dp = peer;
    else oneWay = true;
  }
  if (sp > 65535 || dp > 65535 || sp < 0 || dp < 0) return undefined;
  const c = compare(sa, da);
  if (!oneWay && (c > 0 || (c === 0 && sp > dp))) {
    [sa, da] = [da, sa];
    [sp, dp] = [dp, sp];
  }
  const hasPorts = proto === 1 || proto === 58 || proto === 6 || proto === 17 || proto === 132;
  const buf = Buffer.alloc(2 + sa.length * 2 + 2 + (hasPorts ? 4 : 0));
  let o = 2; // seed 0
  buf.set(sa, o);
  o += sa.length;
  buf.set(da, o);
  o += da.length;
  buf[o++] = proto;
  buf[o++] = 0;
  if (hasPorts) {
    buf.writeUInt16BE(sp, o);
    buf.writeUInt16BE(dp, o + 2);
  }
  return "1:" + createHash("sha1").update(buf).digest("base64");
}
