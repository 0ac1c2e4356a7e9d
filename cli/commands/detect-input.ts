// Input for `sigil detect` and `sigil rules test`: records from a file or stdin (one JSON object per
// line, concatenated pretty-printed JSON objects, or raw log lines), normalized to ECS by the ingest
// parsers (format auto-detected per stream, JSON routed per record).

import type { Readable } from "node:stream";
import { createLineNormalizer } from "../../ingest/normalize.ts";
import type { Rejection } from "../../ingest/parsers/types.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { SampleNormalizer } from "../../correlate/sigma/rule-tests.ts";

/** Largest record (a pretty-printed JSON object may span lines). */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

export interface InputRecord {
  /** The record as one line (multi-line JSON compacted onto one line). */
  text: string;
  /** 1-based index of the record in the input. */
  index: number;
  /** 1-based line where the record starts. */
  line: number;
  /** Set when the record could not be read (unbalanced or oversized JSON). */
  error?: { code: string; reason: string };
}

/**
 * Splits a text stream into records: a line is a record unless it opens a JSON object or array that
 * it does not close, in which case the following lines are added until the value is balanced.
 */
export async function* readInputRecords(stream: AsyncIterable<Buffer | string>): AsyncGenerator<InputRecord> {
  let buf = "";
  let lineNo = 0;
  let index = 0;
  let pending: string[] | null = null;
  let pendingStart = 0;
  let pendingBytes = 0;
  let depth = 0;
  let inStr = false;
  let esc = false;
  const scan = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (inStr) {
        if (esc) esc = false;
        else if (c === 92) esc = true;
        else if (c === 34) inStr = false;
      } else if (c === 34) inStr = true;
      else if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) depth--;
    }
  };
  function* onLine(raw: string): Generator<InputRecord> {
    lineNo++;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (pending) {
      pending.push(line);
      pendingBytes += line.length;
      scan(line);
      if (depth <= 0) {
        const text = pending.join("\n");
        pending = null;
        let compact = text;
        try {
          compact = JSON.stringify(JSON.parse(text));
        } catch {
          // keep the text; the parser reports it as invalid JSON with this record's line
        }
        yield { text: compact, index: ++index, line: pendingStart };
      } else if (pendingBytes > MAX_RECORD_BYTES) {
        pending = null;
        yield { text: "", index: ++index, line: pendingStart, error: { code: "record_too_large", reason: `a JSON value starting here is larger than ${MAX_RECORD_BYTES} bytes` } };
      }
      return;
    }
    const t = line.trim();
    if (t === "") return;
    if (t[0] === "{" || t[0] === "[") {
      depth = 0;
      inStr = false;
      esc = false;
      scan(t);
      if (depth > 0) {
        pending = [line];
        pendingStart = lineNo;
        pendingBytes = line.length;
        return;
      }
    }
    yield { text: line, index: ++index, line: lineNo };
  }
  for await (const chunk of stream) {
    buf += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      yield* onLine(l);
    }
    if (buf.length > MAX_RECORD_BYTES) {
      yield* onLine(buf.slice(0, MAX_RECORD_BYTES));
      buf = "";
    }
  }
  if (buf.length) yield* onLine(buf);
  if (pending) yield { text: "", index: ++index, line: pendingStart, error: { code: "json_unterminated", reason: "the input ends inside a JSON value that starts here" } };
}

export interface DetectNormalizer {
  push(rec: InputRecord): void;
  end(): void;
}

/** A streaming normalizer: records in, ECS events (with their record index) and rejections out. */
export function createDetectNormalizer(opts: {
  format?: string;
  source: string;
  onEvent: (e: EcsEvent, index: number) => void;
  onReject: (index: number, line: number, code: string, reason: string) => void;
}): DetectNormalizer {
  const lineOf = new Map<number, number>();
  const n = createLineNormalizer({
    format: opts.format,
    source: opts.source,
    onEvent: (e, idx) => opts.onEvent(e, idx ?? 0),
    onReject: (r: Rejection) => {
      const idx = r.record.line ?? 0;
      opts.onReject(idx, lineOf.get(idx) ?? idx, r.code, r.reason);
    },
  });
  return {
    push(rec) {
      if (rec.error) {
        opts.onReject(rec.index, rec.line, rec.error.code, rec.error.reason);
        return;
      }
      lineOf.set(rec.index, rec.line);
      if (lineOf.size > 100_000) lineOf.delete(lineOf.keys().next().value as number);
      n.push(rec.text, rec.index);
    },
    end() {
      n.end();
    },
  };
}

/** Normalizes one sample (for rule tests): an object or a raw line, with the same parsers as detect. */
export const normalizeSample: SampleNormalizer = (sample, where) => {
  const events: Record<string, unknown>[] = [];
  let error: string | undefined;
  const n = createLineNormalizer({
    format: sample.format,
    source: where,
    onEvent: (e) => events.push(e),
    onReject: (r) => {
      error = `${r.code}: ${r.reason}`;
    },
  });
  n.push(sample.raw !== undefined ? sample.raw : JSON.stringify(sample.object), 1);
  n.end();
  return { events, error };
};

/** Reads a whole stream (stdin or file) into records; for small inputs in tests. */
export async function collect(stream: Readable): Promise<InputRecord[]> {
  const out: InputRecord[] = [];
  for await (const r of readInputRecords(stream)) out.push(r);
  return out;
}
