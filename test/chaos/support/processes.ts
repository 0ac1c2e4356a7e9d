// Sigil roles as real child processes (`sigil ingest|correlate|console|agent`) for the chaos and
// security suites: started with a config file, their stderr kept in a log file per role (appended
// across restarts), readiness read from what each role prints, and stopped with SIGTERM or SIGKILL.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { PROJECT_ROOT } from "../../support/shared-data.ts";

export const SIGIL_BIN = path.join(PROJECT_ROOT, "bin", "sigil.js");

export type RoleName = "ingest" | "correlate" | "console" | "agent";

/** What tells that a role is ready, read from its stderr. */
const READY: Record<RoleName, RegExp> = {
  ingest: /sigil ingest: http listening on (\S+)/,
  correlate: /"msg":"correlate role running"/,
  console: /sigil console: listening on (\S+)/,
  agent: /"msg":"agent started"/,
};

export class RoleProcess {
  child: ChildProcess | null = null;
  /** What this run of the role printed on stderr (also appended to `logFile`). */
  output = "";
  url = "";
  starts = 0;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    readonly role: RoleName,
    readonly args: string[],
    readonly logFile: string,
    readonly env: NodeJS.ProcessEnv = {},
  ) {}

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Starts the role and resolves when it is ready; rejects with its output when it exits first. */
  async start(timeoutMs = 120_000): Promise<void> {
    if (this.running) throw new Error(`${this.role} is already running (pid ${this.pid})`);
    this.starts++;
    this.output = "";
    this.url = "";
    fs.appendFileSync(this.logFile, `\n===== start #${this.starts} at ${new Date().toISOString()} =====\n`);
    const child = spawn(process.execPath, [SIGIL_BIN, this.role, ...this.args], {
      cwd: PROJECT_ROOT,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, SIGIL_LOG_LEVEL: process.env.SIGIL_CHAOS_LOG_LEVEL ?? "info", ...this.env },
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    child.stderr!.on("data", (c: Buffer) => {
      const s = c.toString();
      // keep the tail only: a role that runs for minutes logs a lot
      this.output = (this.output + s).slice(-200_000);
      fs.appendFileSync(this.logFile, s);
    });
    const ready = READY[this.role];
    await until(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`sigil ${this.role} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${this.output.slice(-4000)}`);
        const m = ready.exec(this.output);
        if (m) this.url = m[1] ?? "";
        return !!m;
      },
      timeoutMs,
      `sigil ${this.role} to be ready (log: ${this.logFile})`,
    );
  }

  /** kill -9: no chance to finish anything. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.child!.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM and wait; returns the exit code. */
  async stop(timeoutMs = 60_000): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill("SIGTERM");
    const t = setTimeout(() => this.child?.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }
}

/** Runs a `sigil` command to completion (tokens, users); throws with its output when it fails. */
export function sigil(args: string[], env: NodeJS.ProcessEnv, input?: string): string {
  const r = spawnSync(process.execPath, [SIGIL_BIN, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, encoding: "utf8", input, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`sigil ${args.join(" ")} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 50): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A TCP port that is free now (the OS picks it), for roles that must keep their address across restarts. */
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

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = unknown>(): T;
}

/** One HTTPS request trusting `ca` (the dev CA), with an optional client certificate. */
export function httpsRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; ca: Buffer; cert?: Buffer; key?: Buffer; minVersion?: "TLSv1.2" | "TLSv1.3"; maxVersion?: "TLSv1.2" | "TLSv1.3"; timeoutMs?: number },
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: opts.method ?? "GET", headers: opts.headers, ca: opts.ca, cert: opts.cert, key: opts.key, minVersion: opts.minVersion, maxVersion: opts.maxVersion, agent: false, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on("error", reject);
    req.end(opts.body);
  });
}
