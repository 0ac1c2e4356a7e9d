// IPv4/IPv6 network membership for the `cidr` modifier. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
// compare as IPv4. Networks must be strict (no host bits set), as pySigma requires.

/** An address as 128 bits in four 32-bit words; IPv4 lives in the mapped range ::ffff:0:0/96. */
type Addr = [number, number, number, number];

export interface Network {
  addr: Addr;
  prefix: number; // over 128 bits
  text: string;
}

function parseV4(s: string): number | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n >>> 0;
}

function parseV6(s: string): Addr | null {
  let str = s;
  const zone = str.indexOf("%");
  if (zone >= 0) str = str.slice(0, zone);
  let tail: number[] = [];
  const lastColon = str.lastIndexOf(":");
  if (str.includes(".") && lastColon >= 0) {
    const v4 = parseV4(str.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [v4 >>> 16, v4 & 0xffff];
    str = str.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = str.split("::");
  if (dbl.length > 2) return null;
  const parseGroups = (x: string) => (x === "" ? [] : x.split(":"));
  const head = parseGroups(dbl[0]);
  const rest = dbl.length === 2 ? parseGroups(dbl[1]) : [];
  const groups: number[] = [];
  for (const g of [...head, ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
  }
  const fill = 8 - head.length - rest.length;
  if (dbl.length === 1 && fill !== 0) return null;
  if (dbl.length === 2 && fill < 1) return null;
  for (const g of head) groups.push(parseInt(g, 16));
  for (let i = 0; i < (dbl.length === 2 ? fill : 0); i++) groups.push(0);
  for (const g of rest) groups.push(parseInt(g, 16));
  if (tail.length) {
    groups[6] = tail[0];
    groups[7] = tail[1];
  }
  return [((groups[0] << 16) | groups[1]) >>> 0, ((groups[2] << 16) | groups[3]) >>> 0, ((groups[4] << 16) | groups[5]) >>> 0, ((groups[6] << 16) | groups[7]) >>> 0];
}

/** Parses an IP address (v4, v6, v4-mapped v6); null when it is not one. */
export function parseIp(s: string): Addr | null {
  if (s.length > 64) return null;
  if (!s.includes(":")) {
    const v4 = parseV4(s);
    return v4 === null ? null : [0, 0, 0xffff, v4];
  }
  return parseV6(s);
}

/** Parses a strict network `addr/prefix`; throws Error with the reason. */
export function parseNetwork(text: string): Network {
  const slash = text.indexOf("/");
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  const isV4 = !addrText.includes(":");
  const maxPrefix = isV4 ? 32 : 128;
  let prefix = maxPrefix;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > maxPrefix) throw new Error(`bad prefix length "${p}" (0-${maxPrefix})`);
    prefix = Number(p);
  }
  const addr = parseIp(addrText);
  if (!addr) throw new Error(`"${addrText}" is not an IP address`);
  const full = isV4 ? prefix + 96 : prefix;
  const masked = mask(addr, full);
  if (masked.some((w, i) => w !== addr[i])) throw new Error(`network ${text} has host bits set`);
  return { addr, prefix: full, text };
}

function mask(a: Addr, prefix: number): Addr {
  const out: Addr = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, prefix - i * 32));
    const m = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    out[i] = (a[i] & m) >>> 0;
  }
  return out;
}

export function inNetwork(ip: string, net: Network): boolean {
  const a = parseIp(ip);
  if (!a) return false;
  const m = mask(a, net.prefix);
  return m[0] === net.addr[0] && m[1] === net.addr[1] && m[2] === net.addr[2] && m[3] === net.addr[3];
}
