// Reads the server's Arrow IPC answers: result pages (one record batch each) and histogram buckets.
// Rows are read column by column on demand, so a 100,000-row result costs no per-row objects until a
// row scrolls into view.

import { tableFromIPC, type Table } from "apache-arrow";
import { request } from "../../lib/api.ts";

export interface Page {
  table: Table;
  total: number;
  totalIsLowerBound: boolean;
  next: string | null;
  tookMs: number;
}

export async function fetchPage(path: string, signal?: AbortSignal): Promise<Page> {
  const res = await request(path, { signal, accept: "application/vnd.apache.arrow.stream" });
  const table = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
  return {
    table,
    total: Number(res.headers.get("x-sigil-total") ?? table.numRows),
    totalIsLowerBound: res.headers.get("x-sigil-total-lower-bound") === "true",
    next: res.headers.get("x-sigil-next"),
    tookMs: Number(res.headers.get("x-sigil-took-ms") ?? "0"),
  };
}

export interface Buckets {
  keys: Float64Array;
  counts: Uint32Array;
  interval: number;
  total: number;
}

export async function fetchHistogram(path: string, signal?: AbortSignal): Promise<Buckets> {
  const res = await request(path, { signal, accept: "application/vnd.apache.arrow.stream" });
  const t = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
  const n = t.numRows;
  const keys = new Float64Array(n);
  const counts = new Uint32Array(n);
  const k = t.getChild("key")!;
  const c = t.getChild("count")!;
  for (let i = 0; i < n; i++) {
    keys[i] = Number(k.get(i));
    counts[i] = Number(c.get(i));
  }
  return { keys, counts, interval: Number(res.headers.get("x-sigil-interval-ms") ?? "0"), total: Number(res.headers.get("x-sigil-total") ?? "0") };
}

export const COLUMNS = ["@timestamp", "event.dataset", "host.name", "user.name", "source.ip", "message"] as const;

/** All loaded pages as one row-indexed view. */
export class Results {
  readonly pages: Table[] = [];
  private starts: number[] = [];
  length = 0;

  add(t: Table): void {
    this.starts.push(this.length);
    this.pages.push(t);
    this.length += t.numRows;
  }

  private locate(i: number): [Table, number] {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return [this.pages[lo], i - this.starts[lo]];
  }

  value(i: number, column: string): unknown {
    const [t, j] = this.locate(i);
    return t.getChild(column)?.get(j) ?? null;
  }
}
