// CIDR blocks for ip field queries (source.ip:10.0.0.0/8), shared by both stores so both accept the same blocks.
import net from "node:net";

/** A BlockList holding one CIDR block, or null when the text is not one. */
export function parseCidr(cidr: string): net.BlockList | null {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return null;
  const type = net.isIP(m[1]);
  const bits = Number(m[2]);
  if (type === 0 || bits > (type === 4 ? 32 : 128)) return null;
  const bl = new net.BlockList();
  try {
    bl.addSubnet(m[1], bits, type === 4 ? "ipv4" : "ipv6");
  } catch {
    return null;
  }
  return bl;
}

/** True when `ip` is an address inside the block. */
export function inBlock(bl: net.BlockList, ip: string): boolean {
  const type = net.isIP(ip);
  return type !== 0 && bl.check(ip, type === 4 ? "ipv4" : "ipv6");
}
