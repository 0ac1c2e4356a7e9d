// Reads files and streams into raw records for the parsers (sigil normalize, ingest, replay, detect):
// gzip recognized by its magic bytes, lines split at the byte level with 1-based numbers and byte
// offsets, CRLF and a leading BOM removed, lines that are not UTF-8 kept byte for byte, overlong lines
// cut and flagged, and JSON values that span lines (pretty-printed documents, concatenated objects,
// arrays split into their elements) gathered into records with the line where each starts.

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
  /** A JSON value spanning lines that is larger than this is rejected (document_too_large). */
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
  /** A JSON value larger than maxDocumentBytes ended in this batch (its start is in the record; nothing else of it is kept). */
  documentTooLarge?: { record: RawRecord; bytes: number };
  /** The input ended inside a JSON value: this record (also in `records`, where its parser rejects it) is that value. */
  unterminated?: RawRecord;
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
 * Yields batches of records from a byte stream: one record per line, except that a line opening a
 * JSON value (object or array) it does not close gathers the following lines until the value closes.
 * So NDJSON, concatenated pretty-printed JSON objects (the SigmaHQ regression event files), one
 * pretty-printed document (an OTLP export, CloudTrail {"Records": [...]}) and raw log lines all read
 * the same way, each record with the 1-based line and byte offset where it starts. A top-level JSON
 * array becomes one record per element, each with the line where the element starts.
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
  let batch: InputBatch = { records: [], overlong: [] };
  /** A value closed past the size limit (or the input ended inside one): hand the batch over now. */
  let yieldNow = false;

  // the JSON value being gathered over several lines
  const scanner = new JsonScanner();
  let inValue = false;
  let pieces: Buffer[] = [];
  let valueLen = 0;
  let valueLine = 0;
  let valueOffset = 0;
  let valueTooLarge = false;
  let valueHead: Buffer | null = null;

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

  /** A finished value: one record, or one per element of a top-level array. */
  const pushValue = (rec: RawRecord): void => {
    rec.data = rec.data.trim();
    if (scanner.isArray && rec.data.charCodeAt(0) === 91 /* [ */) for (const r of splitJsonArray(rec, scanner.elements)) batch.records.push(r);
    else batch.records.push(rec);
  };

  const addPiece = (b: Buffer): void => {
    valueLen += b.length + 1;
    if (valueTooLarge) return;
    if (valueLen > maxDoc) {
      valueTooLarge = true;
      valueHead = Buffer.concat(pieces).subarray(0, 1024);
      pieces = [];
      return;
    }
    pieces.push(Buffer.from(b)); // a copy: the chunk buffer may be reused
  };

  const finishValue = (): void => {
    inValue = false;
    if (valueTooLarge) {
      const rec = makeRecord(valueHead ?? Buffer.alloc(0), valueOffset, valueLine);
      batch.documentTooLarge = { record: rec, bytes: valueLen - 1 };
      yieldNow = true;
    } else {
      const rec = makeRecord(joinLines(pieces), valueOffset, valueLine);
      pushValue(rec);
    }
    pieces = [];
    valueHead = null;
    valueTooLarge = false;
    valueLen = 0;
  };

  /** The bytes of a line from `pos` (past what an earlier value used): a JSON value opening, or a line record. */
  const fromPosition = (bytes: Buffer, pos: number, offset: number): void => {
    let len = bytes.length;
    if (len > 0 && bytes[len - 1] === 13) len--;
    let p = pos;
    if (offset === 0 && p === 0 && len >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) p = 3;
    while (p < len && (bytes[p] === 32 || bytes[p] === 9 || (pos > 0 && bytes[p] === 44))) p++;
    if (p >= len) {
      if (pos === 0) lineRecord(bytes, offset);
      return;
    }
    const c = bytes[p];
    if ((c === 123 || c === 91) && opensJsonValue(bytes.toString("latin1", p, Math.min(len, p + 16)))) {
      scanner.reset();
      const end = scanner.scan(bytes, p, len, lineNo, offset);
      // a value that starts the line keeps the line's offset (and origin), as whole-file documents always had
      const at = pos === 0 ? offset : offset + p;
      if (end >= 0) {
        if (pos === 0) {
          // complete on its line (NDJSON): the whole line is the record, anything after the value included
          const rec = makeRecord(bytes, offset, lineNo);
          let rest = end;
          while (rest < len && (bytes[rest] === 32 || bytes[rest] === 9)) rest++;
          if (scanner.isArray && rest === len) pushValue(rec);
          else if (rec.data.length > 0) batch.records.push(rec);
        } else {
          pushValue(makeRecord(bytes.subarray(p, end), at, lineNo));
          fromPosition(bytes, end, offset);
        }
        return;
      }
      inValue = true;
      valueLine = lineNo;
      valueOffset = at;
      addPiece(bytes.subarray(p, len));
      return;
    }
    if (pos === 0) lineRecord(bytes, offset);
    else batch.records.push(makeRecord(bytes.subarray(p), offset + p, lineNo));
  };

  const lineRecord = (bytes: Buffer, offset: number): void => {
    const rec = makeRecord(bytes, offset, lineNo);
    if (rec.data.length === 0 || (rec.data.length < 3 && rec.data.trim().length === 0)) return;
    batch.records.push(rec);
  };

  const onLine = (bytes: Buffer, offset: number): void => {
    lineNo++;
    if (!inValue) {
      fromPosition(bytes, 0, offset);
      return;
    }
    let len = bytes.length;
    if (len > 0 && bytes[len - 1] === 13) len--;
    const end = scanner.scan(bytes, 0, len, lineNo, offset);
    addPiece(bytes.subarray(0, end < 0 ? len : end));
    if (end < 0) return;
    finishValue();
    if (end < len) fromPosition(bytes, end, offset);
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
      if (batch.records.length >= batchSize || yieldNow) {
        yieldNow = false;
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
  if (inValue) {
    // the input ended inside a JSON value: kept as one record (its parser rejects it with this line)
    if (valueTooLarge) finishValue();
    else {
      const rec = makeRecord(joinLines(pieces), valueOffset, valueLine);
      rec.data = rec.data.trim();
      batch.records.push(rec);
      batch.unterminated = rec;
      inValue = false;
    }
  }
  yield batch;
}

function joinLines(pieces: Buffer[]): Buffer {
  if (pieces.length === 1) return pieces[0];
  const parts: Buffer[] = [];
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0) parts.push(NEWLINE);
    parts.push(pieces[i]);
  }
  return Buffer.concat(parts);
}

/**
 * Follows JSON structure over the bytes of one value, line by line (braces and brackets outside
 * strings; multi-byte UTF-8 never contains these ASCII bytes). For a top-level array it notes where
 * each element starts.
 */
export class JsonScanner {
  depth = 0;
  inStr = false;
  esc = false;
  isArray = false;
  private expectElement = false;
  /** Start of each element of a top-level array: line and byte offset. */
  elements: { line: number; offset: number }[] = [];

  reset(): void {
    this.depth = 0;
    this.inStr = false;
    this.esc = false;
    this.isArray = false;
    this.expectElement = false;
    this.elements = [];
  }

  /** Scans bytes [from, to); returns the index just past the byte that closes the value, or -1. */
  scan(b: Uint8Array, from: number, to: number, line: number, lineOffset: number): number {
    let depth = this.depth;
    let inStr = this.inStr;
    let esc = this.esc;
    for (let i = from; i < to; i++) {
      const c = b[i];
      if (inStr) {
        if (esc) esc = false;
        else if (c === 92) esc = true;
        else if (c === 34) inStr = false;
        continue;
      }
      if (this.expectElement && depth === 1 && c !== 32 && c !== 9 && c !== 13 && c !== 44 && c !== 93) {
        if (this.elements.length < MAX_TRACKED_ELEMENTS) this.elements.push({ line, offset: lineOffset + i });
        this.expectElement = false;
      }
      if (c === 34) inStr = true;
      else if (c === 123 || c === 91) {
        if (depth === 0) {
          this.isArray = c === 91;
          this.expectElement = this.isArray;
        }
        depth++;
      } else if (c === 125 || c === 93) {
        depth--;
        if (depth === 0) {
          this.depth = 0;
          this.inStr = false;
          this.esc = false;
          return i + 1;
        }
      } else if (c === 44 && depth === 1 && this.isArray) this.expectElement = true;
    }
    this.depth = depth;
    this.inStr = inStr;
    this.esc = esc;
    return -1;
  }
}

/** Element starts remembered per array (beyond this, elements get the array's line). */
const MAX_TRACKED_ELEMENTS = 1_000_000;

/** True when text (at a line's first non-blank character) opens a JSON object or array: "{", '{"', "[", "[{", '["', "[[" ("[Mon Dec 26 ...]" does not). */
function opensJsonValue(t: string): boolean {
  return /^(\{\s*("|\}|$)|\[\s*(\{|\[|"|\]|$))/.test(t);
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
 * A value that is a JSON array (Winlogbeat golden files, exports of event lists) becomes one record
 * per element, each with the line and offset where it starts, so each element is parsed, counted and
 * dead-lettered on its own. Arrays that do not parse stay one record.
 */
function splitJsonArray(rec: RawRecord, starts: { line: number; offset: number }[]): RawRecord[] {
  let parsed: JsonValue;
  try {
    parsed = safeJsonParse(rec.data);
  } catch {
    return [rec];
  }
  if (!Array.isArray(parsed)) return [rec];
  const exact = starts.length === parsed.length;
  return parsed.map((el, i) => ({ ...rec, data: JSON.stringify(el), bytes: undefined, origin: `${rec.origin}#${i}`, line: exact ? starts[i].line : rec.line, offset: exact ? starts[i].offset : rec.offset }));
}
