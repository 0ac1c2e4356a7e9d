// An in-memory Store for the console's unit tests: the Store contract (idempotent put, versioned
// update, QueryNode search with time range, sort and search-after paging, histogram, terms) over Maps.
// Integration and end-to-end tests use the real embedded and Elasticsearch stores instead.

import { SigilError } from "../../../platform/errors.ts";
import { getField } from "../../../schema/fields.ts";
import type { JsonValue } from "../../../schema/ecs.ts";
import {
  docId,
  type Collection,
  type Doc,
  type HistogramBucket,
  type PutResult,
  type QueryNode,
  type SearchRequest,
  type SearchResult,
  type Store,
  type StoreHealth,
  type TermsBucket,
  type UpdateOptions,
} from "../../../platform/store/types.ts";

function toMs(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === "number" ? v : Date.parse(v);
}

function values(doc: Doc, field: string): JsonValue[] {
  const v = getField(doc, field);
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function wildcardRe(p: string): RegExp {
  return new RegExp("^" + p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$", "i");
}

function allStrings(v: unknown, out: string[] = []): string[] {
  if (v === null || v === undefined) return out;
  if (typeof v === "object") {
    for (const x of Array.isArray(v) ? v : Object.values(v)) allStrings(x, out);
  } else out.push(String(v));
  return out;
}

export function matches(doc: Doc, q: QueryNode | undefined): boolean {
  if (!q) return true;
  switch (q.op) {
    case "all":
      return true;
    case "and":
      return q.args.every((a) => matches(doc, a));
    case "or":
      return q.args.some((a) => matches(doc, a));
    case "not":
      return !matches(doc, q.arg);
    case "exists":
      return values(doc, q.field).length > 0;
    case "range":
      return values(doc, q.field).some((v) => {
        const x = typeof v === "number" ? v : Date.parse(String(v));
        const num = (b: number | string) => (typeof b === "number" ? b : Date.parse(b));
        if (q.gt !== undefined && !(x > num(q.gt))) return false;
        if (q.gte !== undefined && !(x >= num(q.gte))) return false;
        if (q.lt !== undefined && !(x < num(q.lt))) return false;
        if (q.lte !== undefined && !(x <= num(q.lte))) return false;
        return true;
      });
    case "term": {
      const vals = q.field === null ? allStrings(doc) : values(doc, q.field).map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v)));
      if (q.wildcard) {
        const re = wildcardRe(q.value);
        return vals.some((v) => re.test(v));
      }
      if (q.field === null || q.phrase) return vals.some((v) => v.toLowerCase().includes(q.value.toLowerCase()));
      return vals.some((v) => v === q.value);
    }
  }
}

export class MemoryStore implements Store {
  readonly kind = "embedded" as const;
  readonly data = new Map<Collection, Map<string, Doc>>();
  closed = false;

  async init(): Promise<void> {}

  private coll(c: Collection): Map<string, Doc> {
    let m = this.data.get(c);
    if (!m) this.data.set(c, (m = new Map()));
    return m;
  }

  async put(collection: Collection, docs: Doc[]): Promise<PutResult> {
    const m = this.coll(collection);
    let created = 0;
    let existing = 0;
    for (const d of docs) {
      const id = docId(collection, d);
      if (m.has(id)) {
        existing++;
        if (collection === "events" || collection === "signals") continue;
      } else created++;
      m.set(id, structuredClone(d));
    }
    return { created, existing };
  }

  async get(collection: Collection, id: string): Promise<Doc | null> {
    const d = this.coll(collection).get(id);
    return d ? structuredClone(d) : null;
  }

  async getMany(collection: Collection, ids: string[]): Promise<Doc[]> {
    const out: Doc[] = [];
    for (const id of ids) {
      const d = this.coll(collection).get(id);
      if (d) out.push(structuredClone(d));
    }
    return out;
  }

  async update(collection: Collection, id: string, fn: (current: Doc | null) => Doc | null, opts: UpdateOptions = {}): Promise<Doc | null> {
    const m = this.coll(collection);
    const cur = m.get(id) ?? null;
    const curVersion = typeof cur?.["version"] === "number" ? (cur["version"] as number) : 0;
    if (opts.expectedVersion !== undefined && curVersion !== opts.expectedVersion) {
      throw new SigilError("store_conflict", `${collection}/${id} is at version ${curVersion}, not ${opts.expectedVersion}`);
    }
    const next = fn(cur ? structuredClone(cur) : null);
    if (!next) return cur ? structuredClone(cur) : null;
    const stored = { ...next, version: curVersion + 1 };
    m.set(id, stored);
    return structuredClone(stored);
  }

  async delete(collection: Collection, ids: string[]): Promise<void> {
    for (const id of ids) this.coll(collection).delete(id);
  }

  private filtered(collection: Collection, req: SearchRequest): Doc[] {
    const tf = req.timeField ?? "@timestamp";
    const from = toMs(req.from);
    const to = toMs(req.to);
    const out: Doc[] = [];
    for (const d of this.coll(collection).values()) {
      if (from !== undefined || to !== undefined) {
        const t = Date.parse(String(getField(d, tf)));
        if (from !== undefined && !(t >= from)) continue;
        if (to !== undefined && !(t < to)) continue;
      }
      if (matches(d, req.query)) out.push(d);
    }
    return out;
  }

  async search(collection: Collection, req: SearchRequest): Promise<SearchResult> {
    const sort = req.sort?.length ? req.sort : [{ field: req.timeField ?? "@timestamp", order: "desc" as const }];
    const all = this.filtered(collection, req).sort((a, b) => {
      for (const s of sort) {
        const av = getField(a, s.field) as string | number | undefined;
        const bv = getField(b, s.field) as string | number | undefined;
        if (av === bv) continue;
        if (av === undefined) return 1;
        if (bv === undefined) return -1;
        const c = av < bv ? -1 : 1;
        return s.order === "asc" ? c : -c;
      }
      return docId(collection, a) < docId(collection, b) ? -1 : 1;
    });
    const size = Math.min(req.size ?? 100, 10_000);
    const start = req.after ? Number(req.after) : 0;
    const hits = all.slice(start, start + size).map((d) => structuredClone(d));
    const cap = req.trackTotalUpTo ?? 10_000;
    return {
      total: Math.min(all.length, cap),
      totalIsLowerBound: all.length > cap,
      hits,
      next: start + size < all.length ? String(start + size) : undefined,
    };
  }

  async count(collection: Collection, req: SearchRequest): Promise<number> {
    return this.filtered(collection, req).length;
  }

  async histogram(collection: Collection, req: SearchRequest, intervalMs: number): Promise<HistogramBucket[]> {
    const tf = req.timeField ?? "@timestamp";
    const counts = new Map<number, number>();
    for (const d of this.filtered(collection, req)) {
      const t = Date.parse(String(getField(d, tf)));
      const k = Math.floor(t / intervalMs) * intervalMs;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => a[0] - b[0]).map(([key, count]) => ({ key, count }));
  }

  async terms(collection: Collection, req: SearchRequest, field: string, size: number): Promise<TermsBucket[]> {
    const counts = new Map<string, number>();
    for (const d of this.filtered(collection, req)) {
      for (const v of values(d, field)) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, size).map(([key, count]) => ({ key, count }));
  }

  async refresh(): Promise<void> {}

  async health(): Promise<StoreHealth> {
    return { ok: !this.closed, detail: "memory" };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
