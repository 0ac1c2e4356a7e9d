// Role processes for the telemetry tests: `sigil <role>` with its own telemetry port, started until its
// listener answers; stderr kept as parsed JSON log lines; scrapes of /metrics parsed.

import type { ChildProcess } from "node:child_process";
import { spawnRole, type RoleHandle } from "../support/role-process.ts";
import { parsePrometheus, type Sample } from "../../ui/server/health/prometheus.ts";

export { freePort, runSigil as sigil } from "../support/role-process.ts";

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class Role {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly exited: Promise<number | null>;
  private readonly proc: RoleHandle;

  /** Starts `sigil <args>` (args[0] is the role) with `env`; `telemetry` is its metrics listener's URL. */
  constructor(
    readonly name: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly telemetry: string,
  ) {
    this.proc = spawnRole({
      role: args[0],
      args: args.slice(1),
      env,
      keepChars: 5_000_000,
      onLine: (line) => {
        if (!line.startsWith("{") || this.logs.length >= 200_000) return;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line
        }
      },
    });
    this.child = this.proc.proc;
    this.exited = this.proc.exited;
  }

  /** What it printed on stderr (the latest 5 MB). */
  get stderr(): string {
    return this.proc.stderr();
  }

  /** Resolves once a stderr line matches `listening` (its first group is returned) and the telemetry listener answers /healthz. */
  async started(listening: RegExp | null, ms = 180_000): Promise<string | null> {
    const end = Date.now() + ms;
    const url = listening ? ((await this.proc.waitFor(listening, ms))[1] ?? null) : null;
    await this.proc.waitUntil(`${this.telemetry}/healthz to answer`, () => fetch(`${this.telemetry}/healthz`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.ok, () => false), Math.max(0, end - Date.now()));
    return url;
  }

  async metrics(): Promise<{ text: string; samples: Sample[] }> {
    const text = await (await fetch(`${this.telemetry}/metrics`)).text();
    return { text, samples: parsePrometheus(text) };
  }

  find(msg: string, pred: (l: LogLine) => boolean = () => true): LogLine[] {
    return this.logs.filter((l) => l.msg === msg && pred(l));
  }

  /** `signal` (SIGKILL after 60 s) and the exit code. */
  stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    return this.proc.stop(signal);
  }
}

export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
