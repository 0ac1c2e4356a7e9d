// Role processes for the telemetry tests: `sigil <role>` with its own telemetry port, started until its
// listener answers; stderr kept as parsed JSON log lines; scrapes of /metrics parsed.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { parsePrometheus, type Sample } from "../../ui/server/health/prometheus.ts";

export const BIN = path.join(PROJECT_ROOT, "bin", "sigil.js");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export function sigil(args: string[], env: NodeJS.ProcessEnv, input?: string): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, cwd: PROJECT_ROOT, input, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`sigil ${args.join(" ")} failed (${r.status}): ${(r.stderr || r.stdout).slice(-800)}`);
  return r.stdout;
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class Role {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly telemetry: string,
  ) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: PROJECT_ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
    let partial = "";
    this.child.stderr!.on("data", (c: Buffer) => {
      const s = c.toString();
      if (this.stderr.length < 5_000_000) this.stderr += s;
      partial += s;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      for (const p of parts) {
        if (!p.startsWith("{")) continue;
        try {
          if (this.logs.length < 200_000) this.logs.push(JSON.parse(p) as LogLine);
        } catch {
          // not a log line
        }
      }
    });
    this.exited = new Promise((r) => this.child.once("exit", (code) => r(code)));
  }

  /** Resolves once `url()` finds its address in stderr and the telemetry listener answers /healthz. */
  async started(listening: RegExp | null, ms = 180_000): Promise<string | null> {
    const end = Date.now() + ms;
    let dead = false;
    void this.exited.then(() => (dead = true));
    for (;;) {
      if (dead) throw new Error(`${this.name} exited during start-up: ${this.stderr.slice(-2000)}`);
      if (Date.now() > end) throw new Error(`${this.name} did not start: ${this.stderr.slice(-2000)}`);
      const url = listening ? (listening.exec(this.stderr)?.[1] ?? null) : null;
      if ((!listening || url) && (await fetch(`${this.telemetry}/healthz`).then((r) => r.ok, () => false))) return url;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async metrics(): Promise<{ text: string; samples: Sample[] }> {
    const text = await (await fetch(`${this.telemetry}/metrics`)).text();
    return { text, samples: parsePrometheus(text) };
  }

  find(msg: string, pred: (l: LogLine) => boolean = () => true): LogLine[] {
    return this.logs.filter((l) => l.msg === msg && pred(l));
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill("SIGKILL"), 60_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
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
