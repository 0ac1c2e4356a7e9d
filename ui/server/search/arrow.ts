// Search results and histogram buckets as Arrow IPC streams: one record batch per page, columns built
// straight from buffers (no per-value builder objects), so a 100,000-row page costs one pass over the
// strings. The browser reads the columns it shows without parsing every document.

import { makeData, makeVector, Table, tableToIPC, TimestampMillisecond, Uint32, Utf8, type Vector } from "apache-arrow";
import { getField, splitPath, type FieldPath } from "../../../schema/fields.ts";
import type { Doc, HistogramBucket } from "../../../platform/store/types.ts";

/**
 * Columns of a result page, in order: what the results table shows. The whole event travels only when a
 * row is opened (GET /api/events/:id), so a page carries no copy of every document.
 */
export const RESULT_COLUMNS = ["@timestamp", "event.id", "event.dataset", "host.name", "user.name", "source.ip", "message"] as const;

const PATHS = {
  id: splitPath("event.id"),
  dataset: splitPath("event.dataset"),
  host: splitPath("host.name"),
  user: splitPath("user.name"),
  sourceIp: splitPath("source.ip"),
  original: splitPath("event.original"),
  ruleTitle: splitPath("rule.title"),
};

/** Nested lookup on pre-split paths; falls back to getField for documents with literal dotted keys. */
function at(doc: Doc, path: FieldPath): unknown {
  let cur: unknown = doc;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== "object") {
      cur = undefined;
      break;
    }
    cur = (cur as Record<string, unknown>)[path[i]];
  }
  return cur === undefined ? getField(doc, path) : cur;
}

const MESSAGE_CHARS = 1000;

/** A nullable UTF-8 column from strings (null = missing). */
export function utf8Column(values: (string | null)[]): Vector<Utf8> {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  let total = 0;
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null) nulls++;
    else total += Buffer.byteLength(v, "utf8");
  }
  const data = Buffer.allocUnsafe(total);
  const validity = nulls ? new Uint8Array((n + 7) >> 3) : undefined;
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v !== null) {
      pos += data.write(v, pos, "utf8");
      if (validity) validity[i >> 3] |= 1 << (i & 7);
    }
    offsets[i + 1] = pos;
  }
  return makeVector(
    makeData({ type: new Utf8(), length: n, nullCount: nulls, nullBitmap: validity, valueOffsets: offsets, data: new Uint8Array(data.buffer, data.byteOffset, total) }),
  );
}

/** Epoch milliseconds as an Arrow timestamp column (int64 written as two 32-bit words; no BigInt per value). */
export function timestampColumn(ms: ArrayLike<number>): Vector<TimestampMillisecond> {
  const n = ms.length;
  const words = new Int32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const v = Number.isFinite(ms[i]) ? Math.trunc(ms[i]) : 0;
    const lo = v % 4294967296;
    const low = lo < 0 ? lo + 4294967296 : lo;
    words[2 * i] = low | 0;
    words[2 * i + 1] = Math.floor(v / 4294967296) | 0;
  }
  return makeVector(makeData({ type: new TimestampMillisecond(), length: n, nullCount: 0, data: new BigInt64Array(words.buffer) }));
}

function str(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ");
  return JSON.stringify(v);
}

/** The one-line text the results table shows for an event. */
export function summaryOf(doc: Doc): string | null {
  const m = doc["message"] ?? at(doc, PATHS.original) ?? at(doc, PATHS.ruleTitle);
  const s = str(m);
  return s === null ? null : s.length > MESSAGE_CHARS ? s.slice(0, MESSAGE_CHARS) + "…" : s;
}

/** One page of search hits as an Arrow IPC stream. */
export function hitsToArrow(hits: Doc[]): Uint8Array {
  const n = hits.length;
  const ts = new Float64Array(n);
  const cols: (string | null)[][] = RESULT_COLUMNS.slice(1).map(() => new Array(n));
  for (let i = 0; i < n; i++) {
    const d = hits[i];
    const t = Date.parse(String(d["@timestamp"] ?? ""));
    ts[i] = Number.isFinite(t) ? t : 0;
    cols[0][i] = str(at(d, PATHS.id));
    cols[1][i] = str(at(d, PATHS.dataset));
    cols[2][i] = str(at(d, PATHS.host));
    cols[3][i] = str(at(d, PATHS.user));
    cols[4][i] = str(at(d, PATHS.sourceIp));
    cols[5][i] = summaryOf(d);
  }
  const table = new Table({
    "@timestamp": timestampColumn(ts),
    "event.id": utf8Column(cols[0]),
    "event.dataset": utf8Column(cols[1]),
    "host.name": utf8Column(cols[2]),
    "user.name": utf8Column(cols[3]),
    "source.ip": utf8Column(cols[4]),
    message: utf8Column(cols[5]),
  });
  return tableToIPC(table, "stream");
}

/** Histogram buckets (start, count) as an Arrow IPC stream. */
export function bucketsToArrow(buckets: HistogramBucket[]): Uint8Array {
  const keys = new Float64Array(buckets.length);
  const counts = new Uint32Array(buckets.length);
  for (let i = 0; i < buckets.length; i++) {
    keys[i] = buckets[i].key;
    counts[i] = buckets[i].count;
  }
  const table = new Table({
    key: timestampColumn(keys),
    count: makeVector(makeData({ type: new Uint32(), length: counts.length, nullCount: 0, data: counts })),
  });
  return tableToIPC(table, "stream");
}

/** Picks a histogram interval giving at most `maxBuckets` buckets over [from, to), from a list of round sizes. */
export function autoInterval(from: number, to: number, maxBuckets = 200): number {
  const steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400, 30 * 86_400].map((s) => s * 1000);
  const span = Math.max(1, to - from);
  for (const s of steps) if (span / s <= maxBuckets) return s;
  return steps[steps.length - 1];
}

/** Fills empty buckets with zero counts so the chart shows gaps as gaps. */
export function fillBuckets(buckets: HistogramBucket[], from: number, to: number, interval: number, max = 100_000): HistogramBucket[] {
  const start = Math.floor(from / interval) * interval;
  const n = Math.ceil((to - start) / interval);
  if (n <= 0 || n > max) return buckets;
  const byKey = new Map(buckets.map((b) => [b.key, b.count]));
  const out: HistogramBucket[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const key = start + i * interval;
    out[i] = { key, count: byKey.get(key) ?? 0 };
  }
  return out;
}
