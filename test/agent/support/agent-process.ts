// Runs the real `sigil agent` as a child process with a generated agent.yml, token file and buffer
// key, and collects its JSON log lines so tests can assert on link state changes.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { PROJECT_ROOT } from "../../support/shared-data.ts";

export interface AgentSetup {
  dir: string;
  logs: string;
  config: string;
  tokenFile: string;
  keyFile: string;
  statusFile: string;
  queueDir: string;
  key: Buffer;
}

/** A temp folder with logs/, a token file, a key file and agent.yml built from `config` (merged over test defaults). */
export function agentSetup(url: string, token: string, config: (s: Omit<AgentSetup, "config">) => Record<string, unknown>): AgentSetup {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-agent-it-"));
  const logs = path.join(dir, "logs");
  fs.mkdirSync(logs);
  const tokenFile = path.join(dir, "agent.token");
  fs.writeFileSync(tokenFile, token + "\n", { mode: 0o600 });
  const key = randomBytes(32);
  const keyFile = path.join(dir, "agent.key");
  fs.writeFileSync(keyFile, key.toString("hex") + "\n", { mode: 0o600 });
  const base = { dir, logs, tokenFile, keyFile, statusFile: path.join(dir, "data", "status.json"), queueDir: path.join(dir, "data", "queue"), key };
  const user = config(base);
  const cfg = deepMerge(
    {
      data_dir: path.join(dir, "data"),
      log_level: "info",
      inputs: [{ type: "file", paths: [path.join(logs, "*.log")], start_at: "beginning" }],
      output: {
        url,
        token: { file: tokenFile },
        batch: { max_lines: 1000, flush_ms: 50 },
        retry: { initial_ms: 50, max_ms: 400 },
        breaker: { failure_threshold: 3, open_ms: 200, max_open_ms: 800 },
        timeout_ms: 5000,
      },
      buffer: { key: { file: keyFile } },
      files: { scan_interval_ms: 100, poll_interval_ms: 20, close_inactive_ms: 1000, checkpoint_interval_ms: 200 },
      status: { interval_ms: 200 },
      metrics: { port: 0 },
      shutdown_timeout_ms: 2000,
    },
    user,
  );
  const configFile = path.join(dir, "agent.yml");
  fs.writeFileSync(configFile, stringify(cfg));
  return { ...base, config: configFile };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && cur && typeof cur === "object" && !Array.isArray(cur) ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  stderr = "";
  stdout = "";
  readonly exited: Promise<number | null>;

  constructor(configFile: string, opts: { stdin?: "pipe" | "ignore"; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin", "sigil.js"), "agent", "--config", configFile], {
      cwd: PROJECT_ROOT,
      stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
      env: { ...process.env, SIGIL_LOG_LEVEL: "info", ...opts.env },
    });
    let partial = "";
    this.child.stderr!.on("data", (c: Buffer) => {
      const s = c.toString();
      this.stderr += s;
      partial += s;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      for (const p of parts) {
        try {
          this.logs.push(JSON.parse(p));
        } catch {
          // not a log line (e.g. a CLI error message)
        }
      }
    });
    this.child.stdout!.on("data", (c: Buffer) => (this.stdout += c.toString()));
    this.exited = new Promise((r) => this.child.once("exit", (code) => r(code)));
  }

  /** Log messages in order (for asserting state changes). */
  messages(): string[] {
    return this.logs.map((l) => l.msg);
  }

  kill9(): Promise<number | null> {
    this.child.kill("SIGKILL");
    return this.exited;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill("SIGTERM");
    return this.exited;
  }
}

export async function until(cond: () => boolean | Promise<boolean>, ms = 30_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function readStatusFile(file: string): Record<string, any> | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

/** Line `i` of a test stream: unique, sortable, with some padding. */
export function lineText(i: number, tag = "line"): string {
  return `${tag} ${String(i).padStart(8, "0")} lorem ipsum dolor sit amet consectetur adipiscing elit`;
}
