// Delivery: sends sealed batches straight to ingest while the link is healthy and the buffer is
// empty; otherwise (or when a send fails) writes them to the encrypted disk buffer, which a
// background loop drains in order, paced by backoff and the circuit breaker. A batch counts as safe
// (its records' checkpoints may advance) once ingest acknowledged it or it is on disk.

import { createHash } from "node:crypto";
import zlib from "node:zlib";
import { promisify } from "node:util";
import type { Logger } from "../../platform/telemetry/log.ts";
import type { AgentConfig } from "./config.ts";
import type { SealedBatch } from "./batch.ts";
import { backoffMs, CircuitBreaker, type BreakerState } from "./breaker.ts";
import type { IngestClient, SendOutcome } from "./client.ts";
import type { DeadLetter } from "./dead-letter.ts";
import type { DiskQueue, QueueItem } from "./queue.ts";
import type { AgentMetrics } from "./metrics.ts";

const gunzip = promisify(zlib.gunzip);
const gzip = promisify(zlib.gzip);

export interface LastError {
  code: string;
  message: string;
  at: string;
}

interface Tracked extends SealedBatch {
  /** Set once the batch is safe; a late answer for a batch already buffered changes nothing. */
  safe?: boolean;
}

/** One thing the drain loop can send: a batch held in memory (no buffer) or one read from the disk buffer. */
type DrainItem = { kind: "memory"; batch: Tracked } | { kind: "disk"; item: QueueItem };

/** unknown until the first answer from ingest. */
export type LinkState = "unknown" | "up" | "down";

export class Shipper {
  readonly breaker: CircuitBreaker;
  /** Sealed batches in memory that are not safe yet. */
  pending = 0;
  private inFlight = new Set<Tracked>();
  private waiting: Tracked[] = [];
  /** Batches kept in memory for the drain loop (buffer disabled, or the disk refused them). */
  private memory: Tracked[] = [];
  private spilling = 0;
  private stopping = false;
  private drainStopped = false;
  private drainLoop: Promise<void> | null = null;
  private wakeDrain: (() => void) | null = null;
  private wakeStop: (() => void) | null = null;
  private capWaiters: Array<() => void> = [];
  private link: LinkState = "unknown";
  private buffering = false;
  private draining = false;
  lastError: LastError | null = null;
  shippedLines = 0;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly client: IngestClient,
    private readonly queue: DiskQueue | null,
    private readonly deadLetter: DeadLetter,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
    /** Largest number of unsafe batches held in memory before readers pause. */
    private readonly maxPending = cfg.output.max_in_flight + 2,
  ) {
    const b = cfg.output.breaker;
    this.breaker = new CircuitBreaker({
      failureThreshold: b.failure_threshold,
      openMs: b.open_ms,
      maxOpenMs: b.max_open_ms,
      onChange: (from, to, info) => this.onBreaker(from, to, info),
    });
    metrics.linkUp.set(0);
    metrics.breakerState.set(0);
  }

  get linkState(): LinkState {
    return this.link;
  }

  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  start(): void {
    this.drainLoop = this.drain();
  }

  /** True when readers may hand over more records. */
  hasCapacity(): boolean {
    return this.pending < this.maxPending;
  }

  /** Resolves when there is room for another batch. */
  async waitCapacity(): Promise<void> {
    while (!this.stopping && !this.hasCapacity()) await new Promise<void>((r) => this.capWaiters.push(r));
  }

  private freed(): void {
    for (const w of this.capWaiters.splice(0)) w();
  }

  private queueEmpty(): boolean {
    return this.spilling === 0 && this.memory.length === 0 && (this.queue ? this.queue.empty : true);
  }

  /** Takes a sealed batch: send now, wait for a send slot, or buffer. */
  submit(b: SealedBatch): void {
    this.pending++;
    const t = b as Tracked;
    if (!this.stopping && this.breaker.state === "closed" && this.queueEmpty()) {
      if (this.inFlight.size < this.cfg.output.max_in_flight) void this.direct(t);
      else this.waiting.push(t);
    } else void this.spill(t);
  }

  private safe(b: Tracked): void {
    if (b.safe) return;
    b.safe = true;
    this.pending--;
    for (const s of b.sources) s.settle(b.seq);
    this.freed();
  }

  private async direct(b: Tracked): Promise<void> {
    this.inFlight.add(b);
    const end = this.metrics.sendSeconds.startTimer();
    let r: SendOutcome;
    try {
      r = await this.sendSplitting(b.body, b.id, b.lines, b.encoding);
    } finally {
      end();
      this.inFlight.delete(b);
    }
    if (b.safe) {
      // Shutdown already buffered it; this answer only tells whether it is there twice.
    } else if (r.ok) {
      this.delivered(b.lines, b.body.length);
      this.safe(b);
    } else if (r.kind === "rejected" || r.kind === "too_large") {
      await this.deadLetter.keep(b.id, b.body, b.encoding, b.lines, { code: r.code, message: r.message, status: r.status }).catch((err) => this.log.error({ err: String(err) }, "cannot write the dead-letter folder"));
      this.metrics.deadLettered.inc(b.lines);
      this.metrics.batchesSent.inc({ outcome: "rejected" });
      this.safe(b);
    } else {
      this.failed(r);
      void this.spill(b);
    }
    this.dispatch();
  }

  /** Starts waiting batches while there are free send slots (or buffers them if the link went bad). */
  private dispatch(): void {
    while (this.waiting.length > 0) {
      if (this.stopping || this.breaker.state !== "closed" || !this.queueEmpty()) {
        for (const w of this.waiting.splice(0)) void this.spill(w);
        return;
      }
      if (this.inFlight.size >= this.cfg.output.max_in_flight) return;
      void this.direct(this.waiting.shift()!);
    }
  }

  private async spill(b: Tracked): Promise<void> {
    if (b.safe) return;
    if (!this.buffering) {
      this.buffering = true;
      this.log.warn({ buffer: this.queue ? "disk" : "memory" }, this.queue ? "buffering batches to disk until ingest takes them again" : "holding batches in memory until ingest takes them again (buffer disabled); reading pauses when full");
    }
    if (!this.queue) {
      this.memory.push(b);
      this.wakeDrain?.();
      return;
    }
    this.spilling++;
    try {
      await this.queue.append(b.id, b.body, b.lines, b.createdMs);
      this.metrics.buffered.inc(b.lines);
      this.safe(b);
    } catch (err) {
      // The disk refused it (full device, closed at shutdown): keep it in memory; it is not safe yet.
      if (!this.stopping) this.log.error({ err: String(err), id: b.id }, "cannot write the batch to the disk buffer; keeping it in memory");
      this.memory.push(b);
    } finally {
      this.spilling--;
      this.wakeDrain?.();
    }
  }

  private delivered(lines: number, bytes: number): void {
    this.shippedLines += lines;
    this.metrics.linesShipped.inc(lines);
    this.metrics.bytesSent.inc(bytes);
    this.metrics.batchesSent.inc({ outcome: "ok" });
    this.breaker.success();
    if (this.link !== "up") {
      this.link = "up";
      this.metrics.linkUp.set(1);
      this.log.info({ endpoint: this.client.endpoint }, "link to ingest is up");
    }
  }

  private failed(r: Extract<SendOutcome, { ok: false }>): void {
    this.metrics.batchesSent.inc({ outcome: r.kind });
    this.lastError = { code: r.code, message: r.message, at: new Date().toISOString() };
    const wasUp = this.link !== "down";
    this.link = "down";
    this.metrics.linkUp.set(0);
    if (wasUp) this.log.error({ endpoint: this.client.endpoint, code: r.code, status: r.status, err: r.message }, "link to ingest is down");
    else this.log.debug({ code: r.code, status: r.status, err: r.message }, "send failed again");
    if (r.kind === "auth") this.client.reloadToken();
    this.breaker.failure();
  }

  private onBreaker(from: BreakerState, to: BreakerState, info: { failures: number; openForMs?: number }): void {
    this.metrics.breakerState.set(to === "closed" ? 0 : to === "half_open" ? 1 : 2);
    if (to === "open") this.log.warn({ from, failures: info.failures, open_ms: info.openForMs }, "circuit breaker open; pausing sends to ingest");
    else if (to === "half_open") this.log.info({ from }, "circuit breaker half-open; sending one probe batch");
    else this.log.info({ from }, "circuit breaker closed");
  }

  /**
   * Sends a batch; when ingest answers 413 the batch is split in halves (recursively) and the halves
   * are sent in order. A single record ingest still refuses comes back as too_large.
   */
  private async sendSplitting(body: Buffer, id: string, lines: number, encoding: "gzip" | "identity", depth = 0): Promise<SendOutcome> {
    const r = await this.client.send(body, id, lines, encoding);
    if (r.ok || r.kind !== "too_large" || lines <= 1 || depth > 20) return r;
    const raw = encoding === "gzip" ? await gunzip(body) : body;
    const text = raw.toString("utf8");
    const all = text.split("\n").filter((l) => l.length > 0);
    const mid = Math.ceil(all.length / 2);
    this.log.warn({ id, lines: all.length }, "ingest refused the batch as too large; sending it in halves");
    for (const [i, part] of [all.slice(0, mid), all.slice(mid)].entries()) {
      const partRaw = Buffer.from(part.join("\n") + "\n");
      const partBody = encoding === "gzip" ? await gzip(partRaw, { level: this.cfg.output.compression_level }) : partRaw;
      const partId = createHash("sha256").update(`${id}/${i}`).digest("hex").slice(0, 32);
      const pr = await this.sendSplitting(partBody, partId, part.length, encoding, depth + 1);
      if (!pr.ok && pr.kind === "too_large" && part.length === 1) {
        // One record ingest will never take: keep it aside (counted) and deliver the others.
        await this.deadLetter.keep(partId, partBody, encoding, 1, { code: pr.code, message: pr.message, status: pr.status }).catch((err) => this.log.error({ err: String(err) }, "cannot write the dead-letter folder"));
        this.metrics.deadLettered.inc(1);
        continue;
      }
      if (!pr.ok) return pr;
    }
    return { ok: true, status: 200, duplicate: false };
  }

  /** The background loop that empties the buffer in order, paced by backoff and the breaker. */
  private async drain(): Promise<void> {
    let attempt = 0;
    while (!this.drainStopped) {
      let next: DrainItem | null = null;
      try {
        if (this.memory.length > 0) next = { kind: "memory", batch: this.memory[0] };
        else if (this.queue) {
          const item = await this.queue.peek();
          if (item) next = { kind: "disk", item };
        }
      } catch (err) {
        this.log.error({ err: String(err) }, "cannot read the disk buffer; retrying");
        await this.sleep(1000, false);
        continue;
      }
      if (!next) {
        if (this.draining) {
          this.draining = false;
          this.log.info({}, "buffer drained; sending directly again");
        }
        if (this.buffering && this.queueEmpty()) this.buffering = false;
        this.updateGauges();
        this.dispatch();
        await this.sleep(this.queue ? 250 : 1000, true);
        continue;
      }
      const wait = this.breaker.waitMs();
      if (wait > 0 || !this.breaker.tryAcquire()) {
        await this.sleep(Math.max(wait, 20), false);
        continue;
      }
      const body = next.kind === "memory" ? next.batch.body : next.item.body;
      const id = next.kind === "memory" ? next.batch.id : next.item.id;
      const lines = next.kind === "memory" ? next.batch.lines : next.item.lines;
      const encoding = next.kind === "memory" ? next.batch.encoding : isGzip(body) ? "gzip" : "identity";
      const end = this.metrics.sendSeconds.startTimer();
      const r = await this.sendSplitting(body, id, lines, encoding);
      end();
      if (r.ok || r.kind === "rejected" || r.kind === "too_large") {
        if (r.ok) this.delivered(lines, body.length);
        else {
          this.breaker.success();
          await this.deadLetter.keep(id, body, encoding, lines, { code: r.code, message: r.message, status: r.status }).catch((err) => this.log.error({ err: String(err) }, "cannot write the dead-letter folder"));
          this.metrics.deadLettered.inc(lines);
          this.metrics.batchesSent.inc({ outcome: "rejected" });
        }
        if (!this.draining) {
          this.draining = true;
          const st = this.queue?.stats();
          this.log.info({ batches: st ? st.batches : this.memory.length, lines: st?.lines }, "draining the buffer to ingest");
        }
        attempt = 0;
        if (next.kind === "memory") {
          this.memory.shift();
          this.safe(next.batch);
        } else await this.queue!.ack(next.item);
        this.updateGauges();
        continue;
      }
      this.failed(r);
      const pause = Math.max(backoffMs(attempt++, this.cfg.output.retry.initial_ms, this.cfg.output.retry.max_ms), r.retryAfterMs ?? 0);
      await this.sleep(pause, false);
    }
  }

  /** Sleeps; stop() always wakes it, new data only when `onData`. */
  private sleep(ms: number, onData: boolean): Promise<void> {
    if (this.drainStopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        if (this.wakeDrain === done) this.wakeDrain = null;
        if (this.wakeStop === done) this.wakeStop = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeStop = done;
      if (onData) this.wakeDrain = done;
    });
  }

  updateGauges(): void {
    const st = this.queue?.stats();
    this.metrics.bufferBytes.set(st?.bytes ?? 0);
    this.metrics.bufferBatches.set((st?.batches ?? 0) + this.memory.length);
    this.metrics.bufferLines.set(st?.lines ?? this.memory.reduce((n, b) => n + b.lines, 0));
  }

  /** What the status file shows about delivery. */
  status() {
    const st = this.queue?.stats();
    return {
      link: this.link,
      breaker: this.breaker.state,
      endpoint: this.client.endpoint,
      in_flight_batches: this.inFlight.size,
      pending_batches: this.pending,
      shipped_lines: this.shippedLines,
      buffer: {
        enabled: this.queue !== null,
        bytes: st?.bytes ?? 0,
        batches: (st?.batches ?? 0) + this.memory.length,
        lines: (st?.lines ?? 0) + this.memory.reduce((n, b) => n + b.lines, 0),
        dropped_batches: st?.droppedBatches ?? 0,
        dropped_lines: st?.droppedLines ?? 0,
        corrupt_frames: st?.corruptFrames ?? 0,
        full: st?.blocked ?? false,
      },
      dead_letter: { batches: this.deadLetter.count, lines: this.deadLetter.lines },
      last_error: this.lastError,
    };
  }

  /**
   * Graceful stop: no new direct sends; in-flight sends get `timeoutMs`, after which their batches
   * are written to the buffer (they may then arrive twice; ingest deduplicates by event id).
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.dispatch();
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const b of [...this.inFlight]) await this.spill(b);
    while (this.spilling > 0 && Date.now() < deadline + timeoutMs) await new Promise((r) => setTimeout(r, 10));
    this.drainStopped = true;
    this.wakeStop?.();
    await Promise.race([this.drainLoop, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.freed();
  }
}

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}
