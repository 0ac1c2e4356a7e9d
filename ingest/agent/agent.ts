// The agent role: inputs → batcher → shipper (direct or via the encrypted disk buffer) → ingest,
// wired as named start-up steps with matching teardown, plus the status file and metrics listener.

import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import fs from "node:fs/promises";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { readSecret } from "../../platform/config/secret.ts";
import { SigilError, describeError } from "../../platform/errors.ts";
import { jsonProtocolErrors } from "../../platform/security/client-error.ts";
import { Lifecycle } from "../../platform/lifecycle.ts";
import { logger, setLogLevel, type Logger } from "../../platform/telemetry/log.ts";
import { collectProcessMetrics, registry } from "../../platform/telemetry/metrics.ts";
import { Batcher, type RecordStatic } from "./batch.ts";
import { CheckpointStore } from "./checkpoints.ts";
import { IngestClient } from "./client.ts";
import { agentPaths, defaultHostName, isLoopbackHost, type AgentConfig, type InputConfig } from "./config.ts";
import { DeadLetter } from "./dead-letter.ts";
import { writeFileAtomic } from "./durable.ts";
import { FileTailer } from "./files.ts";
import { agentMetrics, type AgentMetrics } from "./metrics.ts";
import { DiskQueue, parseKey } from "./queue.ts";
import { Shipper } from "./shipper.ts";
import { StdinInput } from "./stdin.ts";
import { writeStatus, type AgentStatus } from "./status.ts";

/** Sigil's version from the nearest package.json named "sigil" (works from the source and from bin/sigil-agent.js's bundle). */
export function agentVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const p = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (p.name === "sigil" && p.version) return p.version;
    } catch {
      // keep looking upwards
    }
    dir = path.dirname(dir);
  }
  return "0.0.0";
}

/** Constant-time comparison of a presented credential with the expected one. */
function sameSecret(given: string, expected: string): boolean {
  const h = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  stdin?: Readable;
  /** Aborting stops the agent gracefully. */
  signal?: AbortSignal;
  cwd?: string;
  log?: Logger;
}

/** A running agent; `stopped` resolves after a graceful stop or when a stdin-only agent finished its input. */
export class Agent {
  private readonly life: Lifecycle;
  private readonly log: Logger;
  private readonly metrics: AgentMetrics;
  private readonly paths: ReturnType<typeof agentPaths>;
  private agentId = "";
  private checkpoints!: CheckpointStore;
  private queue: DiskQueue | null = null;
  private client!: IngestClient;
  private shipper!: Shipper;
  private batcher!: Batcher;
  private tailer!: FileTailer;
  private stdin: StdinInput | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private server: http.Server | null = null;
  private metricsAddress: string | null = null;
  private readonly startedAt = new Date().toISOString();
  private stopping: Promise<void> | null = null;
  private resolveStopped!: () => void;
  readonly stopped: Promise<void>;
  private readonly version = agentVersion();

  constructor(
    readonly config: AgentConfig,
    private readonly opts: RunOptions = {},
  ) {
    this.paths = agentPaths(config, opts.cwd);
    setLogLevel(config.log_level);
    this.log = opts.log ?? logger("agent");
    this.metrics = agentMetrics();
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    this.life = new Lifecycle("agent", this.log);
    this.steps();
  }

  private env(): NodeJS.ProcessEnv {
    return this.opts.env ?? process.env;
  }

  private steps(): void {
    const c = this.config;
    const p = this.paths;
    this.life
      .add({
        name: "data folder and lock",
        start: async () => {
          await fs.mkdir(p.dataDir, { recursive: true, mode: 0o700 });
          await this.lock();
        },
        stop: () => fs.rm(p.lockFile, { force: true }),
      })
      .add({
        name: "agent id",
        start: async () => {
          this.agentId = c.id ?? (await this.loadOrCreateId());
        },
      })
      .add({
        name: "checkpoints",
        start: async () => {
          this.checkpoints = new CheckpointStore(p.checkpointFile, this.agentId, this.log);
          await this.checkpoints.load();
          this.checkpoints.start(c.files.checkpoint_interval_ms);
        },
        stop: () => this.checkpoints.close(),
      })
      .add({
        name: "disk buffer",
        start: async () => {
          if (!c.buffer.enabled) return;
          const text = readSecret(c.buffer.key, "buffer.key", this.env());
          const key = parseKey(text ?? "");
          this.queue = await DiskQueue.open({
            dir: p.queueDir,
            key,
            maxBytes: c.buffer.max_bytes,
            whenFull: c.buffer.when_full,
            log: this.log,
            onDrop: (_b, lines) => this.metrics.bufferDropped.inc(lines),
          });
          this.deadLetterKey = key;
        },
        stop: () => this.queue?.close(),
      })
      .add({
        name: "ingest client",
        start: () => {
          this.client = new IngestClient(c.output, this.env(), this.log, this.version);
          if (c.output.url.startsWith("http:")) this.log.warn({ url: c.output.url }, "sending to ingest without TLS (loopback only)");
          if (!c.output.tls.verify) this.log.warn({}, "server certificate verification is off (loopback only)");
        },
        stop: () => this.client.close(),
      })
      .add({
        name: "shipper",
        start: () => {
          const dl = new DeadLetter(p.deadLetterDir, this.deadLetterKey, this.log);
          this.shipper = new Shipper(c, this.client, this.queue, dl, this.log, this.metrics);
          this.batcher = new Batcher(
            { maxLines: c.output.batch.max_lines, maxBytes: c.output.batch.max_bytes, flushMs: c.output.batch.flush_ms, compression: c.output.compression, compressionLevel: c.output.compression_level },
            (b) => this.shipper.submit(b),
            (err) => this.log.error({ err: String(err) }, "cannot compress a batch"),
          );
          this.shipper.start();
        },
        stop: async () => {
          await this.batcher.drained();
          this.batcher.close();
          await this.shipper.stop(c.shutdown_timeout_ms);
        },
      })
      .add({
        name: "metrics listener",
        start: () => this.startMetrics(),
        stop: () => new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r())),
      })
      .add({
        name: "inputs",
        start: async () => {
          const capacity = () => this.shipper.waitCapacity();
          this.tailer = new FileTailer({
            config: c,
            checkpoints: this.checkpoints,
            batcher: this.batcher,
            statics: (ic) => this.statics(ic),
            capacity,
            log: this.log,
            metrics: this.metrics,
            firstRun: this.checkpoints.all().length === 0,
            cwd: this.opts.cwd,
          });
          await this.tailer.start();
          const si = c.inputs.findIndex((i) => i.type === "stdin");
          if (si >= 0) {
            const ic = c.inputs[si];
            if (ic.type === "stdin") {
              this.stdin = new StdinInput(this.opts.stdin ?? process.stdin, ic, si, this.statics(ic), this.batcher, capacity, this.metrics);
              this.stdin.start();
            }
          }
        },
        stop: async () => {
          this.stdin?.stop();
          await this.tailer?.stop();
        },
      })
      .add({
        name: "status file",
        start: async () => {
          await this.writeStatusNow("running");
          this.statusTimer = setInterval(() => void this.writeStatusNow("running").catch((err) => this.log.warn({ err: String(err) }, "cannot write the status file")), c.status.interval_ms);
        },
        stop: async () => {
          if (this.statusTimer) clearInterval(this.statusTimer);
        },
      });
  }

  private deadLetterKey: Buffer | null = null;

  private statics(ic: InputConfig): RecordStatic {
    return { hostName: defaultHostName(this.config), agentId: this.agentId, agentVersion: this.version, service: ic.service, tags: ic.tags, format: ic.format };
  }

  private async lock(): Promise<void> {
    const f = this.paths.lockFile;
    try {
      const pid = Number((await fs.readFile(f, "utf8")).trim());
      if (pid && pid !== process.pid) {
        let alive = true;
        try {
          process.kill(pid, 0);
        } catch (err) {
          alive = (err as NodeJS.ErrnoException).code === "EPERM";
        }
        // After a kill -9 the pid may have been reused by an unrelated process: check what it runs.
        if (alive) {
          try {
            alive = readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("agent");
          } catch {
            // no /proc (not Linux) or the process just ended: keep the conservative answer
          }
        }
        if (alive)
          throw new SigilError("agent_already_running", `another agent (pid ${pid}) uses ${this.paths.dataDir}`, {
            location: { file: f },
            hint: "stop it first, or give this agent its own data_dir",
          });
      }
    } catch (err) {
      if (err instanceof SigilError) throw err;
    }
    await writeFileAtomic(f, String(process.pid), { sync: false });
  }

  private async loadOrCreateId(): Promise<string> {
    try {
      const id = (await fs.readFile(this.paths.idFile, "utf8")).trim();
      if (/^[A-Za-z0-9._-]{1,128}$/.test(id)) return id;
    } catch {
      // first start
    }
    const id = randomUUID();
    await writeFileAtomic(this.paths.idFile, id + "\n");
    return id;
  }

  private async startMetrics(): Promise<void> {
    const m = this.config.metrics;
    if (!m.enabled) return;
    collectProcessMetrics();
    const token = readSecret(m.token, "metrics.token", this.env());
    const handler: http.RequestListener = (req, res) => {
      if (token !== null && !sameSecret(req.headers.authorization ?? "", `Bearer ${token}`)) {
        res.writeHead(401, { "content-type": "application/json", "www-authenticate": "Bearer" }).end('{"error":{"code":"unauthorized","message":"a bearer token is required"}}');
        return;
      }
      const url = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET") {
        res.writeHead(405, { allow: "GET", "content-type": "application/json" }).end('{"error":{"code":"method_not_allowed","message":"use GET"}}');
        return;
      }
      if (url === "/metrics") {
        this.updateGauges();
        registry
          .metrics()
          .then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text))
          .catch((err) => res.writeHead(500).end(String(err)));
      } else if (url === "/status") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(this.status("running")));
      } else if (url === "/healthz") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, link: this.shipper.linkState }));
      } else if (url === "/readyz") {
        // ready while ingest takes batches (or nothing failed yet) and the disk buffer has room
        const s = this.shipper.status();
        const ready = s.link !== "down" && !s.buffer.full;
        res.writeHead(ready ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ ready, link: s.link, buffered_lines: s.buffer.lines, buffer_full: s.buffer.full }));
      } else res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"code":"not_found","message":"GET /metrics, /status, /healthz or /readyz"}}');
    };
    let server: http.Server;
    if (m.tls.enabled) {
      server = https.createServer({ cert: readFileSync(m.tls.cert_file!), key: readFileSync(m.tls.key_file!), minVersion: m.tls.min_version }, handler);
    } else server = http.createServer(handler);
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    server.maxHeadersCount = 50;
    jsonProtocolErrors(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(new SigilError("agent_metrics_listen_failed", `cannot listen on ${m.host}:${m.port}: ${err.code ?? err.message}`, { location: { address: `${m.host}:${m.port}` }, hint: "set metrics.port to a free port (0 picks one) or metrics.enabled: false" })),
      );
      server.listen(m.port, m.host, () => resolve());
    });
    server.unref();
    const a = server.address();
    if (a && typeof a === "object") this.metricsAddress = `${m.tls.enabled ? "https" : "http"}://${isLoopbackHost(a.address) || a.family === "IPv4" ? a.address : `[${a.address}]`}:${a.port}`;
    this.server = server;
    this.log.info({ address: this.metricsAddress }, "metrics listening");
  }

  private updateGauges(): void {
    this.metrics.filesOpen.set(this.tailer?.openCount ?? 0);
    this.metrics.lagBytes.set(this.tailer?.lagBytes() ?? 0);
    this.shipper?.updateGauges();
  }

  status(state: "running" | "stopped"): AgentStatus {
    const s = this.shipper.status();
    return {
      version: 1,
      pid: process.pid,
      agent_id: this.agentId,
      host_name: defaultHostName(this.config),
      agent_version: this.version,
      started_at: this.startedAt,
      updated_at: new Date().toISOString(),
      state,
      ...s,
      files: this.tailer?.status() ?? [],
      stdin: this.stdin ? { offset: this.stdin.offset, committed: this.stdin.acks.committed, ended: this.stdin.finished } : null,
      metrics_address: this.metricsAddress,
    };
  }

  private async writeStatusNow(state: "running" | "stopped"): Promise<void> {
    this.updateGauges();
    await writeStatus(this.paths.statusFile, this.status(state));
  }

  /** Runs the start-up steps; the agent then works in the background until stop(). */
  async start(): Promise<void> {
    await this.life.start();
    this.log.info({ agent_id: this.agentId, endpoint: this.client.endpoint, inputs: this.config.inputs.length, buffer: this.queue ? this.paths.queueDir : "disabled" }, "agent started");
    const sig = this.opts.signal;
    if (sig) {
      if (sig.aborted) void this.stop();
      else sig.addEventListener("abort", () => void this.stop(), { once: true });
    }
    if (this.stdin && !this.tailer.hasInputs) void this.finishWhenStdinEnds();
  }

  /** A stdin-only agent ends with its input: once every line is safe and the buffer is empty (or ingest is down). */
  private async finishWhenStdinEnds(): Promise<void> {
    await this.stdin!.done;
    await this.batcher.drained();
    while (!this.stopping) {
      const s = this.shipper.status();
      if (this.shipper.pending === 0 && (s.buffer.batches === 0 || s.link === "down")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (this.shipper.status().buffer.batches > 0) this.log.warn({ batches: this.shipper.status().buffer.batches }, "input ended while ingest is down; the buffered batches are sent on the next start");
    await this.stop();
  }

  /** Graceful stop: stop reading, seal and send or buffer what was read, write checkpoints. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.log.info({}, "agent stopping");
        try {
          await this.life.stop();
          await writeStatus(this.paths.statusFile, this.status("stopped")).catch(() => {});
        } catch (err) {
          this.log.error({ err: describeError(err) }, "agent did not stop cleanly");
        }
        this.log.info({}, "agent stopped");
        this.resolveStopped();
      })();
    }
    return this.stopping;
  }
}
