// The pipeline under test as separate processes: `sigil ingest`, one or more `sigil correlate`, and
// `sigil console`, on the real Kafka and Elasticsearch, isolated by a topic and index prefix; with the
// agent token and console user they need, per-process CPU and memory from /proc, and teardown.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { parsePrometheus, type Sample } from "../../ui/server/health/prometheus.ts";
import { freePort } from "../../test/support/role-process.ts";
import { autogroupOf, procStat } from "../../platform/sched.ts";

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");

/**
 * The code the roles run: this working tree, or a git revision exported to a temporary folder (so a
 * measurement is of committed code, not of files someone is editing). Returns the folder and its cleanup.
 */
export function codeRoot(rev: string | undefined): { root: string; cleanup(): void } {
  if (!rev) return { root: ROOT, cleanup: () => {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bench-e2e-code-"));
  const archive = spawnSync("sh", ["-c", `git -C "${ROOT}" archive "$REV" | tar -x -C "${dir}"`], { env: { ...process.env, REV: rev }, encoding: "utf8" });
  if (archive.status !== 0) throw new Error(`cannot export git revision ${rev}: ${archive.stderr.trim()}`);
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  return { root: dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
export const PASSWORD = "e2e correct horse battery staple";

/**
 * CPU seconds (user + system) and memory of a process from /proc, its nice value and its autogroup's
 * (where the kernel groups sessions, the group's nice value ranks it against other sessions:
 * platform/sched.ts); null when it is gone.
 */
export function procStats(pid: number): { cpu_s: number; rss_mb: number; peak_rss_mb: number; nice: number; autogroup_nice: number | null } | null {
  const f = procStat(pid);
  if (!f) return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? "0");
    return { cpu_s: (Number(f[11]) + Number(f[12])) / 100, rss_mb: kb("VmRSS") / 1024, peak_rss_mb: kb("VmHWM") / 1024, nice: Number(f[16]), autogroup_nice: autogroupOf(pid)?.nice ?? null };
  } catch {
    return null;
  }
}

/** Windowed state a role reports (correlate): correlation groups and the events in their windows, baseline entities, chains. */
export interface RoleState {
  correlation_groups: number;
  correlation_window_entries: number;
  baseline_entities: number;
  chains: number;
}

export interface RoleProcess {
  name: string;
  role: "ingest" | "correlate" | "console" | "index";
  child: ChildProcess;
  telemetry: string;
  /** The role's listener (ingest HTTP receiver, console) when it has one. */
  url: string | null;
  stderr: string[];
  exited: Promise<number | null>;
  /** CPU seconds at the start of the measured window. */
  cpu0: number;
  peakRssMb: number;
  /** RSS, V8 heap in use, and the heap right after the last full collection (the live set). */
  /** `bounded_mb`: what the role's bounded buffers hold (the console's live replay buffer), part of the live heap. */
  rssSamples: { t: number; rss_mb: number; heap_mb: number | null; live_mb: number | null; bounded_mb: number | null; major_gcs: number | null; state: RoleState | null }[];
}

/** Role processes in sessions of their own that are still running (ClusterOptions.roleSessions). */
const ownSessionRoles = new Set<ChildProcess>();
let killOnExitInstalled = false;
function killOwnSessionRolesOnExit(): void {
  if (killOnExitInstalled) return;
  killOnExitInstalled = true;
  const killAll = () => {
    for (const c of ownSessionRoles) c.kill("SIGKILL");
  };
  process.once("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => {
      killAll();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
}

export interface ClusterOptions {
  kafka: string[];
  es: string;
  partitions: number;
  logLevel: string;
  /** Extra rule directory (the canary rule) next to the project's rule pack. */
  rules: string[];
  /** Where the code of the roles is (codeRoot). */
  root: string;
  /** Environment for every role (e.g. bus tuning under test). */
  env?: Record<string, string>;
  /** Where events are indexed: a `sigil index` process (correlate leaves it: index.in_correlate false), or inside correlate. */
  indexer: "process" | "correlate";
  /** Write a V8 CPU profile of every role process into this folder (`--cpu-prof`; written when the role exits). */
  cpuProfDir?: string;
  /**
   * The console sessions' idle timeout, when a run is longer than the default 30 minutes: the observer
   * only watches its WebSocket and makes no requests, so the console would sign it out as it signs out
   * an unattended browser (the socket closes with 4001, session ended).
   */
  sessionIdleMs?: number;
  /**
   * "own" (default): each role process leads a session of its own, as each role is its own service or
   * container in production (systemd units, compose services), so where the kernel shares the CPU
   * between sessions (autogroups, platform/sched.ts) every role ranks against Kafka and Elasticsearch as
   * they do under a service manager. "shared": every role in the bench's session, one group for all.
   */
  roleSessions?: "own" | "shared";
}

export class Cluster {
  readonly prefix: string;
  readonly dir: string;
  readonly config: string;
  readonly roles: RoleProcess[] = [];
  token = "";
  private readonly baseEnv: NodeJS.ProcessEnv;

  constructor(readonly o: ClusterOptions) {
    this.prefix = `bench-e2e-${Math.random().toString(16).slice(2, 10)}-`;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bench-e2e-"));
    this.config = path.join(this.dir, "sigil.yml");
    fs.writeFileSync(
      this.config,
      stringify({
        data_dir: path.join(this.dir, "data"),
        bus: { type: "kafka", topic_prefix: this.prefix, partitions: o.partitions, kafka: { brokers: o.kafka } },
        store: { type: "elasticsearch", elasticsearch: { node: o.es, index_prefix: this.prefix } },
        telemetry: { log_level: o.logLevel, metrics: { port: 0 } },
        ingest: { timezone: "UTC", http: { port: 0 }, otlp: { enabled: false }, syslog: { udp: { enabled: false }, tcp: { enabled: false } } },
        security: { tokens: { rate_limit_eps: 0 } },
        correlate: { rules: ["rules/sigma", "rules/correlation", "rules/anomaly", ...o.rules], watch_rules: false },
        // written only when it changes the default, so a revision from before the index section still runs (--rev, --indexer correlate)
        ...(o.indexer === "process" ? { index: { in_correlate: false } } : {}),
        console: { port: 0, web: { auto_build: false }, ...(o.sessionIdleMs ? { session_idle_ms: o.sessionIdleMs } : {}) },
      }),
    );
    this.baseEnv = { ...process.env, ...o.env, SIGIL_CONFIG: this.config };
    delete this.baseEnv["SIGIL_LOG_LEVEL"];
  }

  private sigil(args: string[], input?: string): string {
    const r = spawnSync(process.execPath, [path.join(this.o.root, "bin", "sigil.js"), ...args], { env: this.baseEnv, cwd: this.o.root, input, encoding: "utf8", timeout: 180_000 });
    if (r.status !== 0) throw new Error(`sigil ${args.join(" ")} failed (${r.status}): ${(r.stderr || r.stdout).trim().slice(-600)}`);
    return r.stdout;
  }

  /** The agent token for ingest and the console user, written to the store. */
  prepare(): void {
    this.token = (JSON.parse(this.sigil(["tokens", "create", "--name", "bench-e2e", "--json"])) as { token: string }).token;
    this.sigil(["users", "add", "bench", "--role", "admin"], `${PASSWORD}\n`);
  }

  /** Starts a role process and resolves when its telemetry answers /readyz with 200 (or rejects on exit/timeout). */
  async start(role: RoleProcess["role"], name: string, env: Record<string, string> = {}, opts: { waitReady?: boolean } = {}): Promise<RoleProcess> {
    const port = await freePort();
    const prof = this.o.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", this.o.cpuProfDir, "--cpu-prof-name", `${name}.${Date.now()}.cpuprofile`] : [];
    const ownSession = (this.o.roleSessions ?? "own") === "own";
    const child = spawn(process.execPath, [...prof, path.join(this.o.root, "bin", "sigil.js"), role], {
      cwd: this.o.root,
      env: { ...this.baseEnv, SIGIL_TELEMETRY__METRICS__PORT: String(port), ...env },
      stdio: ["ignore", "ignore", "pipe"],
      detached: ownSession,
    });
    const stderr: string[] = [];
    let size = 0;
    child.stderr!.on("data", (d: Buffer) => {
      // bounded: the last ~4 MB of log lines (debug runs write much more)
      stderr.push(d.toString());
      size += d.length;
      while (size > 4_000_000 && stderr.length > 1) size -= stderr.shift()!.length;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // a role in a session of its own does not get the terminal's Ctrl-C nor end with the bench: killed
    // when the bench exits or is interrupted first
    if (ownSession) {
      ownSessionRoles.add(child);
      void exited.then(() => ownSessionRoles.delete(child));
      killOwnSessionRolesOnExit();
    }
    const p: RoleProcess = { name, role, child, telemetry: `http://127.0.0.1:${port}`, url: null, stderr, exited, cpu0: 0, peakRssMb: 0, rssSamples: [] };
    this.roles.push(p);
    const urlRe = role === "ingest" ? /http listening on (\S+)/ : role === "console" ? /console: listening on (\S+)/ : null;
    const deadline = Date.now() + 240_000;
    let dead = false;
    void exited.then(() => (dead = true));
    for (;;) {
      if (dead) throw new Error(`${name} exited during start-up: ${stderr.join("").slice(-1500)}`);
      if (Date.now() > deadline) throw new Error(`${name} did not become ready: ${stderr.join("").slice(-1500)}`);
      if (urlRe && !p.url) p.url = urlRe.exec(stderr.join(""))?.[1] ?? null;
      if (!urlRe || p.url) {
        if (opts.waitReady === false) {
          if (await fetch(`${p.telemetry}/healthz`).then((r) => r.ok, () => false)) break;
        } else if (await fetch(`${p.telemetry}/readyz`).then((r) => r.status === 200, () => false)) break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return p;
  }

  async metrics(p: RoleProcess): Promise<Sample[]> {
    const res = await fetch(`${p.telemetry}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return parsePrometheus(await res.text());
  }

  /** Marks the start of the measured window: CPU counters from here. */
  markCpu(): void {
    for (const p of this.roles) p.cpu0 = procStats(p.child.pid!)?.cpu_s ?? 0;
  }

  /** One memory sample per live role (RSS from /proc, V8 heap from its /metrics). */
  async sampleMemory(t: number): Promise<void> {
    await Promise.all(
      this.roles.map(async (p) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        const s = procStats(p.child.pid!);
        if (!s) return;
        p.peakRssMb = Math.max(p.peakRssMb, s.peak_rss_mb);
        let heap: number | null = null;
        let live: number | null = null;
        let bounded: number | null = null;
        let majors: number | null = null;
        let state: RoleState | null = null;
        try {
          const m = await this.metrics(p);
          const mb = (name: string) => {
            const v = (m.find((x) => x.name === name)?.value ?? NaN) / 1024 / 1024;
            return Number.isFinite(v) ? Math.round(v) : null;
          };
          heap = mb("sigil_nodejs_heap_size_used_bytes");
          live = mb("sigil_nodejs_heap_live_bytes");
          const replay = m.find((x) => x.name === "sigil_console_replay_buffer_bytes")?.value;
          bounded = replay === undefined ? null : replay / 1024 / 1024;
          // the live heap is measured by each mark-compact: a sample is fresh only after one more of them
          majors = m.filter((x) => x.name === "sigil_nodejs_gc_duration_seconds_count" && x.labels["kind"] === "major").reduce((t, x) => t + x.value, 0);
          // the windowed state a role holds (correlate): what its live heap should grow with until the windows are full
          const liveOf = (stage: string) => m.find((x) => x.name === "sigil_stateful_live" && x.labels["stage"] === stage)?.value;
          const chains = m.find((x) => x.name === "sigil_chains_live")?.value;
          if (chains !== undefined || liveOf("correlation") !== undefined)
            state = {
              correlation_groups: liveOf("correlation") ?? 0,
              correlation_window_entries: m.find((x) => x.name === "sigil_stateful_window_entries" && x.labels["stage"] === "correlation")?.value ?? 0,
              baseline_entities: liveOf("baselines") ?? 0,
              chains: chains ?? 0,
            };
        } catch {
          heap = null;
        }
        p.rssSamples.push({ t, rss_mb: Math.round(s.rss_mb), heap_mb: heap, live_mb: live, bounded_mb: bounded, major_gcs: majors, state });
      }),
    );
  }

  /** CPU seconds since markCpu and peak RSS, per role. */
  usage(seconds: number): Record<string, { cpu_s: number; cpu_percent: number; peak_rss_mb: number; nice: number | null; autogroup_nice: number | null }> {
    const out: Record<string, { cpu_s: number; cpu_percent: number; peak_rss_mb: number; nice: number | null; autogroup_nice: number | null }> = {};
    for (const p of this.roles) {
      const s = procStats(p.child.pid!);
      const cpu = s ? s.cpu_s - p.cpu0 : NaN;
      out[p.name] = { cpu_s: Math.round(cpu * 10) / 10, cpu_percent: Math.round((cpu / seconds) * 1000) / 10, peak_rss_mb: Math.round(Math.max(p.peakRssMb, s?.peak_rss_mb ?? 0)), nice: s?.nice ?? null, autogroup_nice: s?.autogroup_nice ?? null };
    }
    return out;
  }

  /** Stops every role with SIGTERM (SIGKILL after 60 s); returns their exit codes. */
  async stop(): Promise<Record<string, number | null>> {
    const codes: Record<string, number | null> = {};
    await Promise.all(
      this.roles.map(async (p) => {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
        const t = setTimeout(() => p.child.kill("SIGKILL"), 60_000);
        codes[p.name] = await p.exited;
        clearTimeout(t);
      }),
    );
    // SIGIL_E2E_ROLE_LOGS=<dir>: each role's log (its last ~4 MB) kept for a look after the run
    const keep = process.env.SIGIL_E2E_ROLE_LOGS;
    if (keep) {
      fs.mkdirSync(keep, { recursive: true });
      for (const p of this.roles) fs.writeFileSync(path.join(keep, `${p.name}.log`), p.stderr.join(""));
    }
    return codes;
  }

  /** Deletes the run's topics, indices and templates, and its temporary folder. */
  async cleanup(): Promise<void> {
    const { default: kafkajs } = await import("kafkajs");
    const kafka = new kafkajs.Kafka({ clientId: "bench-e2e-cleanup", brokers: this.o.kafka, logLevel: kafkajs.logLevel.NOTHING });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(this.prefix));
      if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 });
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(this.prefix));
      if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
    } catch {
      // best effort
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    try {
      // wildcard deletes are refused by default (action.destructive_requires_name): delete by name
      const res = await fetch(`${this.o.es}/_cat/indices/${this.prefix}*?format=json&h=index&expand_wildcards=all`, { signal: AbortSignal.timeout(30_000) });
      const indices = res.ok ? ((await res.json()) as { index: string }[]).map((r) => r.index).filter((n) => n.startsWith(this.prefix)) : [];
      for (let i = 0; i < indices.length; i += 50) await fetch(`${this.o.es}/${indices.slice(i, i + 50).join(",")}`, { method: "DELETE", signal: AbortSignal.timeout(60_000) });
      const tpl = await fetch(`${this.o.es}/_index_template/${this.prefix}*`, { signal: AbortSignal.timeout(10_000) });
      const names = tpl.ok ? ((await tpl.json()) as { index_templates?: { name: string }[] }).index_templates ?? [] : [];
      for (const t of names) await fetch(`${this.o.es}/_index_template/${t.name}`, { method: "DELETE", signal: AbortSignal.timeout(10_000) });
    } catch {
      // best effort
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
