// Per-file checkpoints: for each content stream the agent has read (one file identity), the byte
// offset up to which every record is safe, written durably (temp + fsync + rename + fsync folder)
// so a restart resumes at the exact byte. A stream is registered before its first record leaves,
// so its id (part of every record's origin) is the same after a crash and redelivery deduplicates.

import fs from "node:fs/promises";
import type { Logger } from "../../platform/telemetry/log.ts";
import { SigilError } from "../../platform/errors.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import { removeStaleTemps, writeFileAtomic } from "./durable.ts";

export interface StreamCheckpoint {
  /** Stream id: random hex, the first part of every record's origin. */
  fid: string;
  /** Last path the file had. */
  path: string;
  /** Device and inode as decimal strings (inodes can exceed 2^53). */
  dev: string;
  ino: string;
  /** Every byte before this offset is acknowledged by ingest or written to the disk buffer. */
  offset: number;
  /** SHA-256 (hex) of the file's first fp_len bytes: tells a reused inode or a rewritten file apart. */
  fp_len: number;
  fp: string;
  /** active: being read; done: finished (renamed away and read to its end, deleted, or truncated). */
  state: "active" | "done";
  /** Epoch ms of the last change. */
  updated: number;
}

interface FileShape {
  version: 1;
  agent_id: string;
  streams: StreamCheckpoint[];
}

/** Bound on remembered streams; the oldest finished ones are forgotten first. */
export const MAX_STREAMS = 50_000;

export class CheckpointStore {
  private streams = new Map<string, StreamCheckpoint>();
  private dirty = false;
  private writing: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  writes = 0;

  constructor(
    private readonly file: string,
    private readonly agentId: string,
    private readonly log?: Logger,
  ) {}

  /** Reads the checkpoint file; a missing file is a first start. A corrupt one is an error with a way out. */
  async load(): Promise<void> {
    await removeStaleTemps(this.file);
    let text: string;
    try {
      text = await fs.readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    let parsed: FileShape;
    try {
      parsed = safeJsonParse(text) as unknown as FileShape;
      if (parsed?.version !== 1 || !Array.isArray(parsed.streams)) throw new Error("unknown layout");
    } catch (err) {
      throw new SigilError("agent_checkpoints_corrupt", `checkpoint file ${this.file} cannot be read: ${(err as Error).message}`, {
        location: { file: this.file },
        hint: "move it aside to start over (files are then read again from start_at, and ingest deduplicates what it already has)",
      });
    }
    for (const s of parsed.streams) {
      if (typeof s?.fid === "string" && typeof s.offset === "number" && typeof s.dev === "string" && typeof s.ino === "string") this.streams.set(s.fid, s);
    }
  }

  all(): StreamCheckpoint[] {
    return [...this.streams.values()];
  }

  get(fid: string): StreamCheckpoint | undefined {
    return this.streams.get(fid);
  }

  byInode(dev: string, ino: string): StreamCheckpoint[] {
    const out: StreamCheckpoint[] = [];
    for (const s of this.streams.values()) if (s.dev === dev && s.ino === ino) out.push(s);
    return out;
  }

  /** Adds or replaces a stream; the caller awaits flush() before sending its first record. */
  put(s: StreamCheckpoint): void {
    this.streams.set(s.fid, s);
    this.dirty = true;
    if (this.streams.size > MAX_STREAMS) this.evict();
  }

  /** Updates fields of a stream (offset, path, fingerprint, state); persisted by the next flush. */
  update(fid: string, patch: Partial<StreamCheckpoint>): void {
    const s = this.streams.get(fid);
    if (!s) return;
    Object.assign(s, patch, { updated: Date.now() });
    this.dirty = true;
  }

  remove(fid: string): void {
    if (this.streams.delete(fid)) this.dirty = true;
  }

  /** Forgets finished streams not touched for `ms`. */
  forgetOlderThan(ms: number, now = Date.now()): number {
    let n = 0;
    for (const [fid, s] of this.streams) {
      if (s.state === "done" && now - s.updated > ms) {
        this.streams.delete(fid);
        n++;
      }
    }
    if (n) this.dirty = true;
    return n;
  }

  private evict(): void {
    const done = [...this.streams.values()].filter((s) => s.state === "done").sort((a, b) => a.updated - b.updated);
    for (const s of done) {
      if (this.streams.size <= MAX_STREAMS) break;
      this.streams.delete(s.fid);
    }
  }

  /** Writes the file now if anything changed; concurrent calls share one write and a follow-up. */
  async flush(): Promise<void> {
    if (this.writing) {
      this.again = true;
      await this.writing;
      if (this.writing) await this.writing;
      return;
    }
    if (!this.dirty) return;
    const run = async () => {
      do {
        this.again = false;
        this.dirty = false;
        const body: FileShape = { version: 1, agent_id: this.agentId, streams: [...this.streams.values()] };
        try {
          await writeFileAtomic(this.file, JSON.stringify(body));
          this.writes++;
        } catch (err) {
          this.dirty = true;
          throw err;
        }
      } while (this.again && this.dirty);
    };
    this.writing = run().finally(() => {
      this.writing = null;
    });
    await this.writing;
  }

  /** Flushes every `ms` while running. */
  start(ms: number): void {
    this.timer = setInterval(() => {
      this.flush().catch((err) => this.log?.error({ file: this.file, err: String(err) }, "could not write checkpoints; will retry"));
    }, ms);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.dirty = true;
    await this.flush();
  }
}
