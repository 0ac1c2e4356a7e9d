// Authentication logs (/var/log/auth.log, /var/log/secure): syslog lines from sshd, sudo, su, PAM,
// login, systemd-logind and user management, as event.dataset system.auth with outcome, user and source.
import type { Parser } from "../types.ts";
import { syslogParser } from "../common/syslog-parser.ts";
import { isAuthProgram } from "../common/auth.ts";
import { looks3164, looks5424, parseSyslog } from "../common/syslog.ts";
import { compileZone } from "../common/time.ts";

const UTC = compileZone("UTC");

export const parser: Parser = syslogParser({
  name: "sshd-auth",
  description: "authentication logs inside syslog: sshd logins, PAM sessions and failures, sudo, su, user and group changes",
  dataset: "system.auth",
  detect(sample) {
    if (Math.max(looks3164(sample), looks5424(sample)) === 0) return 0;
    const h = parseSyslog(sample, UTC, Date.now());
    const app = h?.app?.replace(/\(.*$/, "");
    // above syslog's 0.9 only when (nearly) every line is from an authentication program
    return h && (isAuthProgram(app) || h.msg.startsWith("pam_")) ? 0.91 : 0.3;
  },
});
