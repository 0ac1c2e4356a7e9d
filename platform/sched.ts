// Scheduling priority on Linux, including the kernel's autogroups.
//
// With CONFIG_SCHED_AUTOGROUP on (kernel.sched_autogroup_enabled = 1, the default of most distributions
// outside systemd's CPU controller), every session (setsid) is its own scheduling group: the kernel shares
// the CPU fairly between groups first and applies a process's nice value only against the other
// processes of its own group. A service started in a session of its own (a daemon, `detached: true`)
// at nice 10 therefore still gets an equal share against the session that runs the pipeline: its nice
// value does nothing across sessions. The group has a nice value of its own, /proc/<pid>/autogroup,
// which is what ranks it against the others.

import fs from "node:fs";

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses), so
 * field N of proc(5) is [N - 3]: [0] state, [3] session, [11] utime, [12] stime, [16] nice. Null when
 * the process is gone or there is no /proc.
 */
export function procStat(pid: number | "self"): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  } catch {
    return null;
  }
}

/** The session id of a process (Linux /proc), or null where it cannot be read. */
export function sessionOf(pid: number | "self"): number | null {
  const f = procStat(pid);
  return f ? Number(f[3]) : null;
}

/** Whether the kernel groups sessions (CONFIG_SCHED_AUTOGROUP built in and not switched off by sysctl). */
export function autogroupsEnabled(): boolean {
  try {
    return fs.readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() === "1";
  } catch {
    return false;
  }
}

/** The text of /proc/<pid>/autogroup: "" for a process in the root group, an Error when it cannot be read. */
function readAutogroup(pid: number | "self"): string | Error {
  try {
    return fs.readFileSync(`/proc/${pid}/autogroup`, "utf8");
  } catch (err) {
    return err as Error;
  }
}

/**
 * The autogroup a process runs in and that group's nice value. Null without autogroups, and for a
 * process whose session never had a group of its own: the sessions that no setsid() since boot has
 * left (PID 1's, and that of whatever it starts without one, a container's or a CI runner's processes)
 * share the root group, where the kernel prints nothing and each process ranks by its own nice value.
 */
export function autogroupOf(pid: number | "self"): { group: string; nice: number } | null {
  if (!autogroupsEnabled()) return null;
  const text = readAutogroup(pid);
  const m = typeof text === "string" ? /^(\S+) nice (-?\d+)/.exec(text) : null;
  return m ? { group: m[1], nice: Number(m[2]) } : null;
}

/** Blocks the thread for `ms` (the kernel's rate limit below is 100 ms; only used on that path). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Sets the nice value of the autogroup of `pid` (its whole session). "absent" without autogroups or
 * when `pid` is in the root group (see autogroupOf; the kernel cannot weigh that group, and the
 * per-process nice value is then what ranks it); an Error when the process cannot be read or the kernel
 * refused. Without CAP_SYS_ADMIN the kernel accepts one such change every 100 ms, machine-wide (EAGAIN
 * otherwise): retried a few times before giving up.
 */
export function setAutogroupNice(pid: number | "self", nice: number): "set" | "absent" | Error {
  if (!autogroupsEnabled()) return "absent";
  const text = readAutogroup(pid);
  if (text instanceof Error) return text;
  if (text.trim() === "") return "absent";
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(`/proc/${pid}/autogroup`, String(nice));
      return "set";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN" || attempt === 5) return err as Error;
      pause(110);
    }
  }
}
