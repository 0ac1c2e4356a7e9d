// The agent's offline buffer: an append-only queue of batches in segment files on disk, each batch
// encrypted with AES-256-GCM under a random nonce. The frame header and its position are
// authenticated too, so a torn write after kill -9, a bit flip or a frame moved from elsewhere fails
// verification and is cut off or skipped, never sent. Bounded in bytes; when full it either blocks
// the writer or drops the oldest segment and counts what it dropped. Drained in order.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { SigilError, UsageError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import { syncDir, writeFileAtomic } from "./durable.ts";

const SEG_MAGIC = Buffer.from("SQS1");
const FRAME_MAGIC = Buffer.from("SQF1");
export const SEGMENT_HEADER = 32;
export const FRAME_HEADER = 32;
const TAG = 16;
const ID_BYTES = 16;
/** Largest ciphertext accepted when reading; anything bigger is a corrupt length field. */
const MAX_FRAME = 256 * 1024 * 1024;

/** Parses a 32-byte key given as 64 hex or 44 base64 characters. */
export function parseKey(text: string, what = "buffer.key"): Buffer {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, "hex");
  else if (/^[A-Za-z0-9+/]{43}=?$/.test(t)) {
    const b = Buffer.from(t, "base64");
    if (b.length === 32) key = b;
  }
  if (!key)
    throw new UsageError("agent_buffer_key_invalid", `${what} must be 32 bytes written as 64 hex or 44 base64 characters`, {
      hint: "create one with `openssl rand -hex 32 > agent.key; chmod 600 agent.key`",
    });
  return key;
}

/** A short public fingerprint of the key, stored in each segment so a wrong key is detected up front. */
export function keyId(key: Buffer): Buffer {
  return createHash("sha256").update("sigil-agent-queue-key\0").update(key).digest().subarray(0, 8);
}

function aad(header: Buffer, seq: number, offset: number): Buffer {
  const a = Buffer.allocUnsafe(FRAME_HEADER + 16);
  header.copy(a, 0, 0, FRAME_HEADER);
  a.writeBigUInt64BE(BigInt(seq), FRAME_HEADER);
  a.writeBigUInt64BE(BigInt(offset), FRAME_HEADER + 8);
  return a;
}

/** Encrypts one batch into a frame that is valid only at (seq, offset). */
export function encodeFrame(key: Buffer, seq: number, offset: number, id: string, body: Buffer, lines: number, createdMs: number): Buffer {
  const ctLen = ID_BYTES + body.length;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + ctLen + TAG);
  FRAME_MAGIC.copy(frame, 0);
  frame.writeUInt32BE(ctLen, 4);
  frame.writeUInt32BE(lines, 8);
  frame.writeBigUInt64BE(BigInt(createdMs), 12);
  randomBytes(12).copy(frame, 20);
  const cipher = createCipheriv("aes-256-gcm", key, frame.subarray(20, 32));
  cipher.setAAD(aad(frame, seq, offset));
  let o = FRAME_HEADER;
  o += cipher.update(Buffer.from(id, "hex")).copy(frame, o);
  o += cipher.update(body).copy(frame, o);
  o += cipher.final().copy(frame, o);
  cipher.getAuthTag().copy(frame, o);
  return frame;
}

export interface FrameHeader {
  ctLen: number;
  lines: number;
  createdMs: number;
  /** Total bytes of the frame on disk. */
  size: number;
}

export function parseFrameHeader(h: Buffer): FrameHeader | null {
  if (h.length < FRAME_HEADER || !h.subarray(0, 4).equals(FRAME_MAGIC)) return null;
  const ctLen = h.readUInt32BE(4);
  if (ctLen < ID_BYTES || ctLen > MAX_FRAME) return null;
  return { ctLen, lines: h.readUInt32BE(8), createdMs: Number(h.readBigUInt64BE(12)), size: FRAME_HEADER + ctLen + TAG };
}

/** Decrypts a whole frame read from (seq, offset); null when it does not verify. */
export function decodeFrame(key: Buffer, seq: number, offset: number, frame: Buffer): { id: string; body: Buffer; lines: number; createdMs: number } | null {
  const h = parseFrameHeader(frame);
  if (!h || frame.length < h.size) return null;
  try {
    const d = createDecipheriv("aes-256-gcm", key, frame.subarray(20, 32));
    d.setAAD(aad(frame, seq, offset));
    d.setAuthTag(frame.subarray(FRAME_HEADER + h.ctLen, h.size));
    const plain = Buffer.concat([d.update(frame.subarray(FRAME_HEADER, FRAME_HEADER + h.ctLen)), d.final()]);
    return { id: plain.subarray(0, ID_BYTES).toString("hex"), body: plain.subarray(ID_BYTES), lines: h.lines, createdMs: h.createdMs };
  } catch {
    return null;
  }
}

export interface QueueItem {
  seq: number;
  offset: number;
  next: number;
  id: string;
  body: Buffer;
  lines: number;
  createdMs: number;
}

export interface QueueStats {
  bytes: number;
  batches: number;
  lines: number;
  segments: number;
  droppedBatches: number;
  droppedLines: number;
  corruptFrames: number;
  /** True while an append waits for room (policy block). */
  blocked: boolean;
}

interface Segment {
  seq: number;
  file: string;
  size: number;
  frames: number;
  lines: number;
  ackedFrames: number;
  ackedLines: number;
}

interface PendingAppend {
  id: string;
  body: Buffer;
  lines: number;
  createdMs: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface DiskQueueOptions {
  dir: string;
  key: Buffer;
  maxBytes: number;
  /** Default block. */
  whenFull?: "block" | "drop_oldest";
  /** Default: maxBytes / 16, between 64 KiB and 64 MiB. */
  segmentBytes?: number;
  log?: Logger;
  /** How often the read position is persisted (redelivery after a crash is bounded by this). */
  headSyncMs?: number;
  onDrop?: (batches: number, lines: number) => void;
}

const segName = (seq: number) => `seg-${String(seq).padStart(12, "0")}.q`;

export class DiskQueue {
  private segments: Segment[] = [];
  private headOffset = SEGMENT_HEADER;
  private active: { seg: Segment; fh: fs.FileHandle } | null = null;
  private nextSeq = 1;
  private readonly kid: Buffer;
  private readonly segmentBytes: number;
  private writeQ: PendingAppend[] = [];
  private writing = false;
  private spaceWaiters: Array<() => void> = [];
  private dataWaiters: Array<() => void> = [];
  private inflight: QueueItem | null = null;
  private readFh: { seq: number; fh: fs.FileHandle } | null = null;
  private headDirty = false;
  private headTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private dropped = { batches: 0, lines: 0 };
  private corrupt = 0;
  private blockedNow = false;

  private constructor(private readonly o: DiskQueueOptions) {
    this.kid = keyId(o.key);
    this.segmentBytes = o.segmentBytes ?? Math.min(64 * 1024 * 1024, Math.max(4 * 1024, Math.floor(o.maxBytes / 16)));
  }

  /** Opens (or creates) the queue folder, verifies the key and cuts off a torn tail left by a crash. */
  static async open(o: DiskQueueOptions): Promise<DiskQueue> {
    const q = new DiskQueue(o);
    await q.recover();
    q.headTimer = setInterval(() => void q.syncHead().catch((err) => o.log?.warn({ err: String(err) }, "could not persist the buffer read position")), o.headSyncMs ?? 1000);
    q.headTimer.unref();
    return q;
  }

  get empty(): boolean {
    return this.pendingFrames() === 0 && this.writeQ.length === 0;
  }

  private pendingFrames(): number {
    let n = 0;
    for (const s of this.segments) n += s.frames - s.ackedFrames;
    return n;
  }

  stats(): QueueStats {
    let bytes = 0;
    let batches = 0;
    let lines = 0;
    for (const s of this.segments) {
      bytes += s.size;
      batches += s.frames - s.ackedFrames;
      lines += s.lines - s.ackedLines;
    }
    return { bytes, batches, lines, segments: this.segments.length, droppedBatches: this.dropped.batches, droppedLines: this.dropped.lines, corruptFrames: this.corrupt, blocked: this.blockedNow };
  }

  private totalBytes(): number {
    let b = 0;
    for (const s of this.segments) b += s.size;
    return b;
  }

  private async recover(): Promise<void> {
    const { dir, log } = this.o;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    let head: { seq: number; offset: number } | null = null;
    try {
      const h = safeJsonParse(await fs.readFile(path.join(dir, "head.json"), "utf8")) as { seq?: unknown; offset?: unknown };
      if (typeof h.seq === "number" && typeof h.offset === "number") head = { seq: h.seq, offset: h.offset };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") log?.warn({ dir, err: String(err) }, "buffer read position unreadable; draining from the oldest batch");
    }
    const names = (await fs.readdir(dir)).filter((n) => /^seg-\d{12}\.q$/.test(n)).sort();
    for (const name of names) {
      const seq = Number(name.slice(4, 16));
      const file = path.join(dir, name);
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      if (head && seq < head.seq) {
        await fs.rm(file, { force: true });
        continue;
      }
      const seg = await this.scanSegment(seq, file, name === names[names.length - 1]);
      if (!seg) continue;
      if (head && seq === head.seq) {
        // Count frames before the persisted read position as already delivered.
        const fh = await fs.open(file, "r");
        try {
          let p = SEGMENT_HEADER;
          const hb = Buffer.alloc(FRAME_HEADER);
          let frames = 0;
          let lines = 0;
          while (p < head.offset && p < seg.size) {
            await fh.read(hb, 0, FRAME_HEADER, p);
            const fhd = parseFrameHeader(hb);
            if (!fhd) break;
            p += fhd.size;
            frames++;
            lines += fhd.lines;
          }
          if (p === head.offset) {
            seg.ackedFrames = frames;
            seg.ackedLines = lines;
            this.headOffset = p;
          }
        } finally {
          await fh.close();
        }
      }
      this.segments.push(seg);
    }
    if (this.segments.length && (!head || this.segments[0].seq !== head.seq)) this.headOffset = SEGMENT_HEADER;
    const st = this.stats();
    if (st.batches > 0) log?.info({ dir, batches: st.batches, lines: st.lines, bytes: st.bytes }, "buffer holds batches from an earlier run; they will be sent first");
  }

  /** Reads a segment's frame headers; verifies every frame of the newest segment and cuts a torn tail. */
  private async scanSegment(seq: number, file: string, newest: boolean): Promise<Segment | null> {
    const fh = await fs.open(file, "r+");
    try {
      const size = (await fh.stat()).size;
      const sh = Buffer.alloc(SEGMENT_HEADER);
      const { bytesRead } = await fh.read(sh, 0, SEGMENT_HEADER, 0);
      if (bytesRead < SEGMENT_HEADER || !sh.subarray(0, 4).equals(SEG_MAGIC)) {
        this.o.log?.warn({ file }, "buffer segment has no valid header (created just before a crash); removing it");
        await fh.close();
        await fs.rm(file, { force: true });
        return null;
      }
      if (!sh.subarray(8, 16).equals(this.kid))
        throw new SigilError("agent_buffer_key_mismatch", `buffer segment ${file} was written with a different key`, {
          location: { file },
          hint: "configure the key the agent used before (buffer.key), or move the queue folder aside to start a new buffer (its batches will not be sent)",
        });
      const seg: Segment = { seq, file, size: SEGMENT_HEADER, frames: 0, lines: 0, ackedFrames: 0, ackedLines: 0 };
      let p = SEGMENT_HEADER;
      const hb = Buffer.alloc(FRAME_HEADER);
      while (p < size) {
        const r = await fh.read(hb, 0, FRAME_HEADER, p);
        const h = r.bytesRead === FRAME_HEADER ? parseFrameHeader(hb) : null;
        if (!h || p + h.size > size) break;
        if (newest) {
          const frame = Buffer.allocUnsafe(h.size);
          await fh.read(frame, 0, h.size, p);
          if (!decodeFrame(this.o.key, seq, p, frame)) break;
        }
        p += h.size;
        seg.frames++;
        seg.lines += h.lines;
      }
      if (p < size) {
        this.o.log?.warn({ file, offset: p, bytes: size - p }, "buffer segment ends in a torn or corrupt frame (from a crash); cutting it off");
        this.corrupt++;
        await fh.truncate(p);
        await fh.sync();
      }
      seg.size = p;
      return seg;
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    } finally {
      await fh.close().catch(() => {});
    }
  }

  /** Adds a batch; resolves once it is on disk (fsynced). With policy block it waits while the queue is full. */
  append(id: string, body: Buffer, lines: number, createdMs = Date.now()): Promise<void> {
    if (this.closed) return Promise.reject(new SigilError("agent_buffer_closed", "the buffer is closed"));
    return new Promise((resolve, reject) => {
      this.writeQ.push({ id, body, lines, createdMs, resolve, reject });
      void this.writeLoop();
    });
  }

  private async writeLoop(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.writeQ.length > 0) {
        const group = this.writeQ.splice(0, this.writeQ.length);
        const done: PendingAppend[] = [];
        try {
          for (const item of group) {
            const size = FRAME_HEADER + ID_BYTES + item.body.length + TAG;
            await this.makeRoom(size);
            let act = this.active;
            if (!act || (act.seg.size + size > this.segmentBytes && act.seg.frames > 0)) act = await this.roll();
            const frame = encodeFrame(this.o.key, act.seg.seq, act.seg.size, item.id, item.body, item.lines, item.createdMs);
            await act.fh.write(frame, 0, frame.length, act.seg.size);
            act.seg.size += frame.length;
            act.seg.frames++;
            act.seg.lines += item.lines;
            done.push(item);
          }
          if (this.active) await this.active.fh.datasync();
          for (const d of done) d.resolve();
          if (done.length) for (const w of this.dataWaiters.splice(0)) w();
        } catch (err) {
          for (const item of group) item.reject(err);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** Starts a new segment file (the previous one is synced and closed). */
  private async roll(): Promise<{ seg: Segment; fh: fs.FileHandle }> {
    if (this.active) {
      await this.active.fh.datasync();
      await this.active.fh.close();
      this.active = null;
    }
    const seq = this.nextSeq++;
    const file = path.join(this.o.dir, segName(seq));
    const fh = await fs.open(file, "w+", 0o600);
    const h = Buffer.alloc(SEGMENT_HEADER);
    SEG_MAGIC.copy(h, 0);
    h.writeUInt16BE(1, 4);
    this.kid.copy(h, 8);
    h.writeBigUInt64BE(BigInt(seq), 16);
    h.writeBigUInt64BE(BigInt(Date.now()), 24);
    await fh.write(h, 0, SEGMENT_HEADER, 0);
    await fh.datasync();
    await syncDir(this.o.dir);
    const seg: Segment = { seq, file, size: SEGMENT_HEADER, frames: 0, lines: 0, ackedFrames: 0, ackedLines: 0 };
    if (this.segments.length === 0) this.headOffset = SEGMENT_HEADER;
    this.segments.push(seg);
    this.active = { seg, fh };
    return this.active;
  }

  /** Frees segments whose every frame is delivered, the active one included (called by the writer only). */
  private async reclaim(): Promise<void> {
    while (this.segments.length > 0) {
      const seg = this.segments[0];
      if (seg.ackedFrames < seg.frames || this.headOffset < seg.size || this.inflight?.seq === seg.seq) return;
      if (this.active?.seg === seg) {
        if (seg.frames === 0) return;
        const fh = this.active.fh;
        this.active = null;
        await fh.close();
      }
      await this.dropSegment(seg);
    }
  }

  private async makeRoom(size: number): Promise<void> {
    await this.reclaim();
    while (this.totalBytes() + size > this.o.maxBytes && this.segments.length > 0) {
      if ((this.o.whenFull ?? "block") === "block") {
        if (!this.blockedNow) this.o.log?.warn({ bytes: this.totalBytes(), max_bytes: this.o.maxBytes }, "buffer is full; reading is paused until it drains");
        this.blockedNow = true;
        await new Promise<void>((r) => this.spaceWaiters.push(r));
        if (this.closed) throw new SigilError("agent_buffer_closed", "the buffer closed while waiting for room");
        await this.reclaim();
        continue;
      }
      const oldest = this.segments[0];
      if (this.active && this.active.seg === oldest) await this.roll();
      this.segments.shift();
      const inflightHere = this.inflight && this.inflight.seq === oldest.seq ? this.inflight : null;
      const batches = oldest.frames - oldest.ackedFrames - (inflightHere ? 1 : 0);
      const lines = oldest.lines - oldest.ackedLines - (inflightHere ? inflightHere.lines : 0);
      this.dropped.batches += batches;
      this.dropped.lines += lines;
      this.headOffset = SEGMENT_HEADER;
      this.headDirty = true;
      await this.closeReader(oldest.seq);
      await fs.rm(oldest.file, { force: true });
      this.o.log?.warn({ batches, lines, file: oldest.file }, "buffer is full; dropped its oldest batches (policy drop_oldest)");
      this.o.onDrop?.(batches, lines);
    }
    if (this.blockedNow) {
      this.blockedNow = false;
      this.o.log?.info({ bytes: this.totalBytes() }, "buffer has room again; reading resumes");
    }
  }

  /** The oldest batch not yet acknowledged (the same one until ack), or null when the queue is empty. */
  async peek(): Promise<QueueItem | null> {
    if (this.inflight) return this.inflight;
    while (this.segments.length > 0) {
      const seg = this.segments[0];
      if (this.headOffset >= seg.size) {
        if (this.active?.seg === seg) return null;
        await this.dropSegment(seg);
        continue;
      }
      const fh = await this.reader(seg);
      const hb = Buffer.alloc(FRAME_HEADER);
      await fh.read(hb, 0, FRAME_HEADER, this.headOffset);
      const h = parseFrameHeader(hb);
      let item: QueueItem | null = null;
      if (h && this.headOffset + h.size <= seg.size) {
        const frame = Buffer.allocUnsafe(h.size);
        await fh.read(frame, 0, h.size, this.headOffset);
        const d = decodeFrame(this.o.key, seg.seq, this.headOffset, frame);
        if (d) item = { seq: seg.seq, offset: this.headOffset, next: this.headOffset + h.size, ...d };
      }
      if (!item) {
        // A frame that does not verify cannot be trusted, nor can the lengths after it: skip the segment's rest.
        this.corrupt++;
        const lost = { batches: seg.frames - seg.ackedFrames, lines: seg.lines - seg.ackedLines };
        this.dropped.batches += lost.batches;
        this.dropped.lines += lost.lines;
        this.o.log?.error({ file: seg.file, offset: this.headOffset, ...lost }, "buffer frame failed authentication (corrupt or tampered); skipping the rest of its segment");
        seg.ackedFrames = seg.frames;
        seg.ackedLines = seg.lines;
        this.headOffset = seg.size;
        this.headDirty = true;
        continue;
      }
      this.inflight = item;
      return item;
    }
    return null;
  }

  /** Marks the batch from peek() as delivered; its space is freed when its segment is done. */
  async ack(item: QueueItem): Promise<void> {
    if (this.inflight === item) this.inflight = null;
    const seg = this.segments[0];
    if (!seg || seg.seq !== item.seq || this.headOffset !== item.offset) return;
    this.headOffset = item.next;
    seg.ackedFrames++;
    seg.ackedLines += item.lines;
    this.headDirty = true;
    if (this.headOffset >= seg.size) {
      if (this.active?.seg !== seg) await this.dropSegment(seg);
      else if (!this.writing && this.writeQ.length === 0 && seg.size > this.segmentBytes / 2) {
        // Drained completely: start the next append in a fresh segment and free this one.
        const fh = this.active.fh;
        this.active = null;
        await fh.close();
        await this.dropSegment(seg);
      }
    }
    for (const w of this.spaceWaiters.splice(0)) w();
  }

  private async dropSegment(seg: Segment): Promise<void> {
    const i = this.segments.indexOf(seg);
    if (i < 0) return;
    this.segments.splice(i, 1);
    if (i === 0) this.headOffset = SEGMENT_HEADER;
    this.headDirty = true;
    await this.closeReader(seg.seq);
    await fs.rm(seg.file, { force: true });
    for (const w of this.spaceWaiters.splice(0)) w();
  }

  private async reader(seg: Segment): Promise<fs.FileHandle> {
    if (this.readFh?.seq === seg.seq) return this.readFh.fh;
    if (this.readFh) await this.readFh.fh.close();
    this.readFh = { seq: seg.seq, fh: await fs.open(seg.file, "r") };
    return this.readFh.fh;
  }

  private async closeReader(seq: number): Promise<void> {
    if (this.readFh?.seq === seq) {
      const fh = this.readFh.fh;
      this.readFh = null;
      await fh.close();
    }
  }

  /** Resolves when a batch is appended (or after `ms`). */
  waitForData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        const i = this.dataWaiters.indexOf(done);
        if (i >= 0) this.dataWaiters.splice(i, 1);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.dataWaiters.push(done);
    });
  }

  /** Persists the read position (write temp, fsync, rename). */
  async syncHead(): Promise<void> {
    if (!this.headDirty) return;
    this.headDirty = false;
    const seg = this.segments[0];
    const head = seg ? { seq: seg.seq, offset: this.headOffset } : { seq: this.nextSeq, offset: SEGMENT_HEADER };
    await writeFileAtomic(path.join(this.o.dir, "head.json"), JSON.stringify(head));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.headTimer) clearInterval(this.headTimer);
    for (const w of this.spaceWaiters.splice(0)) w();
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    for (const p of this.writeQ.splice(0)) p.reject(new SigilError("agent_buffer_closed", "the buffer closed before this batch was written"));
    this.headDirty = true;
    await this.syncHead();
    if (this.active) {
      await this.active.fh.datasync();
      await this.active.fh.close();
      this.active = null;
    }
    if (this.readFh) await this.readFh.fh.close();
    this.readFh = null;
  }
}
