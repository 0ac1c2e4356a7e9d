// The file input: finds files by glob (again on every scan, so new files are picked up), follows
// each content stream by device+inode plus a fingerprint of its first bytes, and reads it into
// records. Rotation by rename keeps the open descriptor and reads the old file to its end;
// copy-truncate is detected (size below the read offset, or changed first bytes) and the unread rest
// is taken from the rotated copy; deleted files are read to their end before they are closed.

import { createHash, randomBytes } from "node:crypto";
import fsSync from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../../platform/telemetry/log.ts";
import type { AgentConfig, FileInputConfig } from "./config.ts";
import { AckTracker, RecordEncoder, type Batcher, type RecordStatic } from "./batch.ts";
import type { CheckpointStore, StreamCheckpoint } from "./checkpoints.ts";
import { compileExcludes, compileGlob, expandGlob, type CompiledGlob } from "./glob.ts";
import { LineSplitter } from "./lines.ts";
import type { AgentMetrics } from "./metrics.ts";

/** Bytes at the start of a file that identify its content (with device and inode). */
export const FP_MAX = 512;
/** How long a file that starts like an open stream waits for that stream's truncation before it is read as new. */
const SUSPECT_MIN_MS = 5_000;
/** A rotated copy is recognized by its first bytes only when at least this many are known. */
export const FP_MIN_COPY = 64;

interface InputPlan {
  index: number;
  cfg: FileInputConfig;
  globs: CompiledGlob[];
  excluded: (file: string) => boolean;
  st: RecordStatic;
}

export interface FileStatus {
  path: string;
  fid: string;
  state: "reading" | "finishing" | "idle";
  /** Everything before this offset is acknowledged or in the disk buffer. */
  offset: number;
  /** Bytes read from the file so far. */
  read_offset: number;
  size: number;
  lag_bytes: number;
}

export interface TailerDeps {
  config: AgentConfig;
  checkpoints: CheckpointStore;
  batcher: Batcher;
  statics: (cfg: FileInputConfig) => RecordStatic;
  /** Resolves when the pipeline can take more records (backpressure). */
  capacity: () => Promise<void>;
  log: Logger;
  metrics: AgentMetrics;
  /** True when there were no checkpoints at all: start_at applies to files found at start-up. */
  firstRun: boolean;
  cwd?: string;
}

const key = (dev: bigint | string, ino: bigint | string) => `${dev}:${ino}`;
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A small pool of read buffers shared by every open file, so memory does not grow with the number of files. */
class BufferPool {
  private free: Buffer[] = [];
  private waiters: Array<(b: Buffer) => void> = [];
  constructor(size: number, count: number) {
    for (let i = 0; i < count; i++) this.free.push(Buffer.allocUnsafe(size));
  }
  async take(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return b;
    return new Promise((r) => this.waiters.push(r));
  }
  give(b: Buffer): void {
    const w = this.waiters.shift();
    if (w) w(b);
    else this.free.push(b);
  }
}

async function preadFull(fh: fs.FileHandle, len: number, pos: number): Promise<Buffer> {
  const b = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(b, got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return b.subarray(0, got);
}

/** One content stream being read from an open descriptor. */
class FileStream {
  fh: fs.FileHandle;
  dev: string;
  ino: string;
  path: string;
  pos: number;
  size = 0;
  fp: Buffer;
  readonly splitter: LineSplitter;
  readonly acks: AckTracker;
  readonly encoder: RecordEncoder;
  /** live: the path still points here; finishing: renamed away or deleted, read to the end then closed; copy: a rotated copy. */
  mode: "live" | "finishing" | "copy" = "live";
  lastGrowth = Date.now();
  closed = false;
  stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private onStop!: () => void;
  /** Resolves when the stream is told to stop (ends a wait for pipeline capacity). */
  private readonly stopSignal = new Promise<void>((r) => (this.onStop = r));

  constructor(
    private readonly t: FileTailer,
    readonly plan: InputPlan,
    readonly fid: string,
    init: { fh: fs.FileHandle; dev: string; ino: string; path: string; pos: number; fp: Buffer; size: number },
  ) {
    this.fh = init.fh;
    this.dev = init.dev;
    this.ino = init.ino;
    this.path = init.path;
    this.pos = init.pos;
    this.fp = init.fp;
    this.size = init.size;
    this.encoder = new RecordEncoder(plan.st, "file", fid, init.path);
    this.acks = new AckTracker(init.pos, (offset) => t.deps.checkpoints.update(fid, { offset }));
    const batcher = t.deps.batcher;
    const enc = this.encoder;
    const acks = this.acks;
    this.splitter = new LineSplitter((text, start, end, truncated) => batcher.add(enc.encode(text, start, truncated), acks, end), {
      maxLineBytes: plan.cfg.max_line_bytes,
      multiline: plan.cfg.multiline,
      startOffset: init.pos,
    });
  }

  setPath(p: string): void {
    if (p === this.path) return;
    this.t.deps.log.info({ from: this.path, to: p, fid: this.fid }, "file renamed; following it");
    this.path = p;
    this.encoder.setPath(p);
    this.t.deps.checkpoints.update(this.fid, { path: p });
  }

  /** Starts reading, after `gate` (the durable registration of a new stream) when given. */
  run(gate?: Promise<void>): void {
    this.loop = (async () => {
      if (gate) await gate;
      await this.readLoop();
    })().catch((err) => {
      this.t.deps.log.error({ path: this.path, fid: this.fid, err: String(err) }, "file reader failed; it will be reopened on the next scan");
      void this.close("error");
    });
  }

  poke(): void {
    this.wake?.();
    if (this.stopped) this.onStop();
  }

  private async idle(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      const done = () => {
        clearTimeout(t);
        if (this.wake === done) this.wake = null;
        r();
      };
      const t = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async readLoop(): Promise<void> {
    const t = this.t;
    const files = t.deps.config.files;
    const metrics = t.deps.metrics;
    const input = String(this.plan.index);
    while (!this.stopped) {
      await Promise.race([t.deps.capacity(), this.stopSignal]);
      if (this.stopped) return;
      const buf = await t.pool.take();
      let n = 0;
      let foreign = false;
      try {
        n = (await this.fh.read(buf, 0, buf.length, this.pos)).bytesRead;
        // Check, after reading, that the bytes still belong to this stream: a copy-truncate that
        // was followed by new writes past our offset would otherwise hand us foreign bytes.
        if (n > 0 && !(await this.stillOurs())) foreign = true;
        else if (n > 0) {
          if (this.pos < FP_MAX && this.fp.length < FP_MAX) this.growFp(buf, n);
          const now = Date.now();
          this.encoder.setCreated(new Date(now).toISOString());
          const before = this.splitter.truncatedCount;
          const emitted = this.splitter.emitted;
          this.splitter.push(buf, n, now);
          metrics.linesRead.inc({ input }, this.splitter.emitted - emitted);
          this.pos += n;
          if (this.pos > this.size) this.size = this.pos;
          this.lastGrowth = now;
          metrics.bytesRead.inc({ input }, n);
          if (this.splitter.truncatedCount !== before) metrics.linesTruncated.inc({ input }, this.splitter.truncatedCount - before);
        }
      } finally {
        t.pool.give(buf);
      }
      if (foreign) {
        await t.truncated(this);
        return;
      }
      if (n > 0) continue;
      // At the end of what is there: multiline timeout, truncation, rename/delete, and close rules.
      const now = Date.now();
      this.splitter.flushIdle(now);
      const st = await this.fh.stat({ bigint: false });
      this.size = st.size;
      if (st.size < this.pos || !(await this.stillOurs())) {
        await t.truncated(this);
        return;
      }
      if (st.size > this.pos) continue;
      if (this.mode === "copy") {
        this.splitter.finish();
        await this.close("copy read to its end");
        return;
      }
      if (this.mode === "finishing" && now - this.lastGrowth >= files.close_inactive_ms) {
        this.splitter.finish();
        await this.close("renamed away or deleted, and read to its end");
        return;
      }
      await this.idle(files.poll_interval_ms);
    }
  }

  /** Compares the file's first bytes with the fingerprint. */
  async stillOurs(): Promise<boolean> {
    if (this.fp.length === 0) return true;
    const head = await preadFull(this.fh, this.fp.length, 0);
    return head.equals(this.fp);
  }

  private growFp(buf: Buffer, n: number): void {
    // Only while reading from the very start do the chunk's bytes extend the fingerprint directly.
    if (this.pos !== this.fp.length) return;
    const add = Math.min(FP_MAX - this.fp.length, n);
    if (add <= 0) return;
    this.fp = Buffer.concat([this.fp, buf.subarray(0, add)]);
    this.t.deps.checkpoints.update(this.fid, { fp_len: this.fp.length, fp: sha256(this.fp) });
  }

  /** Extends a short fingerprint from the file itself (streams resumed or started at the end). */
  async refreshFp(): Promise<void> {
    if (this.fp.length >= FP_MAX) return;
    const head = await preadFull(this.fh, FP_MAX, 0);
    if (head.length > this.fp.length && head.subarray(0, this.fp.length).equals(this.fp)) {
      this.fp = head;
      this.t.deps.checkpoints.update(this.fid, { fp_len: head.length, fp: sha256(head) });
    }
  }

  async close(why: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopped = true;
    this.poke();
    this.t.forget(this);
    await this.fh.close().catch(() => {});
    this.t.deps.checkpoints.update(this.fid, { state: "done" });
    this.t.deps.log.debug({ path: this.path, fid: this.fid, why }, "file closed");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.loop;
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => {});
    }
  }

  status(): FileStatus {
    const offset = this.acks.committed;
    return {
      path: this.path,
      fid: this.fid,
      state: this.mode === "live" ? "reading" : "finishing",
      offset,
      read_offset: this.pos,
      size: this.size,
      lag_bytes: Math.max(0, this.size - offset),
    };
  }
}

/** All file inputs of one agent: scanning, identity, rotation and the readers. */
export class FileTailer {
  readonly pool: BufferPool;
  private readonly plans: InputPlan[];
  /** Open streams by the device:inode they currently read. */
  private readonly open = new Map<string, FileStream>();
  /** Files that look like a copy of a live stream, waiting to see whether that stream gets truncated. */
  private readonly suspects = new Map<string, number>();
  /** Finished files that had nothing new at their last look, by device:inode, with their size then. */
  private readonly quiet = new Map<string, number>();
  private scanTimer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private rescanPending = false;
  private watchers: fsSync.FSWatcher[] = [];
  /**
   * Descriptors opened the moment the folder watch reports a new name that matches a glob, before
   * the scan gets to it: a file renamed away again within milliseconds is still read whole.
   */
  private readonly preopened = new Map<string, { fh: fs.FileHandle; path: string; plan: InputPlan; size: number; dev: string; ino: string }>();
  private stopped = false;
  private warnedLimit = false;
  private initial = true;

  constructor(readonly deps: TailerDeps) {
    const cwd = deps.cwd ?? process.cwd();
    this.plans = deps.config.inputs
      .map((cfg, index) => ({ cfg, index }))
      .filter((x): x is { cfg: FileInputConfig; index: number } => x.cfg.type === "file")
      .map(({ cfg, index }) => ({ index, cfg, globs: cfg.paths.map((p) => compileGlob(p, cwd)), excluded: compileExcludes(cfg.exclude, cwd), st: deps.statics(cfg) }));
    this.pool = new BufferPool(deps.config.files.read_bytes, 4);
  }

  get hasInputs(): boolean {
    return this.plans.length > 0;
  }

  async start(): Promise<void> {
    if (!this.hasInputs) return;
    await this.exclusive(() => this.scan());
    this.initial = false;
    this.scanTimer = setInterval(() => {
      if (!this.scanning) this.runScan();
    }, this.deps.config.files.scan_interval_ms);
    this.watch();
  }

  /** Scans and truncation handling never interleave: both decide which inode belongs to which stream. */
  private mutex: Promise<unknown> = Promise.resolve();
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.mutex.then(fn, fn);
    this.mutex = run.catch(() => {});
    return run;
  }

  private runScan(): void {
    this.scanning = this.exclusive(() => this.scan())
      .catch((err) => this.deps.log.error({ err: String(err) }, "file scan failed"))
      .finally(() => {
        this.scanning = null;
        if (this.rescanPending) {
          this.rescanPending = false;
          this.rescanSoon();
        }
      });
  }

  /** A change in a watched folder (inotify): scan soon, so short-lived rotated names are not missed. */
  private rescanSoon(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescanPending = true;
      return;
    }
    if (this.rescanTimer) return;
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = null;
      if (this.stopped) return;
      if (this.scanning) this.rescanPending = true;
      else this.runScan();
    }, 20);
  }

  /**
   * Watches the folders the globs start in, as a hint only: events trigger an early scan and wake
   * the readers there; the periodic scan and polling stay the source of truth (events can be lost,
   * and watching is not possible everywhere).
   */
  private watch(): void {
    const dirs = new Set<string>();
    for (const p of this.plans) for (const g of p.globs) dirs.add(g.base);
    for (const dir of [...dirs].slice(0, 256)) {
      try {
        const w = fsSync.watch(dir, { persistent: false }, (_event, name) => {
          if (name) void this.grab(path.join(dir, String(name)));
          this.rescanSoon();
          for (const s of this.open.values()) if (path.dirname(s.path) === dir) s.poke();
        });
        w.on("error", () => w.close());
        this.watchers.push(w);
      } catch {
        // Folder missing or no watch available: the periodic scan finds its files.
      }
    }
  }

  private async grab(file: string): Promise<void> {
    if (this.stopped || this.preopened.size >= 256) return;
    const plan = this.plans.find((p) => !p.excluded(file) && p.globs.some((g) => g.re.test(file)));
    if (!plan) return;
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(file, "r");
    } catch {
      return;
    }
    const st = await fh.stat({ bigint: true }).catch(() => null);
    const k = st ? key(st.dev, st.ino) : "";
    if (!st || !st.isFile() || this.open.has(k) || this.preopened.has(k) || this.stopped) {
      await fh.close().catch(() => {});
      return;
    }
    this.preopened.set(k, { fh, path: file, plan, size: Number(st.size), dev: String(st.dev), ino: String(st.ino) });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.scanTimer) clearInterval(this.scanTimer);
    if (this.rescanTimer) clearTimeout(this.rescanTimer);
    for (const w of this.watchers.splice(0)) w.close();
    await this.scanning;
    for (const p of this.preopened.values()) await p.fh.close().catch(() => {});
    this.preopened.clear();
    await Promise.all([...this.open.values()].map((s) => s.stop()));
    this.open.clear();
  }

  status(): FileStatus[] {
    const out = [...this.open.values()].map((s) => s.status());
    const openFids = new Set([...this.open.values()].map((s) => s.fid));
    for (const c of this.deps.checkpoints.all()) {
      if (openFids.has(c.fid) || c.state !== "done") continue;
      out.push({ path: c.path, fid: c.fid, state: "idle", offset: c.offset, read_offset: c.offset, size: c.offset, lag_bytes: 0 });
    }
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Total bytes written to open files but not yet safe. */
  lagBytes(): number {
    let n = 0;
    for (const s of this.open.values()) n += Math.max(0, s.size - s.acks.committed);
    return n;
  }

  get openCount(): number {
    return this.open.size;
  }

  forget(s: FileStream): void {
    const k = key(s.dev, s.ino);
    if (this.open.get(k) === s) this.open.delete(k);
  }

  private planFor(file: string): InputPlan | null {
    for (const p of this.plans) {
      if (p.excluded(file)) continue;
      return p;
    }
    return null;
  }

  /** One pass: expand globs, match files to streams, open new ones, notice renames and deletions. */
  async scan(): Promise<void> {
    const { log, checkpoints, config } = this.deps;
    const found = new Map<string, { path: string; plan: InputPlan; size: number; dev: string; ino: string }>();
    for (const plan of this.plans) {
      for (const g of plan.globs) {
        for (const file of await expandGlob(g)) {
          if (plan.excluded(file)) continue;
          let st;
          try {
            st = await fs.stat(file, { bigint: true });
          } catch {
            continue;
          }
          if (!st.isFile()) continue;
          const k = key(st.dev, st.ino);
          if (!found.has(k)) found.set(k, { path: file, plan, size: Number(st.size), dev: String(st.dev), ino: String(st.ino) });
        }
      }
    }
    if (this.stopped) return;
    // Streams whose inode is no longer at a globbed path were renamed away or deleted: finish them.
    const now = Date.now();
    for (const [k, s] of this.open) {
      const f = found.get(k);
      if (f) {
        if (s.mode === "finishing") s.mode = "live";
        s.setPath(f.path);
        if (f.size > s.pos) s.poke();
      } else if (s.mode === "live") {
        s.mode = "finishing";
        s.lastGrowth = Math.max(s.lastGrowth, now);
        // Renamed within its folder (the usual rotation): follow the new name for status and records.
        const moved = await this.findInDir(path.dirname(s.path), async (_p, st) => String(st.dev) === s.dev && String(st.ino) === s.ino);
        log.info({ path: s.path, fid: s.fid, renamed_to: moved?.path ?? null }, moved ? "file renamed away; reading it to its end" : "file deleted; reading it to its end");
        if (moved) s.setPath(moved.path);
        s.poke();
      }
    }
    if (this.initial) await this.recoverOrphans(found);
    // Files with a checkpoint first: at start-up a truncated file's rotated copy must be claimed by
    // its stream before it could be mistaken for a new file.
    const order = [...found].sort((a, b) => Number(checkpoints.byInode(b[1].dev, b[1].ino).length > 0) - Number(checkpoints.byInode(a[1].dev, a[1].ino).length > 0));
    for (const [k, f] of order) {
      if (this.stopped) return;
      if (this.open.has(k) || this.quiet.get(k) === f.size) continue;
      this.quiet.delete(k);
      const pre = this.preopened.get(k);
      this.preopened.delete(k);
      await this.discover(k, f, pre?.fh);
    }
    // Files grabbed on a watch event and renamed away (or deleted) before this scan: read them whole.
    for (const [k, pre] of [...this.preopened]) {
      this.preopened.delete(k);
      if (this.stopped || this.open.has(k)) {
        await pre.fh.close().catch(() => {});
        continue;
      }
      await this.discover(k, pre, pre.fh);
      const s = this.open.get(k);
      if (s && s.mode === "live") {
        s.mode = "finishing";
        log.info({ path: s.path, fid: s.fid }, "short-lived file renamed away or deleted before the scan; reading it to its end");
      }
    }
    for (const k of this.suspects.keys()) if (!found.has(k)) this.suspects.delete(k);
    for (const k of this.quiet.keys()) if (!found.has(k)) this.quiet.delete(k);
    checkpoints.forgetOlderThan(config.files.forget_after_ms);
  }

  /** A globbed file not open right now: resume its checkpoint, or recognize a rotated copy, or start a new stream. */
  private async discover(k: string, f: { path: string; plan: InputPlan; size: number; dev: string; ino: string }, opened?: fs.FileHandle): Promise<void> {
    const { log, checkpoints, config } = this.deps;
    if (this.open.size >= config.files.max_open_files) {
      if (!this.warnedLimit) log.warn({ max_open_files: config.files.max_open_files }, "too many open files; new files wait until others close");
      this.warnedLimit = true;
      await opened?.close().catch(() => {});
      return;
    }
    this.warnedLimit = false;
    let fh: fs.FileHandle;
    try {
      fh = opened ?? (await fs.open(f.path, "r"));
    } catch (err) {
      log.warn({ path: f.path, err: String(err) }, "cannot open file; will retry");
      return;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (key(st.dev, st.ino) !== k) {
        await fh.close();
        return; // replaced between stat and open; the next scan sees the new one
      }
      const size = Number(st.size);
      const head = await preadFull(fh, Math.min(size, FP_MAX), 0);
      // 1. A checkpoint for this inode whose fingerprint still matches: resume where it left off.
      for (const c of checkpoints.byInode(f.dev, f.ino)) {
        if (c.fp_len <= head.length && sha256(head.subarray(0, c.fp_len)) === c.fp) {
          if (size < c.offset) {
            // Truncated while we were not looking: take the rest from a rotated copy if there is one.
            await this.continueFromCopy(c, f.path, f.plan, head.subarray(0, c.fp_len), f.ino);
            break;
          }
          if (size === c.offset && c.state === "done") {
            this.quiet.set(k, size);
            await fh.close();
            return; // finished and unchanged; checked again on the next scan
          }
          checkpoints.update(c.fid, { state: "active", path: f.path });
          this.startStream(f.plan, c.fid, { fh, dev: f.dev, ino: f.ino, path: f.path, pos: c.offset, fp: head.subarray(0, c.fp_len), size }, "resuming file");
          return;
        }
        // Same inode, different first bytes: the inode was reused or the file rewritten.
        await this.continueFromCopy(c, f.path, f.plan, null, f.ino);
      }
      // 2. A copy of a known stream (copy-truncate rotation): never read the same content twice.
      if (head.length >= FP_MIN_COPY) {
        for (const s of this.open.values()) {
          if (s.fp.length >= FP_MIN_COPY && s.fp.length <= head.length && head.subarray(0, s.fp.length).equals(s.fp)) {
            // It may be the copy of a file about to be truncated; wait a little before treating it as new.
            const since = this.suspects.get(k) ?? Date.now();
            this.suspects.set(k, since);
            // (a loaded host may take a while to notice the truncation: never less than SUSPECT_MIN_MS)
            if (Date.now() - since < Math.max(SUSPECT_MIN_MS, 3 * config.files.scan_interval_ms + 2 * config.files.poll_interval_ms)) {
              await fh.close();
              return;
            }
          }
        }
      }
      this.suspects.delete(k);
      // 3. A new file. At the very first start, start_at decides; files that appear later are read whole.
      const atEnd = this.initial && this.deps.firstRun && f.plan.cfg.start_at === "end";
      const pos = atEnd ? size : 0;
      const fid = randomBytes(12).toString("hex");
      checkpoints.put({ fid, path: f.path, dev: f.dev, ino: f.ino, offset: pos, fp_len: head.length, fp: sha256(head), state: "active", updated: Date.now() });
      // Persist the stream before its first record leaves, so its id survives a crash. The scan
      // does not wait for that write: the descriptor is already held, so a rename meanwhile is harmless.
      this.startStream(f.plan, fid, { fh, dev: f.dev, ino: f.ino, path: f.path, pos, fp: head, size }, atEnd ? "new file; starting at its end" : "new file", checkpoints.flush());
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  private startStream(plan: InputPlan, fid: string, init: ConstructorParameters<typeof FileStream>[3], why: string, registered?: Promise<void>): FileStream {
    const s = new FileStream(this, plan, fid, init);
    this.open.set(key(init.dev, init.ino), s);
    this.deps.log.info({ path: init.path, fid, offset: init.pos, size: init.size }, why);
    if (init.fp.length < FP_MAX) void s.refreshFp().catch(() => {});
    s.run(registered);
    return s;
  }

  /** At start-up: active checkpoints whose file is not at a globbed path were renamed away or deleted while the agent was down. */
  private async recoverOrphans(found: Map<string, { path: string }>): Promise<void> {
    const { checkpoints, log } = this.deps;
    for (const c of checkpoints.all()) {
      if (c.state !== "active" || found.has(key(c.dev, c.ino))) continue;
      const plan = this.planFor(c.path) ?? this.plans[0];
      const hit = await this.findInDir(path.dirname(c.path), async (p, st) => String(st.dev) === c.dev && String(st.ino) === c.ino && (await this.fpMatches(p, c)));
      if (hit && hit.size > c.offset) {
        const fh = await fs.open(hit.path, "r");
        const fp = await preadFull(fh, c.fp_len, 0);
        checkpoints.update(c.fid, { path: hit.path });
        const s = this.startStream(plan, c.fid, { fh, dev: c.dev, ino: c.ino, path: hit.path, pos: c.offset, fp, size: hit.size }, "finishing a file renamed while the agent was stopped");
        s.mode = "finishing";
        continue;
      }
      if (!hit && (await this.continueFromCopy(c, c.path, plan, null, null))) continue;
      checkpoints.update(c.fid, { state: "done" });
      if (!hit) log.info({ path: c.path, fid: c.fid }, "file from the last run is gone");
    }
  }

  private async fpMatches(p: string, c: StreamCheckpoint): Promise<boolean> {
    let fh: fs.FileHandle | undefined;
    try {
      fh = await fs.open(p, "r");
      const head = await preadFull(fh, c.fp_len, 0);
      return head.length === c.fp_len && sha256(head) === c.fp;
    } catch {
      return false;
    } finally {
      await fh?.close();
    }
  }

  private async findInDir(dir: string, pred: (p: string, st: { dev: bigint; ino: bigint; size: number }) => Promise<boolean>): Promise<{ path: string; dev: string; ino: string; size: number } | null> {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      return null;
    }
    let best: { path: string; dev: string; ino: string; size: number } | null = null;
    for (const n of names.slice(0, 10_000)) {
      const p = path.join(dir, n);
      let st;
      try {
        st = await fs.stat(p, { bigint: true });
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      const size = Number(st.size);
      if ((await pred(p, { dev: st.dev, ino: st.ino, size })) && (!best || size > best.size)) best = { path: p, dev: String(st.dev), ino: String(st.ino), size };
    }
    return best;
  }

  /**
   * Looks for a rotated copy of stream `c` (same first bytes, another inode) next to `file` and reads
   * it from the stream's offset. Returns true when one was found.
   */
  private async continueFromCopy(c: StreamCheckpoint, file: string, plan: InputPlan, fp: Buffer | null, notIno: string | null): Promise<boolean> {
    const { checkpoints } = this.deps;
    if (c.fp_len === 0) {
      checkpoints.update(c.fid, { state: "done" });
      return false;
    }
    const hit = await this.findInDir(path.dirname(file), async (p, st) => String(st.ino) !== notIno && !this.open.has(key(st.dev, st.ino)) && st.size >= c.fp_len && (await this.fpMatches(p, c)));
    if (!hit || hit.size <= c.offset) {
      checkpoints.update(c.fid, { state: "done" });
      return !!hit;
    }
    const fh = await fs.open(hit.path, "r");
    const head = fp ?? (await preadFull(fh, c.fp_len, 0));
    checkpoints.update(c.fid, { dev: hit.dev, ino: hit.ino, path: hit.path, state: "active" });
    const s = this.startStream(plan, c.fid, { fh, dev: hit.dev, ino: hit.ino, path: hit.path, pos: c.offset, fp: head, size: hit.size }, "reading the rest of a truncated file from its rotated copy");
    s.mode = "copy";
    return true;
  }

  /**
   * The stream's file was truncated (copy-truncate) or rewritten. Its unread rest is read from the
   * rotated copy when there is one (same stream id and offsets, so nothing is read twice); the file
   * itself becomes a new stream from its start.
   */
  truncated(s: FileStream): Promise<void> {
    return this.exclusive(() => this.handleTruncation(s));
  }

  private async handleTruncation(s: FileStream): Promise<void> {
    const { log, checkpoints } = this.deps;
    if (this.stopped) return;
    const k = key(s.dev, s.ino);
    if (this.open.get(k) === s) this.open.delete(k);
    const oldFh = s.fh;
    const copy = s.fp.length > 0 ? await this.findInDir(path.dirname(s.path), async (p, st) => key(st.dev, st.ino) !== k && !this.open.has(key(st.dev, st.ino)) && st.size >= s.fp.length && (await this.headEquals(p, s.fp))) : null;
    // A copy no longer than what was read is still claimed (read from s.pos, it ends at once): left
    // unclaimed, the next scan would take it for a new file and read it all again.
    if (copy && copy.size >= s.pos) {
      log.info({ path: s.path, copy: copy.path, fid: s.fid, offset: s.pos, copy_size: copy.size }, "file was truncated (copy-truncate); reading the rest from its rotated copy");
      const fh = await fs.open(copy.path, "r");
      s.fh = fh;
      s.dev = copy.dev;
      s.ino = copy.ino;
      s.size = copy.size;
      s.mode = "copy";
      s.setPath(copy.path);
      checkpoints.update(s.fid, { dev: copy.dev, ino: copy.ino });
      this.open.set(key(copy.dev, copy.ino), s);
      s.run();
    } else {
      if (!copy && s.size > s.pos) log.warn({ path: s.path, fid: s.fid, unread_bytes: s.size - s.pos }, "file was truncated before it was read to its end and no rotated copy was found");
      else log.info({ path: s.path, fid: s.fid }, "file was truncated; reading it again from the start as a new stream");
      s.splitter.finish();
      s.closed = true;
      checkpoints.update(s.fid, { state: "done" });
    }
    await oldFh.close().catch(() => {});
    // The truncated file itself is new content: the next scan picks it up as a new stream from offset 0.
    this.rescanSoon();
  }

  private async headEquals(p: string, fp: Buffer): Promise<boolean> {
    let fh: fs.FileHandle | undefined;
    try {
      fh = await fs.open(p, "r");
      return (await preadFull(fh, fp.length, 0)).equals(fp);
    } catch {
      return false;
    } finally {
      await fh?.close();
    }
  }
}
