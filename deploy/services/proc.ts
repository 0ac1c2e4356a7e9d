// Process and port helpers for `sigil services`: is a pid alive, what is its command line, which
// process listens on a port (/proc, else ss, else lsof), stop a process, and an exclusive lock file.

import fs from "node:fs";
import net from "node:net";
import { execFileSync } from "node:child_process";
import { SigilError } from "../../platform/errors.ts";

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  // A zombie (exited, not yet reaped) still answers signal 0.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return true;
  }
}

/** The command line of a process, "" when unknown. */
export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    try {
      return execFileSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      return "";
    }
  }
}

export function readPid(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** True when nothing listens on host:port (we can bind it ourselves). */
export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export interface PortHolder {
  pid: number | null;
  command: string;
}

/** Which process listens on a TCP port: /proc on Linux, else `ss`, else `lsof`. */
export function portHolder(port: number): PortHolder | null {
  const viaProc = holderFromProc(port);
  if (viaProc) return viaProc;
  for (const probe of [holderFromSs, holderFromLsof]) {
    try {
      const h = probe(port);
      if (h) return h;
    } catch {
      // tool missing or not permitted: try the next one
    }
  }
  return null;
}

function holderFromProc(port: number): PortHolder | null {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = fs.readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const local = cols[1];
      const state = cols[3];
      if (state !== "0A") continue; // LISTEN
      const hexPort = local.slice(local.lastIndexOf(":") + 1);
      if (parseInt(hexPort, 16) === port) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return null;
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1])) return { pid: Number(pid), command: cmdline(Number(pid)) };
    }
  }
  return { pid: null, command: "a process this user cannot inspect" };
}

function holderFromSs(port: number): PortHolder | null {
  const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const m = /pid=(\d+)/.exec(out);
  if (m) return { pid: Number(m[1]), command: cmdline(Number(m[1])) };
  return out.trim() ? { pid: null, command: "unknown process" } : null;
}

function holderFromLsof(port: number): PortHolder | null {
  const out = execFileSync("lsof", ["-nP", `-iTCP:${port}`, "-sTCP:LISTEN", "-Fp"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const m = /^p(\d+)/m.exec(out);
  return m ? { pid: Number(m[1]), command: cmdline(Number(m[1])) } : null;
}

/** Shortens a command line for messages. */
export function shortCommand(cmd: string, max = 160): string {
  return cmd.length > max ? cmd.slice(0, max - 1) + "…" : cmd;
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. Returns how it ended. */
export async function stopPid(pid: number, graceMs: number): Promise<"stopped" | "killed" | "not-running"> {
  if (!pidAlive(pid)) return "not-running";
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return "not-running";
  }
  const end = Date.now() + graceMs;
  while (Date.now() < end) {
    if (!pidAlive(pid)) return "stopped";
    await sleep(200);
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // exited meanwhile
  }
  for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
  return "killed";
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, "r");
    try {
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return buf.toString("utf8").split("\n").filter(Boolean).slice(-lines).join("\n");
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return "";
  }
}

/**
 * An exclusive lock file (O_EXCL, holding our pid). A lock whose holder died is taken over, so a
 * crashed `up` never blocks the next one. Waits while another live process holds it.
 */
export async function withLock<T>(file: string, what: string, onWait: (pid: number) => void, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = readPid(file);
      if (holder === null || !pidAlive(holder)) {
        // stale: remove only if it still names the dead holder (another waiter may have replaced it)
        try {
          if (readPid(file) === holder) fs.unlinkSync(file);
        } catch {
          // someone else removed it
        }
        continue;
      }
      if (!told) {
        onWait(holder);
        told = true;
      }
      if (Date.now() > end) {
        throw new SigilError("services_locked", `${what}: another \`sigil services\` (pid ${holder}) has held ${file} for too long`, {
          location: { file },
          hint: `wait for it to finish, or stop pid ${holder}`,
        });
      }
      await sleep(300);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      if (readPid(file) === process.pid) fs.unlinkSync(file);
    } catch {
      // already gone
    }
  }
}
