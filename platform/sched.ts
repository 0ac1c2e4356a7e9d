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

/** The autogroup a process runs in and that group's nice value, or null where the kernel does not use one for it. */
export function autogroupOf(pid: number | "self"): { group: string; nice: number } | null {
  try {
    // switched off at run time (sysctl), the groups still exist but the scheduler ignores them
    if (fs.readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() === "0") return null;
    // a process in a CPU cgroup of its own is in no autogroup: the kernel prints nothing for it
    const m = /^(\S+) nice (-?\d+)/.exec(fs.readFileSync(`/proc/${pid}/autogroup`, "utf8"));
    return m ? { group: m[1], nice: Number(m[2]) } : null;
  } catch {
    return null;
  }
}

/** Blocks the thread for `ms` (the kernel's rate limit below is 100 ms; only used on that path). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Sets the nice value of the autogroup of `pid` (its whole session). "absent" when `pid` is in no
 * autogroup: the kernel has none, they are switched off, or the process runs in a CPU cgroup of its own
 * (a container or a systemd slice), where the kernel does not use them and the per-process nice value is
 * what ranks it. An Error when the kernel refused. Without CAP_SYS_ADMIN the kernel accepts one such
 * change every 100 ms, machine-wide (EAGAIN otherwise): retried a few times before giving up.
 */
export function setAutogroupNice(pid: number | "self", nice: number): "set" | "absent" | Error {
  if (autogroupOf(pid) === null && (pid === "self" || autogroupOf("self") === null)) return "absent";
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
