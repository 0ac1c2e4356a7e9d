// Authentication messages inside syslog: sshd logins and disconnects, PAM sessions and failures, sudo,
// su, login, systemd-logind sessions, and user/group management (useradd, groupadd, userdel, usermod,
// passwd). Sets event.category/type/action/outcome, user.*, source.* and system.auth.* like Elastic's
// system/auth pipeline, so auth.log searches and Linux rules see the fields they expect.

import type { EcsEvent, EventCategory, EventType, JsonObject } from "../../../schema/ecs.ts";
import { asIp, asPort } from "./net.ts";
import { relate } from "./event.ts";

/** Programs whose messages are authentication records (event.dataset system.auth). */
const AUTH_PROGRAMS = new Set([
  "sshd", "sudo", "su", "login", "passwd", "useradd", "groupadd", "userdel", "groupdel", "usermod", "groupmod", "chpasswd", "chage",
  "gpasswd", "newusers", "systemd-logind", "gdm-password", "gdm-session-worker", "lightdm", "polkitd", "pkexec", "pam", "unix_chkpwd",
  "sshd-session", "dropbear", "vsftpd", "cron", "CRON", "crond", "runuser", "doas",
]);

export function isAuthProgram(name: string | undefined): boolean {
  return name !== undefined && AUTH_PROGRAMS.has(name);
}

function classify(ev: EcsEvent, category: EventCategory[], type: EventType[], action: string | undefined, outcome?: "success" | "failure"): void {
  const e = ev.event;
  e.category = category;
  e.type = type;
  if (action !== undefined) e.action = action;
  if (outcome !== undefined) e.outcome = outcome;
}

function setUser(ev: EcsEvent, name: string | undefined): void {
  if (name === undefined || name === "") return;
  const u = (ev.user ??= {});
  u.name = name;
  relate(ev, "user", name);
}

function setEffectiveUser(ev: EcsEvent, name: string | undefined): void {
  if (name === undefined || name === "") return;
  const u = (ev.user ??= {});
  u.effective = { name };
  relate(ev, "user", name);
}

/** source.ip/port (or source.domain when the peer is a name). */
function setSource(ev: EcsEvent, addr: string | undefined, port?: string): void {
  if (addr === undefined || addr === "" || addr === "UNKNOWN") return;
  const ip = asIp(addr);
  const src: JsonObject = { address: addr };
  if (ip !== undefined) {
    src.ip = ip;
    relate(ev, "ip", ip);
  } else {
    src.domain = addr;
    relate(ev, "hosts", addr);
  }
  const p = asPort(port);
  if (p !== undefined) src.port = p;
  ev.source = src;
}

function auth(ev: EcsEvent): JsonObject {
  const sys = ((ev.system ??= {}) as JsonObject);
  return ((sys.auth ??= {}) as JsonObject);
}

/** The fields of a PAM failure record that become event fields. */
interface PamFields {
  user: string | undefined;
  rhost: string | undefined;
  tty: string | undefined;
  ruser: string | undefined;
}

/**
 * The user, rhost, tty and ruser of space-separated key=value pairs with possibly empty values
 * ("logname= uid=0 rhost=1.2.3.4  user=root"); the last of a repeated key wins. Only these keys are
 * cut out of the text.
 */
function pamFields(s: string): PamFields {
  const out: PamFields = { user: undefined, rhost: undefined, tty: undefined, ruser: undefined };
  let start = 0;
  // the first "=" at or after start (-1: none left); searched again only once start has passed it, so a
  // long line of words without "=" is read once, not once per word
  let eq = -2;
  while (start <= s.length) {
    let end = s.indexOf(" ", start);
    if (end < 0) end = s.length;
    if (eq !== -1 && eq < start) eq = s.indexOf("=", start);
    if (eq > start && eq < end) {
      const n = eq - start;
      if (n === 4 && s.startsWith("user", start)) out.user = s.slice(eq + 1, end);
      else if (n === 5 && s.startsWith("rhost", start)) out.rhost = s.slice(eq + 1, end);
      else if (n === 3 && s.startsWith("tty", start)) out.tty = s.slice(eq + 1, end);
      else if (n === 5 && s.startsWith("ruser", start)) out.ruser = s.slice(eq + 1, end);
    }
    start = end + 1;
  }
  return out;
}

/**
 * [needle, pattern, apply]: the needle is a literal the pattern cannot match without ("^x" = starts with
 * x), checked first so most lines are ruled out by a string search instead of a regex.
 */
type Rule = [string, RegExp, (m: RegExpExecArray, ev: EcsEvent) => void];

const SSH_LOGIN = /^(Accepted|Failed|Partial) (\S+) for (invalid user )?(.*?) from (\S+) port (\d+)(?: (ssh\d?))?(?:: (.*))?$/;

function pamFailure(ev: EcsEvent, rest: string): void {
  const f = pamFields(rest);
  classify(ev, ["authentication"], ["info"], "authentication_failure", "failure");
  setUser(ev, f.user);
  setSource(ev, f.rhost);
  if (f.tty) auth(ev).pam = { tty: f.tty };
  if (f.ruser) relate(ev, "user", f.ruser);
}

/**
 * "session opened for user TARGET[(uid=N)] by [ACTOR](uid=M)": the actor (who opened the session) is
 * user.*, the session's user user.effective.* (ECS actor/target, as Elastic's system/auth pipeline). An
 * actor known only by uid (sshd, cron: "by (uid=0)") gets user.id alone. "session closed for user X"
 * names only the session's user, in user.name.
 */
function session(ev: EcsEvent, opened: boolean, user: string, targetUid: string | undefined, by: string | undefined, byUid: string | undefined): void {
  classify(ev, ["session"], [opened ? "start" : "end"], opened ? "logged-on" : "logged-off", "success");
  if (byUid === undefined && !by) {
    setUser(ev, user);
    if (targetUid !== undefined) (ev.user ??= {}).id = targetUid;
    return;
  }
  setUser(ev, by);
  if (byUid !== undefined) (ev.user ??= {}).id = byUid;
  setEffectiveUser(ev, user);
  if (targetUid !== undefined) ((ev.user as JsonObject).effective as JsonObject).id = targetUid;
}

/** Rules tried in order on every auth program's message (after "message repeated N times: [ ... ]" unwrapping). */
const RULES: Rule[] = [
  [" from ", SSH_LOGIN, (m, ev) => {
    const ok = m[1] === "Accepted";
    classify(ev, ok ? ["authentication", "session"] : ["authentication"], ["info"], "ssh_login", ok ? "success" : "failure");
    setUser(ev, m[4]);
    setSource(ev, m[5], m[6]);
    const ssh: JsonObject = { event: m[1], method: m[2] };
    if (m[3]) ssh.invalid_user = true;
    if (m[8]) ssh.signature = m[8];
    auth(ev).ssh = ssh;
  }],
  ["^Invalid user ", /^Invalid user (.*?) from (\S+)(?: port (\d+))?$/, (m, ev) => {
    classify(ev, ["authentication"], ["info"], "ssh_login", "failure");
    setUser(ev, m[1]);
    setSource(ev, m[2], m[3]);
    auth(ev).ssh = { event: "Invalid", invalid_user: true };
  }],
  ["^input_userauth_request: ", /^input_userauth_request: invalid user (.*?)(?: \[preauth\])?$/, (m, ev) => {
    classify(ev, ["authentication"], ["info"], "ssh_login", "failure");
    setUser(ev, m[1]);
    auth(ev).ssh = { event: "Invalid", invalid_user: true };
  }],
  ["maximum authentication attempts", /^(?:error: )?maximum authentication attempts exceeded for (invalid user )?(\S+) from (\S+) port (\d+)/, (m, ev) => {
    classify(ev, ["authentication"], ["info"], "ssh_login", "failure");
    setUser(ev, m[2]);
    setSource(ev, m[3], m[4]);
    auth(ev).ssh = { event: "MaxAuthTries" };
  }],
  ["Too many authentication failures", /^Disconnecting(?: (?:authenticating|invalid) user (\S+) (\S+) port (\d+))?: Too many authentication failures(?: for (?:invalid user )?(\S+))?/, (m, ev) => {
    classify(ev, ["authentication"], ["info"], "ssh_login", "failure");
    setUser(ev, m[1] ?? m[4]);
    setSource(ev, m[2], m[3]);
    auth(ev).ssh = { event: "TooManyFailures" };
  }],
  ["^Did not receive identification", /^Did not receive identification string from (\S+)(?: port (\d+))?/, (m, ev) => {
    classify(ev, ["network"], ["connection", "end"], "ssh_dropped_connection");
    setSource(ev, m[1], m[2]);
    auth(ev).ssh = { dropped_ip: m[1] };
  }],
  ["^Connection ", /^Connection (?:closed|reset) by (?:(?:authenticating|invalid) user (\S+) )?(\S+)(?: port (\d+))?/, (m, ev) => {
    classify(ev, ["network"], ["connection", "end"], "ssh_connection_closed");
    setUser(ev, m[1]);
    setSource(ev, m[2], m[3]);
  }],
  ["Received disconnect from ", /^(?:error: )?Received disconnect from (\S+?)(?: port (\d+))?:\s*(\d+): (.*)$/, (m, ev) => {
    classify(ev, ["network"], ["connection", "end"], "ssh_disconnect");
    setSource(ev, m[1], m[2]);
  }],
  ["^Disconnected from ", /^Disconnected from (?:(?:authenticating |invalid )?user (\S+) )?(\S+) port (\d+)/, (m, ev) => {
    classify(ev, ["network"], ["connection", "end"], "ssh_disconnect");
    setUser(ev, m[1]);
    setSource(ev, m[2], m[3]);
  }],
  ["^Connection from ", /^Connection from (\S+) port (\d+)/, (m, ev) => {
    classify(ev, ["network"], ["connection", "start"], "ssh_connection");
    setSource(ev, m[1], m[2]);
  }],
  ["^reverse mapping", /^reverse mapping checking getaddrinfo for (\S+) \[(\S+)\] failed/, (m, ev) => {
    classify(ev, ["network"], ["info"], "ssh_reverse_mapping_failed");
    setSource(ev, m[2]);
    if (ev.source) ev.source.domain = m[1];
    relate(ev, "hosts", m[1]);
  }],
  ["^Address ", /^Address (\S+) maps to (\S+), but this does not map back to the address/, (m, ev) => {
    classify(ev, ["network"], ["info"], "ssh_reverse_mapping_failed");
    setSource(ev, m[1]);
    if (ev.source) ev.source.domain = m[2];
  }],
  ["^Bad protocol", /^Bad protocol version identification '(.*)' from (\S+)(?: port (\d+))?/, (m, ev) => {
    classify(ev, ["network"], ["connection", "denied"], "ssh_bad_protocol", "failure");
    setSource(ev, m[2], m[3]);
  }],
  ["^subsystem request", /^subsystem request for (\S+) by user (\S+)/, (m, ev) => {
    classify(ev, ["session"], ["info"], "ssh_subsystem_request");
    setUser(ev, m[2]);
    auth(ev).ssh = { subsystem: m[1] };
  }],
  ["^Server listening", /^Server listening on (\S+) port (\d+)/, (_m, ev) => classify(ev, ["host"], ["start"], "ssh_server_listening")],
  ["^PAM ", /^PAM (\d+) more authentication failures?; (.*)$/, (m, ev) => pamFailure(ev, m[2])],
  ["^PAM service", /^PAM service\((\S+)\) ignoring max retries; (\d+) > (\d+)/, (_m, ev) => classify(ev, ["authentication"], ["info"], "authentication_failure", "failure")],
  ["authentication failure; ", /^(?:pam_\w+\((\S+?):auth\): )?authentication failure; (.*)$/, (m, ev) => pamFailure(ev, m[2])],
  ["check pass; user unknown", /^(?:pam_\w+\((\S+?):auth\): )?check pass; user unknown/, (_m, ev) => classify(ev, ["authentication"], ["info"], "authentication_failure", "failure")],
  ["conversation failed", /^(?:pam_\w+\((\S+?):auth\): )?conversation failed/, (_m, ev) => classify(ev, ["authentication"], ["info"], "authentication_failure", "failure")],
  ["session ", /^(?:pam_\w+\((\S+?):session\): )?session (opened|closed) for user (\S+?)(?:\(uid=(\d+)\))?(?: by (\S*?)\(uid=(\d+)\))?$/, (m, ev) => session(ev, m[2] === "opened", m[3], m[4], m[5], m[6])],
  ["password changed for ", /^(?:pam_\w+\((\S+?):chauthtok\): )?password changed for (\S+)/, (m, ev) => {
    classify(ev, ["iam"], ["user", "change"], "password-changed", "success");
    setUser(ev, m[2]);
  }],
  // sudo: "  user : [error ; ]TTY=pts/0 ; PWD=/ ; USER=root ; [GROUP=x ; ]COMMAND=/bin/ls"
  ["TTY=", /^\s*(\S+) : (?:(.*?) ; )?TTY=(\S*) ; PWD=(.*?) ; USER=(\S+) ;(?: GROUP=(\S+) ;)?(?: ENV=.*? ;)? COMMAND=(.*)$/, (m, ev) => {
    const denied = m[2] !== undefined;
    classify(ev, ["process"], denied ? ["start", "denied"] : ["start"], "sudo", denied ? "failure" : "success");
    setUser(ev, m[1]);
    setEffectiveUser(ev, m[5]);
    const sudo: JsonObject = { tty: m[3], pwd: m[4], user: m[5], command: m[7] };
    if (m[6]) sudo.group = m[6];
    if (denied) sudo.error = m[2];
    auth(ev).sudo = sudo;
  }],
  ["TTY=", /^\s*(\S+) : (.*?) ; TTY=(\S*) ; PWD=(.*?) ; USER=(\S+)/, (m, ev) => {
    classify(ev, ["process"], ["start", "denied"], "sudo", "failure");
    setUser(ev, m[1]);
    setEffectiveUser(ev, m[5]);
    auth(ev).sudo = { tty: m[3], pwd: m[4], user: m[5], error: m[2] };
  }],
  // su
  ["^(to ", /^\(to (\S+)\) (\S+) on (\S+)/, (m, ev) => {
    classify(ev, ["authentication", "session"], ["start"], "su", "success");
    setUser(ev, m[2]);
    setEffectiveUser(ev, m[1]);
  }],
  [" su for ", /^(FAILED|Successful) su for (\S+) by (\S+)/, (m, ev) => {
    const ok = m[1] === "Successful";
    classify(ev, ["authentication"], ["start"], "su", ok ? "success" : "failure");
    setUser(ev, m[3]);
    setEffectiveUser(ev, m[2]);
  }],
  // login
  ["^FAILED LOGIN", /^FAILED LOGIN (?:\(\d+\) )?on '?(\S+?)'? (?:from '?(\S*?)'? )?FOR '?(\S+?)'?, (.*)$/, (m, ev) => {
    classify(ev, ["authentication"], ["start"], "login", "failure");
    setUser(ev, m[3]);
    setSource(ev, m[2]);
  }],
  ["^ROOT LOGIN", /^ROOT LOGIN\s+on '?(\S+?)'?(?: from '?(\S+?)'?)?$/, (m, ev) => {
    classify(ev, ["authentication", "session"], ["start"], "login", "success");
    setUser(ev, "root");
    setSource(ev, m[2]);
  }],
  // systemd-logind
  ["^New session ", /^New session (\S+) of user (\S+?)\.?$/, (m, ev) => {
    classify(ev, ["session"], ["start"], "logged-on", "success");
    setUser(ev, m[2]);
    auth(ev).session = { id: m[1] };
  }],
  ["^Removed session ", /^Removed session (\S+?)\.?$/, (m, ev) => {
    classify(ev, ["session"], ["end"], "logged-off", "success");
    auth(ev).session = { id: m[1] };
  }],
  [" logged out.", /^Session (\S+) logged out\./, (m, ev) => {
    classify(ev, ["session"], ["end"], "logged-off", "success");
    auth(ev).session = { id: m[1] };
  }],
  // user and group management
  ["^new user: ", /^new user: name=([^,]+), UID=(\d+), GID=(\d+), home=([^,]*), shell=([^,]*)(?:, from=(\S+))?/, (m, ev) => {
    classify(ev, ["iam"], ["user", "creation"], "user-created", "success");
    setUser(ev, m[1]);
    (ev.user ??= {}).id = m[2];
    ev.group = { id: m[3] };
    auth(ev).useradd = { home: m[4], shell: m[5] };
  }],
  ["^new group: ", /^new group: name=([^,]+), GID=(\d+)/, (m, ev) => {
    classify(ev, ["iam"], ["group", "creation"], "group-created", "success");
    ev.group = { name: m[1], id: m[2] };
  }],
  ["delet", /^(?:delete user|deleting user) '?([^']+?)'?$/, (m, ev) => {
    classify(ev, ["iam"], ["user", "deletion"], "user-deleted", "success");
    setUser(ev, m[1]);
  }],
  [" group '", /^(?:group '([^']+)' removed|removed group '([^']+)')/, (m, ev) => {
    classify(ev, ["iam"], ["group", "deletion"], "group-deleted", "success");
    ev.group = { name: m[1] ?? m[2] };
  }],
  [" group '", /^(?:add|delete) '([^']+)' (?:to|from) (?:shadow )?group '([^']+)'/, (m, ev) => {
    classify(ev, ["iam"], ["group", "change"], "group-membership-changed", "success");
    setUser(ev, m[1]);
    ev.group = { name: m[2] };
  }],
  ["^change user '", /^change user '([^']+)' (password|shell|home|name)/, (m, ev) => {
    classify(ev, ["iam"], ["user", "change"], m[2] === "password" ? "password-changed" : "user-modified", "success");
    setUser(ev, m[1]);
  }],
];

const REPEATED = /^message repeated (\d+) times: \[ ?(.*?) ?\]$/;

/**
 * Recognizes an authentication message and enriches `ev`. Returns true when `program` is an auth
 * program or the message is a PAM record (the event then belongs to system.auth).
 */
/** RULES with the "^" (starts with) marker taken off once, not on every line. */
const COMPILED_RULES = RULES.map(([needle, re, apply]) => [needle.charCodeAt(0) === 94 /* ^ */, needle.charCodeAt(0) === 94 ? needle.slice(1) : needle, re, apply] as const);

export function enrichAuth(ev: EcsEvent, program: string | undefined, msg: string): boolean {
  const isPam = msg.startsWith("pam_");
  if (!isAuthProgram(program) && !isPam) return false;
  let text = msg;
  const rep = REPEATED.exec(text);
  if (rep) {
    text = rep[2];
    auth(ev).repeated = Number(rep[1]);
  }
  if (text.length > 2048) return true; // bounded: the patterns below backtrack on hostile text
  for (const [prefix, needle, re, apply] of COMPILED_RULES) {
    if (prefix ? !text.startsWith(needle) : !text.includes(needle)) continue;
    const m = re.exec(text);
    if (m) {
      apply(m, ev);
      break;
    }
  }
  return true;
}
