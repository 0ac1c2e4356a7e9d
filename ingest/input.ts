// Reads files and streams into raw records for the parsers: gzip recognized by its magic bytes, lines
// split at the byte level with 1-based numbers and byte offsets, CRLF and a leading BOM removed, lines
// that are not UTF-8 kept byte for byte, overlong lines cut and flagged, and whole-file JSON documents
// (pretty-printed OTLP exports, CloudTrail {"Records": [...]}) passed on as one record.

import fs from "node:fs";
import path from "node:path";
import { isUtf8 } from "node:buffer";
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import type { RawRecord } from "./parsers/types.ts";
import type { JsonValue } from "../schema/ecs.ts";
import { safeJsonParse } from "../schema/fields.ts";

export interface ReadOptions {
  /** Label for RawRecord.source (a path, "stdin"). */
  source: string;
  /** Set RawRecord.path (log.file.path) and an origin of "<basename>@<offset>" for stable ids. */
  path?: string;
  /** Longer lines are cut to this many bytes and flagged (RawRecord overlong). */
  maxLineBytes?: number;
  /** A whole-file JSON document larger than this is rejected. */
  maxDocumentBytes?: number;
  /** Records per yielded batch. */
  batchSize?: number;
}

/** A line that was longer than the limit: its first bytes are in the record, `bytes` counts all of it. */
export interface Overlong {
  record: RawRecord;
  bytes: number;
}

export interface InputBatch {
  records: RawRecord[];
  overlong: Overlong[];
  /** Set once when the input turned out to be one JSON document larger than maxDocumentBytes. */
  documentTooLarge?: { record: RawRecord; bytes: number };
}

export const DEFAULT_MAX_LINE_BYTES = 256 * 1024;
export const DEFAULT_MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;

/** Opens a file (or "-" for stdin) as a byte stream, gunzipping when it starts with the gzip magic. */
export async function openInput(file: string, stdin: Readable): Promise<Readable> {
  const raw: Readable = file === "-" ? stdin : fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  return maybeGunzip(raw);
}

/** Passes the stream through gunzip when its first two bytes are 1f 8b. */
export async function maybeGunzip(raw: Readable): Promise<Readable> {
  const it = (raw as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done ? null : typeof first.value === "string" ? Buffer.from(first.value) : first.value;
  async function* all(): AsyncGenerator<Buffer> {
    if (head) yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield typeof n.value === "string" ? Buffer.from(n.value) : n.value;
    }
  }
  const joined = Readable.from(all(), { objectMode: false });
  if (head && head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gz = createGunzip();
    joined.on("error", (err) => gz.destroy(err));
    return joined.pipe(gz);
  }
  return joined;
}

/**
 * Yields batches of records from a byte stream. The first non-blank line decides the mode: when it
 * opens a JSON object/array that the line alone does not complete, the whole input is one record
 * (document mode); otherwise every line is a record.
 */
export async function* readRecords(stream: AsyncIterable<Buffer | string>, opts: ReadOptions): AsyncGenerator<InputBatch> {
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const maxDoc = opts.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  const batchSize = opts.batchSize ?? 1024;
  const origin = opts.path !== undefined ? path.basename(opts.path) : opts.source;

  let carry: Buffer[] = [];
  let carryLen = 0;
  let dropping = false; // inside an overlong line: skip bytes until the newline
  let droppedBytes = 0;
  let lineStart = 0; // byte offset of the current line
  let lineNo = 0;
  let mode = "undecided" as "undecided" | "lines" | "document";
  let doc: Buffer[] = [];
  let docLen = 0;
  let docTooLarge = false;
  let batch: InputBatch = { records: [], overlong: [] };

  const makeRecord = (bytes: Buffer, offset: number, line: number): RawRecord => {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 13) end--;
    let start = 0;
    if (offset === 0 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    const view = bytes.subarray(start, end);
    const rec: RawRecord = { data: "", source: opts.source, line, offset, origin: `${origin}@${offset}` };
    if (opts.path !== undefined) rec.path = opts.path;
    if (isUtf8(view)) rec.data = view.toString("utf8");
    else {
      rec.data = view.toString("latin1");
      rec.bytes = Uint8Array.from(view);
    }
    return rec;
  };


  const onLine = (bytes: Buffer, offset: number): void => {
    lineNo++;
    if (mode === "document") {
      if (docTooLarge) return;
      docLen += bytes.length + 1;
      if (docLen > maxDoc) {
        docTooLarge = true;
        doc = [];
        return;
      }
      doc.push(bytes, NEWLINE);
      return;
    }
    const rec = makeRecord(bytes, offset, lineNo);
    if (mode === "undecided") {
      if (rec.data.trim().length === 0) return;
      if (opensJsonDocument(rec.data)) {
        mode = "document";
        doc = [bytes, NEWLINE];
        docLen = bytes.length + 1;
        return;
      }
      mode = "lines";
    }
    if (rec.data.length === 0 || (rec.data.length < 3 && rec.data.trim().length === 0)) return;
    batch.records.push(rec);
  };

  let base = 0; // stream offset of the current chunk
  for await (const chunkIn of stream) {
    const chunk = typeof chunkIn === "string" ? Buffer.from(chunkIn) : chunkIn;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (dropping) {
        droppedBytes += end - pos;
      } else if (carryLen + (end - pos) > maxLine) {
        // overlong: keep the first maxLine bytes, count and drop the rest of the line
        const keep = maxLine - carryLen;
        carry.push(chunk.subarray(pos, pos + keep));
        const head = Buffer.concat(carry);
        droppedBytes = head.length + (end - pos - keep);
        carry = [];
        carryLen = 0;
        dropping = true;
        lineNo++;
        batch.overlong.push({ record: makeRecord(head, lineStart, lineNo), bytes: 0 });
      } else {
        carry.push(chunk.subarray(pos, end));
        carryLen += end - pos;
      }
      if (nl < 0) break;
      if (dropping) {
        batch.overlong[batch.overlong.length - 1].bytes = droppedBytes;
        dropping = false;
        droppedBytes = 0;
      } else {
        onLine(carry.length === 1 ? carry[0] : Buffer.concat(carry, carryLen), lineStart);
      }
      carry = [];
      carryLen = 0;
      pos = nl + 1;
      lineStart = base + pos;
      if (batch.records.length >= batchSize) {
        yield batch;
        batch = { records: [], overlong: [] };
      }
    }
    // an unfinished line's bytes stay referenced from carry: copy them, the chunk buffer may be reused
    if (carry.length > 0) carry = carry.map((b) => Buffer.from(b));
    base += chunk.length;
  }
  if (dropping) {
    batch.overlong[batch.overlong.length - 1].bytes = droppedBytes;
  } else if (carryLen > 0) {
    onLine(Buffer.concat(carry, carryLen), lineStart);
  }
  if ((mode as string) === "document") {
    const first: RawRecord = { data: "", source: opts.source, line: 1, offset: 0, origin: `${origin}@0` };
    if (opts.path !== undefined) first.path = opts.path;
    if (docTooLarge) {
      batch.documentTooLarge = { record: first, bytes: docLen };
    } else {
      const all = Buffer.concat(doc);
      const rec = makeRecord(all.subarray(0, Math.max(0, all.length - 1)), 0, 1);
      rec.data = rec.data.trim();
      for (const r of splitJsonArray(rec)) batch.records.push(r);
    }
  }
  yield batch;
}

const NEWLINE = Buffer.from("\n");

/**
 * True when the first line of an input opens a JSON document that the line alone does not complete:
 * "{", "[", '{"key": ...', '[{...' do; "[Mon Dec 26 ...] ..." (an Apache error log) does not.
 */
export function opensJsonDocument(firstLine: string): boolean {
  const t = firstLine.trim();
  if (!/^(\{\s*("|$)|\[\s*(\{|\[|"|$))/.test(t)) return false;
  try {
    JSON.parse(t);
    return false;
  } catch {
    return true;
  }
}

/**
 * A document that is a JSON array (Winlogbeat golden files, exports of event lists) becomes one record
 * per element, so each element is parsed, counted and dead-lettered on its own. Anything else, and
 * arrays that do not parse, stay one record.
 */
function splitJsonArray(rec: RawRecord): RawRecord[] {
  if (rec.data.charCodeAt(0) !== 91 /* [ */) return [rec];
  let parsed: JsonValue;
  try {
    parsed = safeJsonParse(rec.data);
  } catch {
    return [rec];
  }
  if (!Array.isArray(parsed)) return [rec];
  return parsed.map((el, i) => ({ ...rec, data: JSON.stringify(el), bytes: undefined, origin: `${rec.origin}#${i}` }));
}
