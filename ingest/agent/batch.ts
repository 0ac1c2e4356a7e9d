// Records to batches: the wire encoding of one record (an NDJSON line, see
// docs/decisions/0009-agent-wire-format.md), batching by lines, bytes and time, and the per-source
// bookkeeping that lets a checkpoint advance only past records whose batch is safe (acknowledged by
// ingest or written to the disk buffer).

import { randomBytes } from "node:crypto";
import zlib from "node:zlib";

export const AGENT_TYPE = "sigil-agent";

/** The parts of a record that are the same for every record of one input. */
export interface RecordStatic {
  hostName: string;
  agentId: string;
  agentVersion: string;
  service: string | null;
  tags: string[];
  format: string | null;
}

/** Builds NDJSON records for one source (a file stream or stdin) with as few string operations as possible. */
export class RecordEncoder {
  private head = "";
  private tail = "";
  private readonly fmt: string;
  private created = "";

  constructor(
    private readonly st: RecordStatic,
    private readonly inputType: "file" | "stdin",
    private readonly originPrefix: string,
    path: string | null,
  ) {
    this.fmt = st.format ? `,"format":${JSON.stringify(st.format)}` : "";
    this.setPath(path);
  }

  /** The path changes when a file is renamed; records read after that carry the new path. */
  setPath(path: string | null): void {
    const st = this.st;
    this.head = path === null ? ',"log":{"offset":' : `,"log":{"file":{"path":${JSON.stringify(path)}},"offset":`;
    let stat = `,"input":{"type":"${this.inputType}"},"host":{"name":${JSON.stringify(st.hostName)}},"agent":{"id":${JSON.stringify(st.agentId)},"type":"${AGENT_TYPE}","version":${JSON.stringify(st.agentVersion)}}`;
    if (st.service) stat += `,"service":{"name":${JSON.stringify(st.service)}}`;
    if (st.tags.length) stat += `,"tags":${JSON.stringify(st.tags)}`;
    // The origin prefix is hex and ":"; no escaping needed.
    this.tail = `"}${stat},"sigil":{"origin":"${this.originPrefix}:`;
  }

  /** Sets event.created for the records that follow (once per chunk read, not per line). */
  setCreated(iso: string): void {
    this.created = iso;
  }

  encode(text: string, start: number, truncated: boolean): string {
    return `{"message":${JSON.stringify(text)}${this.head}${start}},"event":{"created":"${this.created}${this.tail}${start}"${this.fmt}${truncated ? ',"truncated":true}}' : "}}"}`;
  }
}

/** Something whose records go into batches and that wants to know when they are safe. */
export class AckTracker {
  /** Batch seq and end offset, in the order records were added. */
  private seqs: number[] = [];
  private ends: number[] = [];
  private done: boolean[] = [];
  private first = 0;
  /** Offset up to which every record is safe. */
  committed: number;
  /** Last batch seq a record of this source went into. */
  lastSeq = -1;

  constructor(
    start: number,
    private readonly onCommit: (offset: number) => void = () => {},
  ) {
    this.committed = start;
  }

  /** Called by the batcher for each record (cheap when many records go to the same batch). */
  note(seq: number, end: number): boolean {
    const n = this.seqs.length;
    if (n > this.first && this.seqs[n - 1] === seq) {
      this.ends[n - 1] = end;
      return false;
    }
    this.seqs.push(seq);
    this.ends.push(end);
    this.done.push(false);
    this.lastSeq = seq;
    return true;
  }

  /** The batch `seq` is safe: advance `committed` over every leading safe batch. */
  settle(seq: number): void {
    for (let i = this.first; i < this.seqs.length; i++) {
      if (this.seqs[i] === seq) {
        this.done[i] = true;
        break;
      }
    }
    let moved = false;
    while (this.first < this.seqs.length && this.done[this.first]) {
      this.committed = this.ends[this.first];
      this.first++;
      moved = true;
    }
    if (this.first > 64 && this.first * 2 > this.seqs.length) {
      this.seqs = this.seqs.slice(this.first);
      this.ends = this.ends.slice(this.first);
      this.done = this.done.slice(this.first);
      this.first = 0;
    }
    if (moved) this.onCommit(this.committed);
  }

  /** Records handed to batches that are not safe yet. */
  get unsettled(): number {
    return this.seqs.length - this.first;
  }

  /** Forgets pending records (the source is reset); the caller decides the new committed offset. */
  reset(offset: number): void {
    this.seqs = [];
    this.ends = [];
    this.done = [];
    this.first = 0;
    this.committed = offset;
  }
}

/** A batch ready to leave: compressed body plus what to settle when it is safe. */
export interface SealedBatch {
  seq: number;
  /** 32 hex characters; sent as X-Sigil-Batch-Id and kept with the batch in the buffer. */
  id: string;
  lines: number;
  rawBytes: number;
  body: Buffer;
  encoding: "gzip" | "identity";
  sources: AckTracker[];
  createdMs: number;
}

export interface BatcherOptions {
  maxLines: number;
  maxBytes: number;
  flushMs: number;
  compression: "gzip" | "none";
  compressionLevel: number;
}

/**
 * Collects records into batches; hands each sealed batch, gzipped, to `out`. Compression runs on the
 * main thread on purpose: the agent's budget is one core anyway, and zlib in the thread pool kept
 * several deflate states and per-thread malloc arenas alive (about 20 MB more resident memory).
 */
export class Batcher {
  /**
   * Records are encoded straight into one reusable buffer, so a record's string dies young and the
   * batch costs one copy when it is sealed, not thousands of retained strings.
   */
  private buf: Buffer;
  private pos = 0;
  private lines = 0;
  private sources: AckTracker[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: BatcherOptions,
    private readonly out: (b: SealedBatch) => void,
    private readonly onError: (err: unknown) => void,
  ) {
    this.buf = Buffer.allocUnsafe(opts.maxBytes);
  }

  get currentSeq(): number {
    return this.seq;
  }

  get bufferedLines(): number {
    return this.lines;
  }

  add(record: string, src: AckTracker, end: number): void {
    // Room for the worst case (3 bytes per UTF-16 unit) plus the newline; measure exactly only when tight.
    let need = record.length * 3 + 1;
    if (this.pos + need > this.buf.length) {
      need = Buffer.byteLength(record) + 1;
      if (this.pos + need > this.buf.length) {
        if (this.lines > 0) this.seal();
        // A single record larger than a batch (a huge line with heavy escaping) gets a batch of its own.
        if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need);
      }
    }
    this.pos += this.buf.write(record, this.pos);
    this.buf[this.pos++] = 0x0a;
    this.lines++;
    if (src.note(this.seq, end)) this.sources.push(src);
    if (this.lines >= this.opts.maxLines || this.pos >= this.opts.maxBytes) this.seal();
    else if (!this.timer) this.timer = setTimeout(() => this.seal(), this.opts.flushMs);
  }

  /** Seals the current batch now (flush timer, shutdown, end of stdin). */
  seal(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.lines === 0) return;
    const seq = this.seq++;
    const lines = this.lines;
    const sources = this.sources;
    // gzip reads the reusable buffer in place (synchronously, before it is written again); only
    // an uncompressed batch needs its own copy.
    const view = this.buf.subarray(0, this.pos);
    const rawBytes = this.pos;
    this.pos = 0;
    this.lines = 0;
    this.sources = [];
    const oversized = this.buf.length > this.opts.maxBytes;
    const id = randomBytes(16).toString("hex");
    const createdMs = Date.now();
    const finish = (body: Buffer, encoding: SealedBatch["encoding"]) => this.out({ seq, id, lines, rawBytes, body, encoding, sources, createdMs });
    if (this.opts.compression === "none") {
      const copy = Buffer.from(view);
      if (oversized) this.buf = Buffer.allocUnsafe(this.opts.maxBytes);
      finish(copy, "identity");
      return;
    }
    let body: Buffer;
    try {
      body = zlib.gzipSync(view, { level: this.opts.compressionLevel });
    } catch (err) {
      // Never lose a batch to a compression failure: send it uncompressed.
      this.onError(err);
      const copy = Buffer.from(view);
      if (oversized) this.buf = Buffer.allocUnsafe(this.opts.maxBytes);
      finish(copy, "identity");
      return;
    }
    if (oversized) this.buf = Buffer.allocUnsafe(this.opts.maxBytes);
    finish(body, "gzip");
  }

  /** Seals what is collected and hands it on (compression is synchronous, so it is done on return). */
  async drained(): Promise<void> {
    this.seal();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
