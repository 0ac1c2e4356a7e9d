// Reads several input files of different formats (gzip accepted) as one stream of normalized events
// in event time: each file is normalized on its own (format auto-detected), and a bounded reorder
// heap merges the files, pulling from whichever file is furthest behind in time.

import fs from "node:fs";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import type { EcsEvent, JsonObject } from "../../schema/ecs.ts";
import { UsageError } from "../../platform/errors.ts";
import { maybeGunzip, readRecords } from "../../ingest/input.ts";
import { Normalizer, checkTimezone } from "../../ingest/normalize.ts";
import { defaultParseContext, type Emit, type Rejection } from "../../ingest/parsers/types.ts";

export interface TimedEvent {
  t: number;
  seq: number;
  e: EcsEvent;
  /** The input file as the user named it, and the record's 1-based line. */
  file: string;
  line: number;
}

export interface InputRejection {
  file: string;
  line?: number;
  offset?: number;
  code: string;
  reason: string;
  raw: string;
}

export interface MergeOptions {
  format?: string;
  timezone?: string;
  /** Events held to put slightly out-of-order input back in time order. */
  reorderWindow?: number;
  onReject(r: InputRejection): void;
  /** Raw (compressed) bytes read so far across all files. */
  onBytes?(n: number): void;
  /** Decided format per file, once known. */
  onFormat?(file: string, format: string | null): void;
}

/** Records a parser may hold per file to calibrate a source's clock before emitting them. */
const CLOCK_LOOKAHEAD = 20_000;

interface FileState {
  file: string;
  it: AsyncGenerator<TimedEvent[]>;
  lastT: number;
  done: boolean;
}

/** Total size of the inputs in bytes (for the progress bar). */
export function inputBytes(files: string[]): number {
  let n = 0;
  for (const f of files) {
    try {
      n += fs.statSync(f).size;
    } catch {
      // reported when the file is opened
    }
  }
  return n;
}

/** Checks every input exists and is a readable file before any work starts. */
export function checkInputs(files: string[]): void {
  if (files.length === 0) throw new UsageError("replay_no_input", "give at least one --input file", { hint: "sigil replay --input host.jsonl.gz --input zeek/*.log" });
  for (const f of files) {
    let st: fs.Stats;
    try {
      st = fs.statSync(f);
    } catch (err) {
      throw new UsageError("input_unreadable", `cannot read input ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { location: { file: f }, hint: "check the path" });
    }
    if (!st.isFile()) throw new UsageError("input_not_file", `input ${f} is not a file`, { location: { file: f }, hint: "give files; for a folder of logs use a glob such as dir/*.log" });
  }
}

async function* fileEvents(file: string, opts: MergeOptions, seqBase: { n: number }): AsyncGenerator<TimedEvent[]> {
  const raw = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  const counter = new PassThrough({ highWaterMark: 256 * 1024 });
  raw.on("data", (c: Buffer | string) => opts.onBytes?.(c.length));
  raw.on("error", (err) => counter.destroy(err));
  raw.pipe(counter);
  const stream: Readable = await maybeGunzip(counter);
  // offline: a parser may hold records back to calibrate a source's clock (Windows export skew)
  const ctx = defaultParseContext({ timezone: checkTimezone(opts.timezone), clockLookahead: CLOCK_LOOKAHEAD });
  const norm = new Normalizer({ format: opts.format ?? "auto", ctx, pathHint: file });
  // log.offset on an event → the line of its record (records come out within a short distance)
  const lineOfOffset = new Map<number, number>();
  let currentLine = 0;
  let out: TimedEvent[] = [];
  const emit: Emit = {
    event(e: EcsEvent) {
      const off = (e.log as JsonObject | undefined)?.["offset"];
      const line = (typeof off === "number" ? lineOfOffset.get(off) : undefined) ?? currentLine;
      const t = Date.parse(e["@timestamp"]);
      out.push({ t: Number.isFinite(t) ? t : 0, seq: seqBase.n++, e, file, line });
    },
    reject(r: Rejection) {
      opts.onReject({ file, line: r.record.line, offset: r.record.offset, code: r.code, reason: r.reason, raw: r.record.data.slice(0, 4096) });
    },
  };
  let announced = false;
  for await (const batch of readRecords(stream, { source: file, path: file, batchSize: 256 })) {
    for (const o of batch.overlong) {
      opts.onReject({ file, line: o.record.line, offset: o.record.offset, code: "line_too_long", reason: `line longer than the limit (${o.bytes} bytes); its start was kept`, raw: o.record.data.slice(0, 4096) });
    }
    if (batch.documentTooLarge) {
      const d = batch.documentTooLarge;
      opts.onReject({ file, line: d.record.line, code: "document_too_large", reason: `JSON document of ${d.bytes} bytes is larger than the limit`, raw: d.record.data.slice(0, 4096) });
    }
    for (const rec of batch.records) {
      currentLine = rec.line ?? currentLine;
      if (rec.offset !== undefined && rec.line !== undefined) {
        lineOfOffset.set(rec.offset, rec.line);
        if (lineOfOffset.size > 200_000) lineOfOffset.delete(lineOfOffset.keys().next().value as number);
      }
      norm.push(rec, emit);
    }
    if (!announced && norm.format !== null) {
      announced = true;
      opts.onFormat?.(file, norm.format);
    }
    if (out.length) {
      yield out;
      out = [];
    }
  }
  norm.flush(emit);
  if (!announced) opts.onFormat?.(file, norm.format);
  if (out.length) yield out;
}

/** A binary min-heap of events by (time, arrival). */
class EventHeap {
  private a: TimedEvent[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): TimedEvent | undefined {
    return this.a[0];
  }
  push(x: TimedEvent): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p], a[i])) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): TimedEvent | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l], a[m])) m = l;
        if (r < a.length && less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

function less(x: TimedEvent, y: TimedEvent): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}

/** Yields batches of events from all files in (nearly) event-time order; memory bounded by the reorder window. */
export async function* mergeInputs(files: string[], opts: MergeOptions): AsyncGenerator<TimedEvent[]> {
  const seq = { n: 0 };
  const states: FileState[] = files.map((file) => ({ file, it: fileEvents(file, opts, seq), lastT: -Infinity, done: false }));
  const heap = new EventHeap();
  const window = opts.reorderWindow ?? 50_000;
  for (;;) {
    let next: FileState | null = null;
    for (const s of states) if (!s.done && (next === null || s.lastT < next.lastT)) next = s;
    if (!next) break;
    const r = await next.it.next();
    if (r.done) {
      next.done = true;
      continue;
    }
    for (const ev of r.value) {
      heap.push(ev);
      if (ev.t > next.lastT) next.lastT = ev.t;
    }
    // k-way merge: every file has read past `upTo`, so events up to it are in order; the window bounds
    // memory when a file is far out of order (events then leave in arrival order, slightly late)
    let upTo = Infinity;
    for (const st of states) if (!st.done && st.lastT < upTo) upTo = st.lastT;
    const out: TimedEvent[] = [];
    while (heap.size > 0 && (heap.peek()!.t <= upTo || heap.size > window)) out.push(heap.pop()!);
    if (out.length) yield out;
  }
  const out: TimedEvent[] = [];
  while (heap.size) {
    out.push(heap.pop()!);
    if (out.length >= 4096) {
      yield out.splice(0, out.length);
    }
  }
  if (out.length) yield out;
}

/** How the file is named in output: as given, relative paths kept relative. */
export function displayName(file: string, cwd: string): string {
  return path.isAbsolute(file) && file.startsWith(cwd + path.sep) ? path.relative(cwd, file) : file;
}
