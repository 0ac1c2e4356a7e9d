// Apache httpd error logs (2.2 and 2.4 formats): level, module, pid/tid, client address, AH error code.
import type { Parser } from "../types.ts";
import type { EcsEvent, JsonObject } from "../../../schema/ecs.ts";
import { lineParser } from "../common/line-parser.ts";
import { finish, relate } from "../common/event.ts";
import { asIp, asPort } from "../common/net.ts";
import { localToUtc, monthIndex, toIso, validDate } from "../common/time.ts";

// [Www Mmm dd HH:MM:SS[.micros] yyyy] [module:level|level] [pid N[:tid N]] [client addr[:port]] message
const LINE = /^\[\w{3} (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? (\d{4})\] \[(?:([^:\]\s]+):)?(\w+)\](?: \[pid (\d+)(?::tid (\d+))?\])?(?: \[(?:client|remote) ([^\]]+)\])? ?(.*)$/;
const SEVERE = new Set(["error", "crit", "alert", "emerg"]);

/**
 * Splits "1.2.3.4:5678" / "1.2.3.4" / "::1:5678" into ip and port. An IPv6 address with a port appended
 * is ambiguous ("2001:db8::7:443" is also an address): Apache 2.4 (`preferPort`) appends the port, 2.2 does not.
 */
export function splitAddress(addr: string, preferPort = false): { ip?: string; port?: number; address: string } {
  const c = addr.lastIndexOf(":");
  const split = () => {
    if (c <= 0) return null;
    const ip = asIp(addr.slice(0, c));
    const port = asPort(addr.slice(c + 1));
    return ip && port !== undefined ? { ip, port, address: ip } : null;
  };
  const whole = asIp(addr);
  if (whole && !(preferPort && whole.includes(":"))) return { ip: whole, address: addr };
  const s = split();
  if (s) return s;
  return whole ? { ip: whole, address: addr } : { address: addr };
}

export const parser: Parser = lineParser({
  name: "apache-error",
  description: "Apache httpd error log: level, module, pid/tid, client, AH error codes",
  detect: (sample) => (LINE.test(sample) ? 0.95 : 0),
  parse(rec, env) {
    const m = LINE.exec(rec.data);
    const mo = m ? monthIndex(m[1]) : -1;
    if (!m || mo < 0) return { code: "apache_error_bad_line", reason: "not an Apache error log line: expected '[Www Mmm dd HH:MM:SS yyyy] [level] message'" };
    const y = Number(m[7]);
    const d = Number(m[2]);
    if (!validDate(y, mo, d)) return { code: "apache_error_bad_timestamp", reason: `invalid date ${m[1]} ${m[2]} ${m[7]}` };
    const ms = localToUtc(env.zone, y, mo, d, Number(m[3]), Number(m[4]), Math.min(Number(m[5]), 59), m[6] ? Math.floor(Number(m[6].padEnd(6, "0")) / 1000) : 0);
    const ts = toIso(ms);
    if (ts === null) return { code: "apache_error_bad_timestamp", reason: "timestamp outside 1970..2199" };
    const level = m[9].toLowerCase();
    const ev: EcsEvent = {
      "@timestamp": ts,
      event: { id: "", kind: "event", category: ["web"], type: [SEVERE.has(level) ? "error" : "info"], dataset: "apache.error", module: "apache" },
      message: m[13],
      log: { level },
    };
    const apache: JsonObject = {};
    if (m[8]) apache.module = m[8];
    const code = /^(AH\d{5}): /.exec(m[13]);
    if (code) ev.error = { code: code[1] };
    if (m[10]) {
      const proc: JsonObject = { pid: Number(m[10]) };
      if (m[11]) proc.thread = { id: Number(m[11]) };
      ev.process = proc;
    }
    if (m[12]) {
      const a = splitAddress(m[12], m[10] !== undefined);
      ev.source = { address: a.address };
      if (a.ip) {
        ev.source.ip = a.ip;
        relate(ev, "ip", a.ip);
      }
      if (a.port !== undefined) ev.source.port = a.port;
    }
    if (Object.keys(apache).length > 0) ev.apache = { error: apache };
    return finish(ev, rec, rec.data);
  },
});
