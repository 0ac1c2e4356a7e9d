// Input for `sigil detect` and `sigil rules test`: records from a file or stdin (one JSON object per
// line, concatenated pretty-printed JSON objects, or raw log lines), normalized to ECS by the ingest
// parsers (format auto-detected per stream, JSON routed per record).

import type { Readable } from "node:stream";
import { readRecords } from "../../ingest/input.ts";
import { safeJsonParse } from "../../schema/fields.ts";
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
 * Splits a byte stream into records with the ingest reader (ingest/input.ts readRecords): a line is a
 * record unless it opens a JSON object or array that it does not close, in which case the following
 * lines are added until the value is balanced; a top-level array gives one record per element. Values
 * that span lines are compacted onto one line (the line normalizer reads one record per line).
 */
export async function* readInputRecords(stream: AsyncIterable<Buffer | string>, source = "input"): AsyncGenerator<InputRecord> {
  let index = 0;
  const pending: { line: number; rec: Omit<InputRecord, "index"> }[] = [];
  for await (const batch of readRecords(stream, { source, maxLineBytes: MAX_RECORD_BYTES, maxDocumentBytes: MAX_RECORD_BYTES, batchSize: 256 })) {
    for (const r of batch.records) {
      const line = r.line ?? 0;
      if (r === batch.unterminated) {
        pending.push({ line, rec: { text: "", line, error: { code: "json_unterminated", reason: "the input ends inside a JSON value that starts here" } } });
        continue;
      }
      let text = r.data;
      if (text.includes("\n")) {
        try {
          text = JSON.stringify(safeJsonParse(text));
        } catch {
          text = text.replace(/\r?\n/g, " "); // invalid JSON: the parser reports it with this record's line
        }
      }
      pending.push({ line, rec: { text, line } });
    }
    for (const o of batch.overlong) {
      pending.push({ line: o.record.line ?? 0, rec: { text: "", line: o.record.line ?? 0, error: { code: "record_too_large", reason: `a line of ${o.bytes} bytes is larger than ${MAX_RECORD_BYTES} bytes` } } });
    }
    if (batch.documentTooLarge) {
      const d = batch.documentTooLarge;
      pending.push({ line: d.record.line ?? 0, rec: { text: "", line: d.record.line ?? 0, error: { code: "record_too_large", reason: `a JSON value of ${d.bytes} bytes starting here is larger than ${MAX_RECORD_BYTES} bytes` } } });
    }
    // records, overlong lines and oversized values come in separate lists: numbered in input order
    pending.sort((a, b) => a.line - b.line);
    for (const p of pending) yield { ...p.rec, index: ++index };
    pending.length = 0;
  }
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
