// The stdin input: lines from the agent's standard input (e.g. `app | sigil agent`), batched like
// file lines. Standard input cannot be re-read, so lines not yet safe when the process is killed
// are lost; a graceful stop (SIGTERM, end of input) puts every line read into a batch first.

import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import type { StdinInputConfig } from "./config.ts";
import { AckTracker, RecordEncoder, type Batcher, type RecordStatic } from "./batch.ts";
import { LineSplitter } from "./lines.ts";
import type { AgentMetrics } from "./metrics.ts";

export class StdinInput {
  readonly acks: AckTracker;
  private readonly splitter: LineSplitter;
  private readonly encoder: RecordEncoder;
  private pos = 0;
  private ended = false;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Resolves when the input ended and its last line was handed to the batcher. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly stream: Readable,
    cfg: StdinInputConfig,
    index: number,
    st: RecordStatic,
    batcher: Batcher,
    private readonly capacity: () => Promise<void>,
    private readonly metrics: AgentMetrics,
  ) {
    // Each run of the agent reads a new stdin stream: its id makes origins unique across runs.
    const runId = randomBytes(12).toString("hex");
    this.encoder = new RecordEncoder(st, "stdin", `stdin-${runId}`, null);
    this.acks = new AckTracker(0);
    const enc = this.encoder;
    const acks = this.acks;
    this.splitter = new LineSplitter((text, start, end, truncated) => batcher.add(enc.encode(text, start, truncated), acks, end), {
      maxLineBytes: cfg.max_line_bytes,
      multiline: cfg.multiline,
      startOffset: 0,
    });
    this.input = String(index);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  private readonly input: string;

  get offset(): number {
    return this.pos;
  }

  get finished(): boolean {
    return this.ended;
  }

  start(): void {
    const s = this.stream;
    s.on("data", (chunk: Buffer | string) => {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      const now = Date.now();
      this.encoder.setCreated(new Date(now).toISOString());
      const emitted = this.splitter.emitted;
      this.splitter.push(buf, buf.length, now);
      this.metrics.linesRead.inc({ input: this.input }, this.splitter.emitted - emitted);
      this.pos += buf.length;
      this.metrics.bytesRead.inc({ input: this.input }, buf.length);
      // Backpressure: stop reading while the pipeline is full.
      s.pause();
      void this.capacity().then(() => {
        if (!this.ended) s.resume();
      });
    });
    s.on("end", () => this.end());
    s.on("error", () => this.end());
    this.idleTimer = setInterval(() => this.splitter.flushIdle(Date.now()), 250);
    this.idleTimer.unref();
    s.resume();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.splitter.finish();
    this.resolveDone();
  }

  /** Graceful stop: whatever was read becomes records now. */
  stop(): void {
    this.stream.pause();
    this.end();
  }
}
