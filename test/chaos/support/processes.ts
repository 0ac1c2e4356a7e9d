// Sigil roles as real child processes (`sigil ingest|correlate|console|agent`) for the chaos and
// security suites: started with a config file, their stderr kept in a log file per role (appended
// across restarts), readiness read from what each role prints, and stopped with SIGTERM or SIGKILL.

import fs from "node:fs";
import https from "node:https";
import { runSigil, startRole, type StartedRole } from "../../support/role-process.ts";
import { PROJECT_ROOT } from "../../support/shared-data.ts";

export { SIGIL_BIN, freePort } from "../../support/role-process.ts";

export type RoleName = "ingest" | "correlate" | "console" | "agent";

/** What tells that a role is ready, read from its stderr. */
const READY: Record<RoleName, RegExp> = {
  ingest: /sigil ingest: http listening on (\S+)/,
  correlate: /"msg":"correlate role running"/,
  console: /sigil console: listening on (\S+)/,
  agent: /"msg":"agent started"/,
};

export class RoleProcess {
  /** The current run (null before the first start, or after a start that failed). */
  private run: StartedRole | null = null;
  url = "";
  starts = 0;

  constructor(
    readonly role: RoleName,
    readonly args: string[],
    readonly logFile: string,
    readonly env: NodeJS.ProcessEnv = {},
  ) {}

  get child() {
    return this.run?.proc ?? null;
  }

  /** What this run of the role printed on stderr, the latest 200 KB (all of it is appended to `logFile`). */
  get output(): string {
    return this.run?.stderr() ?? "";
  }

  get running(): boolean {
    return !!this.run?.running;
  }

  get pid(): number | null {
    return this.run?.pid ?? null;
  }

  /** Starts the role and resolves when it is ready; rejects with its output when it exits first (or is not ready in time: then it is killed). */
  async start(timeoutMs = 120_000): Promise<void> {
    if (this.running) throw new Error(`${this.role} is already running (pid ${this.pid})`);
    this.starts++;
    this.run = null;
    this.url = "";
    fs.appendFileSync(this.logFile, `\n===== start #${this.starts} at ${new Date().toISOString()} =====\n`);
    try {
      this.run = await startRole({
        role: this.role,
        args: this.args,
        cwd: PROJECT_ROOT,
        env: { ...process.env, SIGIL_LOG_LEVEL: process.env.SIGIL_CHAOS_LOG_LEVEL ?? "info", ...this.env },
        ready: READY[this.role],
        timeoutMs,
        // keep the tail only: a role that runs for minutes logs a lot
        keepChars: 200_000,
        onStderr: (s) => fs.appendFileSync(this.logFile, s),
      });
    } catch (err) {
      if (err instanceof Error) err.message += `\n(its whole log: ${this.logFile})`;
      throw err;
    }
    this.url = this.run.match[1] ?? "";
  }

  /** kill -9: no chance to finish anything. */
  async kill9(): Promise<void> {
    if (this.running) await this.run!.stop("SIGKILL");
  }

  /** SIGTERM and wait (SIGKILL after `timeoutMs`); returns the exit code. */
  async stop(timeoutMs = 60_000): Promise<number | null> {
    return this.run ? this.run.stop("SIGTERM", timeoutMs) : null;
  }
}

/** Runs a `sigil` command to completion (tokens, users) with `env` over this process's; throws with its output when it fails. */
export function sigil(args: string[], env: NodeJS.ProcessEnv, input?: string): string {
  return runSigil(args, { ...process.env, ...env }, input);
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
