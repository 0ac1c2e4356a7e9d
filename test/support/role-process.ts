// A Sigil role (`node bin/sigil.js <role>`) as a child process of an integration test: its stderr kept
// (the latest part) and handed on by chunk and by line, readiness read from a line it prints, an early
// exit or a timeout reported with the role, what was awaited and the tail of its stderr, and a stop
// that waits for the exit and ends a role that does not stop with SIGKILL, so none is left running.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { SigilError } from "../../platform/errors.ts";
import { PROJECT_ROOT } from "./shared-data.ts";

export const SIGIL_BIN = path.join(PROJECT_ROOT, "bin", "sigil.js");

/** How much of stderr an error message shows. */
const TAIL_CHARS = 2048;
/** How long an exited role's stderr may stay open (a grandchild holding it) before it counts as read. */
const STDERR_DRAIN_MS = 3000;

export interface SpawnRoleOptions {
  /** The sigil subcommand: "ingest", "correlate", "console", "index", "agent", ... */
  role: string;
  /** Arguments after the role. */
  args?: readonly string[];
  /** The child's whole environment (default: this process's); `{ ...process.env, X: "1" }` adds to it. */
  env?: NodeJS.ProcessEnv;
  /** Default: the project root. */
  cwd?: string;
  /** What is run instead of `node bin/sigil.js <role> ...args` (the helper's own tests run a stand-in). */
  command?: readonly [string, ...string[]];
  /** How many characters of stderr `stderr()` keeps, the latest (default 8 MiB). */
  keepChars?: number;
  /** Every stderr chunk as it arrives (to append to a log file). */
  onStderr?: (chunk: string) => void;
  /** Every complete stderr line, without its newline (to parse log lines). */
  onLine?: (line: string) => void;
}

export interface StartRoleOptions extends SpawnRoleOptions {
  /** A line on stderr that says the role is ready; its match is `match` (e.g. /http listening on (\S+)/). */
  ready: RegExp;
  /** Default 120 s. */
  timeoutMs?: number;
}

/** A running (or exited) role process. */
export interface RoleHandle {
  readonly role: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Still running: not exited and not ended by a signal. */
  readonly running: boolean;
  /** Settles when the process has exited and its stderr is read: the exit code, null when a signal ended it. */
  readonly exited: Promise<number | null>;
  /** What it printed on stderr (the latest `keepChars`). */
  stderr(): string;
  /** The first stderr line, printed so far or later, that matches `re`; rejects at once when the process exits first, or after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves when `check` (polled every `everyMs`) returns true; rejects at once when the process exits first, or after `timeoutMs`. */
  waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs?: number, everyMs?: number): Promise<void>;
  /** Sends `signal` (default SIGTERM), SIGKILL after `graceMs` (default 60 s) when it has not exited; resolves with the exit code (null: ended by a signal). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export interface StartedRole extends RoleHandle {
  /** The match of `ready` on the line that said the role is ready. */
  readonly match: RegExpExecArray;
}

/** Roles still running, ended with SIGKILL when this test process exits so that none outlives it. */
const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * Starts the role and resolves once it prints a line matching `ready`. When it exits first, rejects at
 * once with its exit code and stderr tail; when `timeoutMs` passes, kills it (nothing is left running)
 * and rejects with the role, the line awaited and its stderr tail.
 */
export async function startRole(opts: StartRoleOptions): Promise<StartedRole> {
  const handle = spawnRole(opts);
  try {
    const match = await handle.waitFor(opts.ready, opts.timeoutMs ?? 120_000);
    return Object.assign(handle, { match });
  } catch (err) {
    await handle.stop("SIGKILL");
    throw err;
  }
}

/** Starts the role without waiting for it: `waitFor` and `waitUntil` then say when it is ready. */
export function spawnRole(opts: SpawnRoleOptions): RoleHandle {
  const { role } = opts;
  const label = `sigil ${role}`;
  const [file, ...argv] = opts.command ?? [process.execPath, SIGIL_BIN, role, ...(opts.args ?? [])];
  const proc = spawn(file, argv, { cwd: opts.cwd ?? PROJECT_ROOT, env: opts.env ?? process.env, stdio: ["ignore", "ignore", "pipe"] });
  live.add(proc);
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const p of live) p.kill("SIGKILL");
    });
  }

  const keep = opts.keepChars ?? 8 * 1024 * 1024;
  let kept: string[] = [];
  let keptChars = 0;
  let joined: string | null = "";
  let partial = "";
  const lineListeners = new Set<(line: string) => void>();
  const exitListeners = new Set<() => void>();
  const emitLine = (line: string) => {
    opts.onLine?.(line);
    for (const l of lineListeners) l(line);
  };

  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (s: string) => {
    kept.push(s);
    keptChars += s.length;
    joined = null;
    if (keptChars > keep * 2) {
      // trim now and then, not on every chunk
      const all = kept.join("").slice(-keep);
      kept = [all];
      keptChars = all.length;
    }
    opts.onStderr?.(s);
    partial += s;
    let nl = partial.indexOf("\n");
    if (nl < 0) return;
    let from = 0;
    while (nl >= 0) {
      emitLine(partial.slice(from, nl));
      from = nl + 1;
      nl = partial.indexOf("\n", from);
    }
    partial = partial.slice(from);
  });
  const stderrEnded = new Promise<void>((resolve) => {
    proc.stderr!.once("end", () => {
      if (partial) emitLine(partial);
      partial = "";
      resolve();
    });
    proc.stderr!.once("close", () => resolve());
  });
  let spawnError: Error | null = null;
  let exitedNow = false;
  const exited = new Promise<number | null>((resolve) => {
    const done = (code: number | null) => {
      live.delete(proc);
      // everything it printed is read before anyone hears of the exit (bounded: a grandchild may hold stderr)
      const settle = () => {
        if (exitedNow) return;
        clearTimeout(drain);
        exitedNow = true;
        resolve(code);
        for (const l of exitListeners) l();
      };
      const drain = setTimeout(settle, STDERR_DRAIN_MS);
      void stderrEnded.then(settle);
    };
    proc.once("exit", (code) => done(code));
    proc.once("error", (err) => {
      // a command that could not be started has no 'exit' (and a negative errno as its exitCode)
      if (proc.pid === undefined) {
        spawnError = err;
        done(null);
      }
    });
  });

  const stderr = (): string => {
    if (joined === null) {
      joined = kept.join("");
      if (joined.length > keep) joined = joined.slice(-keep);
      kept = [joined];
      keptChars = joined.length;
    }
    return joined;
  };
  const ended = (): string =>
    spawnError ? `could not be started (${spawnError.message})` : proc.signalCode ? `was ended by ${proc.signalCode}` : `exited with code ${proc.exitCode}`;
  const exitedError = (before: string) =>
    new SigilError("role_exited", `${label} ${ended()} before ${before}; ${tailOf(stderr())}`, { hint: "its stderr says why: a bad config, a port in use or an unreachable Kafka/Elasticsearch" });
  const timeoutError = (waiting: string, ms: number) =>
    new SigilError("role_timeout", `${label} (pid ${proc.pid}): timed out after ${ms} ms waiting for ${waiting}; ${tailOf(stderr())}`, { hint: "its stderr tail shows where it got to; a slow machine may need a longer timeout" });

  const handle: RoleHandle = {
    role,
    proc,
    pid: proc.pid ?? -1,
    get running() {
      return !exitedNow && proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null;
    },
    exited,
    stderr,
    waitFor(pattern, timeoutMs = 120_000) {
      // one line at a time: a /g or /y pattern's lastIndex must not carry from one line to the next
      const re = pattern.global || pattern.sticky ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, "")) : pattern;
      // a line it printed already
      const before = partial ? stderr().slice(0, -partial.length) : stderr();
      for (const line of before.split("\n")) {
        const m = re.exec(line);
        if (m) return Promise.resolve(m);
      }
      if (exitedNow) return Promise.reject(exitedError(`it printed a line matching ${re}`));
      return new Promise((resolve, reject) => {
        const finish = () => {
          clearTimeout(timer);
          lineListeners.delete(onLine);
          exitListeners.delete(onExit);
        };
        const onLine = (line: string) => {
          const m = re.exec(line);
          if (!m) return;
          finish();
          resolve(m);
        };
        const onExit = () => {
          finish();
          reject(exitedError(`it printed a line matching ${re}`));
        };
        const timer = setTimeout(() => {
          finish();
          reject(timeoutError(`a line matching ${re} on its stderr`, timeoutMs));
        }, timeoutMs);
        lineListeners.add(onLine);
        exitListeners.add(onExit);
      });
    },
    async waitUntil(what, check, timeoutMs = 120_000, everyMs = 200) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        if (exitedNow) throw exitedError(what);
        if (await check()) return;
        if (exitedNow) throw exitedError(what);
        if (Date.now() > end) throw timeoutError(what, timeoutMs);
        await Promise.race([sleep(everyMs), exited]);
      }
    },
    async stop(signal = "SIGTERM", graceMs = 60_000) {
      if (!exitedNow && proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const timer = signal === "SIGKILL" ? null : setTimeout(() => proc.kill("SIGKILL"), graceMs);
        try {
          return await exited;
        } finally {
          if (timer) clearTimeout(timer);
        }
      }
      return exited;
    },
  };
  return handle;
}

/** The last ~2 KB of `text` (from a line start where there is one), introduced for an error message. */
function tailOf(text: string): string {
  if (!text.trim()) return "it printed nothing on stderr";
  let tail = text.length > TAIL_CHARS ? text.slice(-TAIL_CHARS) : text;
  if (tail.length < text.length) {
    const nl = tail.indexOf("\n");
    if (nl >= 0 && nl < tail.length - 1) tail = tail.slice(nl + 1);
  }
  return `the last ${tail.length < text.length ? `${tail.length} of ${text.length} characters` : "characters"} of its stderr:\n${tail.trimEnd()}`;
}

/** Runs a `sigil` command to completion (tokens, users) with `env` (default: this process's); returns stdout, throws with its output when it fails. */
export function runSigil(args: readonly string[], env: NodeJS.ProcessEnv = process.env, input?: string): string {
  const r = spawnSync(process.execPath, [SIGIL_BIN, ...args], { cwd: PROJECT_ROOT, env, input, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) {
    const how = r.error ? r.error.message : r.signal ? `was ended by ${r.signal}` : `exited with code ${r.status}`;
    throw new SigilError("sigil_command_failed", `sigil ${args.join(" ")} ${how}: ${(r.stderr + r.stdout).slice(-TAIL_CHARS)}`);
  }
  return r.stdout;
}

/** A TCP port that is free now (the OS picks it), for a role that must keep its address across restarts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
