// nginx error logs: level, pid#tid, connection id, and the client/server/request/host/referrer tail.
import type { Parser } from "../types.ts";
import type { EcsEvent, JsonObject } from "../../../schema/ecs.ts";
import { lineParser } from "../common/line-parser.ts";
import { finish, relate } from "../common/event.ts";
import { asIp } from "../common/net.ts";
import { localToUtc, toIso, validDate } from "../common/time.ts";
import { applyRequestLine } from "../common/web.ts";

const LINE = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d) \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)$/;
const CLIENT = /, client: ([^,\s]+)/;
const SERVER = /, server: ([^,]*)/;
const REQUEST = /, request: "((?:[^"\\]|\\.)*)"/;
const UPSTREAM = /, upstream: "((?:[^"\\]|\\.)*)"/;
const HOST = /, host: "((?:[^"\\]|\\.)*)"/;
const REFERRER = /, referrer: "((?:[^"\\]|\\.)*)"/;
const SEVERE = new Set(["error", "crit", "alert", "emerg"]);

export const parser: Parser = lineParser({
  name: "nginx-error",
  description: "nginx error log: level, pid/tid, connection, client, server, request, upstream, host, referrer",
  detect: (sample) => (LINE.test(sample) ? 0.95 : 0),
  parse(rec, env) {
    const m = LINE.exec(rec.data);
    if (!m) return { code: "nginx_error_bad_line", reason: "not an nginx error log line: expected 'yyyy/mm/dd HH:MM:SS [level] pid#tid: message'" };
    const y = Number(m[1]);
    const mo = Number(m[2]) - 1;
    const d = Number(m[3]);
    const h = Number(m[4]);
    const mi = Number(m[5]);
    const s = Number(m[6]);
    if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 60) return { code: "nginx_error_bad_timestamp", reason: `invalid time ${m[1]}/${m[2]}/${m[3]} ${m[4]}:${m[5]}:${m[6]}` };
    const ts = toIso(localToUtc(env.zone, y, mo, d, h, mi, Math.min(s, 59), 0));
    if (ts === null) return { code: "nginx_error_bad_timestamp", reason: "timestamp outside 1970..2199" };
    const level = m[7].toLowerCase();
    const msg = m[11];
    const ev: EcsEvent = {
      "@timestamp": ts,
      event: { id: "", kind: "event", category: ["web"], type: [SEVERE.has(level) ? "error" : "info"], dataset: "nginx.error", module: "nginx" },
      message: msg,
      log: { level },
      process: { pid: Number(m[8]), thread: { id: Number(m[9]) } },
    };
    const nginx: JsonObject = {};
    if (m[10]) nginx.connection_id = Number(m[10]);
    const client = CLIENT.exec(msg);
    if (client) {
      const ip = asIp(client[1]);
      ev.source = ip ? { address: client[1], ip } : { address: client[1], domain: client[1] };
      if (ip) relate(ev, "ip", ip);
    }
    const server = SERVER.exec(msg);
    if (server && server[1]) nginx.server = server[1];
    const request = REQUEST.exec(msg);
    if (request && !applyRequestLine(ev, request[1])) nginx.request_line = request[1];
    const upstream = UPSTREAM.exec(msg);
    if (upstream) nginx.upstream = upstream[1];
    const host = HOST.exec(msg);
    if (host) {
      const url = (ev.url ??= {}) as JsonObject;
      const hp = /^(.*?)(?::(\d+))?$/.exec(host[1])!;
      url.domain = hp[1];
      if (hp[2]) url.port = Number(hp[2]);
    }
    const ref = REFERRER.exec(msg);
    if (ref) {
      const http = (ev.http ??= {}) as JsonObject;
      http.request = { ...(http.request as JsonObject | undefined), referrer: ref[1] };
    }
    if (Object.keys(nginx).length > 0) ev.nginx = { error: nginx };
    return finish(ev, rec, rec.data);
  },
});
