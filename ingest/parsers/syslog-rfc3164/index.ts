// BSD syslog (RFC 3164) lines as /var/log/messages and most devices write them: year-less or ISO
// stamps, host, tag[pid]: message; indented continuation lines join the record before them.
import type { Parser } from "../types.ts";
import { syslogParser } from "../common/syslog-parser.ts";
import { looks3164, looks5424 } from "../common/syslog.ts";

export const parser: Parser = syslogParser({
  name: "syslog-rfc3164",
  description: "BSD syslog (RFC 3164): 'Mmm dd HH:MM:SS host tag[pid]: msg', with or without <PRI>, ISO stamps, multi-line records",
  dataset: "system.syslog",
  detect: (sample) => Math.max(looks3164(sample), looks5424(sample) * 0.5),
});
