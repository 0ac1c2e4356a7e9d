// Apache httpd access logs: common and combined log format, virtual host prefix, the ssl_request log.
import type { Parser } from "../types.ts";
import type { JsonObject } from "../../../schema/ecs.ts";
import { lineParser } from "../common/line-parser.ts";
import { looksAccess, parseAccessLine } from "../common/web.ts";
import { finish } from "../common/event.ts";

export const parser: Parser = lineParser({
  name: "apache-access",
  description: "Apache httpd access log (common, combined, vhost_combined, ssl_request)",
  detect: looksAccess,
  parse(rec, env) {
    const r = parseAccessLine(rec.data, env.zone, "apache.access", "apache");
    if (!r) return { code: "access_log_bad_line", reason: "not a common/combined access log line: expected 'client ident user [dd/Mmm/yyyy:HH:MM:SS +zzzz] \"request\" status bytes'" };
    if (Object.keys(r.extra).length > 0) r.ev.apache = { access: r.extra } as JsonObject;
    return finish(r.ev, rec, rec.data);
  },
});
