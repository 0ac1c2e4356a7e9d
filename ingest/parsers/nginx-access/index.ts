// nginx access logs: the default combined format, forwarded address lists, trailing X-Forwarded-For.
import type { Parser } from "../types.ts";
import type { JsonObject } from "../../../schema/ecs.ts";
import { lineParser } from "../common/line-parser.ts";
import { looksAccess, parseAccessLine } from "../common/web.ts";
import { finish } from "../common/event.ts";

export const parser: Parser = lineParser({
  name: "nginx-access",
  description: "nginx access log (combined format, remote address lists, X-Forwarded-For)",
  // the same line shape as Apache's: file names (nginx/...) decide between the two in auto mode
  detect: (sample) => looksAccess(sample) * 0.99,
  parse(rec, env) {
    const r = parseAccessLine(rec.data, env.zone, "nginx.access", "nginx");
    if (!r) return { code: "access_log_bad_line", reason: "not an nginx combined access log line: expected 'client - user [dd/Mmm/yyyy:HH:MM:SS +zzzz] \"request\" status bytes \"referrer\" \"agent\"'" };
    if (Object.keys(r.extra).length > 0) r.ev.nginx = { access: r.extra } as JsonObject;
    return finish(r.ev, rec, rec.data);
  },
});
