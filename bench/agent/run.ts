// bench/agent: the shipping agent as a real process (pinned to one core with taskset when there is
// more than one) against a local HTTPS ingest endpoint (TLS 1.3, gzip NDJSON, checked by origin).
// Measures: lines/s shipped from a pre-written file (wall clock and per CPU-second of the agent),
// resident memory while ingest is down and everything goes to the encrypted disk buffer, and the
// drain rate when ingest returns. Prints one JSON object. Targets: >= 50,000 lines/s on one core,
// RSS < 100 MB while buffering, every line received exactly once.
// Run: npx tsx bench/agent/run.ts [--lines 1000000] [--buffer-lines 500000] [--line-bytes 200]

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { createDevCerts } from "../../platform/security/certs.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const LINES = Number(arg("lines", "1000000"));
const BUFFER_LINES = Number(arg("buffer-lines", "500000"));
const LINE_BYTES = Number(arg("line-bytes", "200"));
const TOKEN = "sgl_0123456789ab_bench-token-secret-value-1";
/** lean: bin/sigil-agent.js (what the systemd unit runs); tsx: `sigil agent` (development). */
const ENTRY = arg("entry", "lean");
/** Node flags the agent runs with; the default is what deploy/systemd/sigil-agent.service uses. */
const NODE_FLAGS = arg("node-flags", "--max-semi-space-size=2").split(" ").filter(Boolean);

/** A realistic-looking access-log line of about LINE_BYTES bytes. */
function line(i: number): string {
  const base = `2026-11-21T10:${String(Math.floor(i / 60_000) % 60).padStart(2, "0")}:${String(Math.floor(i / 1000) % 60).padStart(2, "0")}.${String(i % 1000).padStart(3, "0")}Z INFO web-${i % 17} GET /api/v1/items/${i} status=200 bytes=${(i * 7919) % 65536} user=u${i % 977} trace=${(i * 2654435761 >>> 0).toString(16)}`;
  return base.length >= LINE_BYTES ? base.slice(0, LINE_BYTES) : base + " " + "x".repeat(LINE_BYTES - base.length - 1);
}

function writeFile(file: string, from: number, to: number): void {
  const fd = fs.openSync(file, "a");
  const CH = 5000;
  for (let i = from; i < to; i += CH) {
    let s = "";
    for (let j = i; j < Math.min(to, i + CH); j++) s += line(j) + "\n";
    fs.writeSync(fd, s);
  }
  fs.closeSync(fd);
}

/** The receiving end: TLS, token, gzip NDJSON; counts lines and distinct origins. */
class Receiver {
  server: https.Server | null = null;
  port = 0;
  lines = 0;
  origins = new Set<string>();
  first = 0;
  last = 0;
  constructor(private readonly cert: Buffer, private readonly key: Buffer) {}
  async start(): Promise<void> {
    const s = https.createServer({ cert: this.cert, key: this.key, minVersion: "TLSv1.3" }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.headers.authorization !== `Bearer ${TOKEN}`) return res.writeHead(401).end();
        const raw = req.headers["content-encoding"] === "gzip" ? zlib.gunzipSync(Buffer.concat(chunks)) : Buffer.concat(chunks);
        const text = raw.toString("utf8");
        let p = 0;
        for (;;) {
          const i = text.indexOf('"origin":"', p);
          if (i < 0) break;
          const e = text.indexOf('"', i + 10);
          this.origins.add(text.slice(i + 10, e));
          this.lines++;
          p = e;
        }
        const now = performance.now();
        if (!this.first) this.first = now;
        this.last = now;
        res.writeHead(200, { "content-type": "application/json" }).end('{"accepted":true}');
      });
    });
    await new Promise<void>((r) => s.listen(this.port, "127.0.0.1", () => r()));
    this.port = (s.address() as AddressInfo).port;
    this.server = s;
  }
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function cpuSeconds(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (100/s)
  } catch {
    return 0;
  }
}

function statusOf(file: string): Record<string, any> | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startAgent(config: string): ChildProcess {
  const pin = os.cpus().length > 1 && spawnSync("taskset", ["--version"]).status === 0;
  const argv = [process.execPath, ...NODE_FLAGS, ...(ENTRY === "tsx" ? [path.join(ROOT, "bin", "sigil.js"), "agent"] : [path.join(ROOT, "bin", "sigil-agent.js")]), "--config", config];
  // The same environment as deploy/systemd/sigil-agent.service.
  return spawn(pin ? "taskset" : argv[0], pin ? ["-c", "0", ...argv] : argv.slice(1), { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? "2", SIGIL_LOG_LEVEL: "warn" } });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bench-agent-"));
  const certs = await createDevCerts(path.join(dir, "certs"));
  const rx = new Receiver(fs.readFileSync(certs.serverCert), fs.readFileSync(certs.serverKey));
  await rx.start();
  const logs = path.join(dir, "logs");
  fs.mkdirSync(logs);
  fs.writeFileSync(path.join(dir, "token"), TOKEN);
  fs.writeFileSync(path.join(dir, "key"), randomBytes(32).toString("hex"));
  const config = (name: string) => {
    const f = path.join(dir, `${name}.yml`);
    fs.writeFileSync(
      f,
      stringify({
        data_dir: path.join(dir, `data-${name}`),
        log_level: "warn",
        inputs: [{ type: "file", paths: [path.join(logs, `${name}.log`)], start_at: "beginning" }],
        output: { url: `https://127.0.0.1:${rx.port}/v1/ingest`, token: { file: path.join(dir, "token") }, tls: { ca_file: certs.caCert }, retry: { initial_ms: 100, max_ms: 1000 }, breaker: { open_ms: 500, max_open_ms: 1000 } },
        buffer: { key: { file: path.join(dir, "key") }, max_bytes: 4 * 1024 * 1024 * 1024 },
        metrics: { enabled: false },
      }),
    );
    return f;
  };

  // 1. Throughput: a pre-written file shipped to a live endpoint.
  writeFile(path.join(logs, "tp.log"), 0, LINES);
  const cfgTp = config("tp");
  const t0 = performance.now();
  const agent = startAgent(cfgTp);
  const apid = () => (agent.pid ?? 0);
  let rssMaxShip = 0;
  const sampler = setInterval(() => (rssMaxShip = Math.max(rssMaxShip, rssMb(pidOfAgent(apid())))), 100);
  await until(() => rx.lines >= LINES, 600_000, "all lines shipped");
  const wall = (performance.now() - t0) / 1000;
  const active = (rx.last - rx.first) / 1000;
  const cpu = cpuSeconds(pidOfAgent(apid()));
  clearInterval(sampler);
  const exact = rx.origins.size === LINES && rx.lines === LINES;
  agent.kill("SIGTERM");
  await new Promise((r) => agent.once("exit", r));

  // 2. Buffering: ingest down; everything goes to the encrypted disk queue; RSS sampled meanwhile.
  await rx.stop();
  rx.lines = 0;
  rx.origins.clear();
  rx.first = 0;
  const cfgBuf = config("buf");
  const statusFile = path.join(dir, "data-buf", "status.json");
  const b = startAgent(cfgBuf);
  let rssMaxBuf = 0;
  const sampler2 = setInterval(() => (rssMaxBuf = Math.max(rssMaxBuf, rssMb(pidOfAgent(b.pid ?? 0)))), 50);
  await until(() => statusOf(statusFile) !== null, 30_000, "agent status");
  const tb0 = performance.now();
  writeFile(path.join(logs, "buf.log"), 0, BUFFER_LINES);
  await until(() => (statusOf(statusFile)?.buffer?.lines ?? 0) >= BUFFER_LINES, 600_000, "all lines buffered");
  const bufSecs = (performance.now() - tb0) / 1000;
  const bufStatus = statusOf(statusFile)!;
  // 3. Drain: ingest returns.
  const td0 = performance.now();
  await rx.start();
  await until(() => rx.origins.size >= BUFFER_LINES, 600_000, "buffer drained");
  const drainSecs = (performance.now() - td0) / 1000;
  clearInterval(sampler2);
  const drainExact = rx.origins.size === BUFFER_LINES;
  b.kill("SIGTERM");
  await new Promise((r) => b.once("exit", r));
  await rx.stop();
  fs.rmSync(dir, { recursive: true, force: true });

  const linesPerSec = LINES / active;
  const result = {
    bench: "agent",
    entry: ENTRY === "tsx" ? "sigil agent (tsx)" : "bin/sigil-agent.js",
    node_flags: NODE_FLAGS.join(" "),
    malloc_arena_max: process.env.MALLOC_ARENA_MAX ?? "2",
    node: process.version,
    cpus: os.cpus().length,
    load_avg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    pinned_to_one_core: os.cpus().length > 1,
    line_bytes: LINE_BYTES,
    ship: {
      lines: LINES,
      wall_s: round(wall),
      active_s: round(active),
      lines_per_s: Math.round(linesPerSec),
      lines_per_cpu_s: Math.round(LINES / Math.max(cpu, 0.001)),
      mb_per_s: round((LINES * (LINE_BYTES + 1)) / 1e6 / active),
      agent_cpu_s: round(cpu),
      rss_max_mb: round(rssMaxShip),
      exactly_once: exact,
    },
    buffer: {
      lines: BUFFER_LINES,
      lines_per_s: Math.round(BUFFER_LINES / bufSecs),
      bytes_on_disk: bufStatus.buffer.bytes,
      rss_max_mb: round(rssMaxBuf),
    },
    drain: { lines_per_s: Math.round(BUFFER_LINES / drainSecs), exactly_once: drainExact },
    targets: { lines_per_s: 50_000, rss_mb: 100 },
    pass: { lines_per_s: linesPerSec >= 50_000, rss_while_buffering: rssMaxBuf < 100, exactly_once: exact && drainExact },
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

/** With taskset the spawned pid is taskset's, which execs node in place: same pid. */
function pidOfAgent(pid: number): number {
  return pid;
}

const round = (x: number) => Math.round(x * 100) / 100;

main().catch((err) => {
  process.stderr.write(`bench/agent failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
