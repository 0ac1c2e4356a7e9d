// IETF syslog (RFC 5424): <PRI>VERSION TIMESTAMP HOST APP PROCID MSGID [SD] MSG, structured data kept
// under log.syslog.structured_data; RFC 3164 lines met in the same stream are parsed too.
import type { Parser } from "../types.ts";
import { syslogParser } from "../common/syslog-parser.ts";
import { looks3164, looks5424 } from "../common/syslog.ts";

export const parser: Parser = syslogParser({
  name: "syslog-rfc5424",
  description: "IETF syslog (RFC 5424) with structured data; BSD lines in the same stream are accepted",
  dataset: "system.syslog",
  detect: (sample) => Math.max(looks5424(sample), looks3164(sample) * 0.5),
});
