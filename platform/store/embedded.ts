// The embedded store: one SQLite database on local disk (WAL, fsync on commit), one table per
// collection with the document as JSONB, FTS5 for free text, expression indexes for the fields the
// console filters on. Writes are batched transactions on the main thread; searches run in reader
// worker threads. See docs/decisions/0006-embedded-store-sqlite.md for the choice and its measurements.

import path from "node:path";
import { Worker } from "node:worker_threads";
import type BetterSqlite3 from "better-sqlite3";
import { SigilError, UsageError } from "../errors.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import { logger } from "../telemetry/log.ts";
import type { StoreConfig } from "../config/schema.ts";
import { StoreRejectError } from "./errors.ts";
import { MAX_ARRAY_PATHS, QueryEngine, createSchema, openDb, type Db, type RawSearchResult } from "./embedded-db.ts";
import type { WorkerRequest, WorkerResponse } from "./embedded-worker-protocol.ts";
import { VALUE_GAP, canonicalize, documentText, isImmutable } from "./fields.ts";
import { docsWritten, retentionDeleted, timed } from "./metrics.ts";
import { ftsTable, table } from "./sql.ts";
import type { Collection, Doc, HistogramBucket, PutResult, RejectedDoc, SearchRequest, SearchResult, Store, StoreHealth, TermsBucket, UpdateOptions } from "./types.ts";
import { COLLECTIONS } from "./types.ts";

const log = logger("store");

export interface EmbeddedOptions {
  /** Database file, or ":memory:" (tests; no reader workers). */
  file: string;
  synchronous?: "full" | "normal";
  cacheMb?: number;
  /** Reader worker threads for searches; 0 runs them on the calling thread. */
  queryWorkers?: number;
  maxDocBytes?: number;
  /** Retention in days per collection (events, signals); null keeps them. */
  retentionDays?: Partial<Record<Collection, number | null>>;
  /** Delete the oldest events when the database's used pages exceed this many bytes. */
  maxBytes?: number | null;
  /** Run retention every this many seconds (0 = only when enforceRetention is called). */
  retentionIntervalS?: number;
  now?: () => number;
}

/** Options from the store config section; relative paths resolve against the data directory. */
export function embeddedOptionsFromConfig(cfg: StoreConfig, dataDir: string): EmbeddedOptions {
  const e = cfg.embedded;
  return {
    file: e.path === ":memory:" ? e.path : path.resolve(dataDir, e.path),
    synchronous: e.synchronous,
    cacheMb: e.cache_mb,
    queryWorkers: e.path === ":memory:" ? 0 : e.query_workers,
    maxDocBytes: e.max_doc_bytes,
    retentionDays: { events: cfg.retention.events_days, signals: cfg.retention.signals_days },
    maxBytes: e.max_size_mb === null ? null : e.max_size_mb * 1024 * 1024,
    retentionIntervalS: cfg.retention.check_interval_s,
  };
}

type Statement = BetterSqlite3.Statement;
interface Stmts {
  insertIgnore: Statement;
  insert: Statement;
  selectRowid: Statement;
  update: Statement;
  ftsInsert: Statement;
  ftsDelete: Statement;
  get: Statement;
  deleteById: Statement;
  arrayPath: Statement;
}


export interface RetentionResult {
  deleted: Partial<Record<Collection, number>>;
  bytesBefore: number;
  bytesAfter: number;
}

export class EmbeddedStore implements Store {
  readonly kind = "embedded" as const;
  private db: Db | null = null;
  private engine: QueryEngine | null = null;
  private readonly stmts = new Map<Collection, Stmts>();
  /** Array paths remembered per collection: path → holds objects. */
  private readonly arrayPaths = new Map<Collection, Map<string, boolean>>();
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; worker: Worker }>();
  private nextReq = 1;
  private rr = 0;
  private timer: NodeJS.Timeout | null = null;
  private retentionRunning: Promise<RetentionResult> | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: EmbeddedOptions) {
    this.now = opts.now ?? Date.now;
  }

  async init(): Promise<void> {
    if (this.db) return;
    const db = openDb(this.opts.file, { synchronous: this.opts.synchronous, cacheMb: this.opts.cacheMb });
    try {
      createSchema(db);
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
    this.engine = new QueryEngine(db, this.now);
    for (const c of COLLECTIONS) {
      const rows = db.prepare(`SELECT path, objects FROM sigil_array_paths WHERE collection = ?`).all(c) as Array<{ path: string; objects: number }>;
      this.arrayPaths.set(c, new Map(rows.map((r) => [r.path, r.objects === 1])));
    }
    const n = this.opts.file === ":memory:" ? 0 : (this.opts.queryWorkers ?? 1);
    for (let i = 0; i < n; i++) this.workers.push(this.startWorker());
    const every = this.opts.retentionIntervalS ?? 0;
    if (every > 0 && this.hasRetention()) {
      this.timer = setInterval(() => {
        this.enforceRetention().catch((err) => log.error({ err: String(err) }, "embedded store retention failed"));
      }, every * 1000);
      this.timer.unref();
    }
    log.info({ file: this.opts.file, workers: n }, "embedded store open");
  }

  private hasRetention(): boolean {
    return Object.values(this.opts.retentionDays ?? {}).some((d) => typeof d === "number") || typeof this.opts.maxBytes === "number";
  }

  private startWorker(): Worker {
    const w = new Worker(new URL("./embedded-worker-boot.js", import.meta.url), { workerData: { file: this.opts.file, cacheMb: this.opts.cacheMb ?? 64 } });
    w.unref();
    w.on("message", (m: WorkerResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else {
        const E = m.error.exitCode === 2 ? UsageError : SigilError;
        p.reject(new E(m.error.code, m.error.message, { hint: m.error.hint, location: m.error.location }));
      }
    });
    const fail = (why: string) => {
      for (const [id, p] of this.pending) {
        if (p.worker !== w) continue;
        this.pending.delete(id);
        p.reject(new SigilError("store_unavailable", `the embedded store's reader thread stopped: ${why}`, { hint: "retry; the thread is restarted" }));
      }
      const i = this.workers.indexOf(w);
      if (i >= 0 && this.db) this.workers[i] = this.startWorker();
    };
    w.on("error", (err) => fail(String(err)));
    w.on("exit", (code) => {
      if (this.db) fail(`exit code ${code}`);
    });
    return w;
  }

  private open(): Db {
    if (!this.db) throw new SigilError("store_closed", "the embedded store is not open", { hint: "call init() first" });
    return this.db;
  }

  private statements(c: Collection): Stmts {
    let s = this.stmts.get(c);
    if (s) return s;
    const db = this.open();
    const t = table(c);
    const f = ftsTable(c);
    s = {
      insertIgnore: db.prepare(`INSERT INTO ${t} (id, ts, body) VALUES (?, ?, jsonb(?)) ON CONFLICT (id) DO NOTHING`),
      insert: db.prepare(`INSERT INTO ${t} (id, ts, body) VALUES (?, ?, jsonb(?))`),
      selectRowid: db.prepare(`SELECT rowid FROM ${t} WHERE id = ?`).pluck(),
      update: db.prepare(`UPDATE ${t} SET ts = ?, body = jsonb(?) WHERE rowid = ?`),
      ftsInsert: db.prepare(`INSERT INTO ${f} (rowid, text) VALUES (?, ?)`),
      ftsDelete: db.prepare(`DELETE FROM ${f} WHERE rowid = ?`),
      get: db.prepare(`SELECT json(body) FROM ${t} WHERE id = ?`).pluck(),
      deleteById: db.prepare(`DELETE FROM ${t} WHERE id = ? RETURNING rowid`).pluck(),
      arrayPath: db.prepare(`INSERT INTO sigil_array_paths (collection, path, objects) VALUES (?, ?, ?) ON CONFLICT (collection, path) DO UPDATE SET objects = max(objects, excluded.objects)`),
    };
    this.stmts.set(c, s);
    return s;
  }

  /** Runs a write; when it fails (and rolled back), reloads the remembered array paths from the database. */
  private guardRegistry<T>(c: Collection, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (this.db) {
        const rows = this.db.prepare(`SELECT path, objects FROM sigil_array_paths WHERE collection = ?`).all(c) as Array<{ path: string; objects: number }>;
        this.arrayPaths.set(c, new Map(rows.map((r) => [r.path, r.objects === 1])));
      }
      throw err;
    }
  }

  /**
   * Remembers where documents have arrays (inside the write transaction), so queries add the
   * array branches only where they can match; past MAX_ARRAY_PATHS every path is treated as possible.
   */
  private rememberArrays(c: Collection, arrays: Map<string, boolean>, s: Stmts): void {
    const known = this.arrayPaths.get(c)!;
    for (const [p, objects] of arrays) {
      const k = known.get(p);
      if (k === true || (k === false && !objects)) continue;
      if (k === undefined && known.size >= MAX_ARRAY_PATHS) {
        if (!known.has("\u0000overflow")) {
          known.set("\u0000overflow", true);
          this.open().prepare(`INSERT OR IGNORE INTO sigil_meta (key, value) VALUES (?, '1')`).run(`array_paths_overflow:${c}`);
        }
        continue;
      }
      known.set(p, objects);
      s.arrayPath.run(c, p, objects ? 1 : 0);
    }
  }

  async put(collection: Collection, docs: Doc[]): Promise<PutResult> {
    const db = this.open();
    const s = this.statements(collection);
    const maxBytes = this.opts.maxDocBytes ?? 4 * 1024 * 1024;
    const rejected: RejectedDoc[] = [];
    const immutable = isImmutable(collection);
    const result = await timed("embedded", "put", () =>
      this.guardRegistry(collection, () => db
        .transaction(() => {
          let created = 0;
          let existing = 0;
          for (let i = 0; i < docs.length; i++) {
            const cd = canonicalize(collection, docs[i], maxBytes);
            if ("code" in cd) {
              rejected.push({ index: i, id: bestId(collection, docs[i]), code: cd.code, reason: cd.reason });
              continue;
            }
            if (cd.arrays) this.rememberArrays(collection, cd.arrays, s);
            if (immutable) {
              const r = s.insertIgnore.run(cd.id, cd.ts, cd.json);
              if (r.changes === 0) {
                existing++;
                continue;
              }
              s.ftsInsert.run(r.lastInsertRowid, documentText(cd.doc).join(VALUE_GAP));
              created++;
            } else {
              const rowid = s.selectRowid.get(cd.id) as number | undefined;
              const text = documentText(cd.doc).join(VALUE_GAP);
              if (rowid === undefined) {
                const r = s.insert.run(cd.id, cd.ts, cd.json);
                s.ftsInsert.run(r.lastInsertRowid, text);
                created++;
              } else {
                s.update.run(cd.ts, cd.json, rowid);
                s.ftsDelete.run(rowid);
                s.ftsInsert.run(rowid, text);
                existing++;
              }
            }
          }
          return { created, existing };
        })
        .immediate()),
    );
    docsWritten.inc({ store: "embedded", collection, outcome: "created" }, result.created);
    docsWritten.inc({ store: "embedded", collection, outcome: "existing" }, result.existing);
    if (rejected.length) {
      docsWritten.inc({ store: "embedded", collection, outcome: "rejected" }, rejected.length);
      throw new StoreRejectError(collection, rejected, result);
    }
    return result;
  }

  async get(collection: Collection, id: string): Promise<Doc | null> {
    const s = this.statements(collection);
    const body = s.get.get(id) as string | undefined;
    return body === undefined ? null : (safeJsonParse(body) as Doc);
  }

  async getMany(collection: Collection, ids: string[]): Promise<Doc[]> {
    const db = this.open();
    const unique = [...new Set(ids)];
    const found = new Map<string, Doc>();
    for (let i = 0; i < unique.length; i += 500) {
      const chunk = unique.slice(i, i + 500);
      const rows = db.prepare(`SELECT id, json(body) AS body FROM ${table(collection)} WHERE id IN (${chunk.map(() => "?").join(",")})`).all(...chunk) as Array<{ id: string; body: string }>;
      for (const r of rows) found.set(r.id, safeJsonParse(r.body) as Doc);
    }
    const out: Doc[] = [];
    for (const id of unique) {
      const d = found.get(id);
      if (d) out.push(d);
    }
    return out;
  }

  async update(collection: Collection, id: string, fn: (current: Doc | null) => Doc | null, opts: UpdateOptions = {}): Promise<Doc | null> {
    if (isImmutable(collection)) throw new SigilError("store_immutable", `${collection} are immutable; they cannot be updated`, { exitCode: 2 });
    const db = this.open();
    const s = this.statements(collection);
    const maxBytes = this.opts.maxDocBytes ?? 4 * 1024 * 1024;
    return timed("embedded", "update", () =>
      this.guardRegistry(collection, () => db
        .transaction((): Doc | null => {
          const body = s.get.get(id) as string | undefined;
          const cur = body === undefined ? null : (safeJsonParse(body) as Doc);
          const curVersion = cur && typeof cur["version"] === "number" ? (cur["version"] as number) : 0;
          if (opts.expectedVersion !== undefined && opts.expectedVersion !== curVersion) {
            throw new SigilError("store_conflict", `${collection} ${id} is at version ${cur ? curVersion : "none (it does not exist)"}, not ${opts.expectedVersion}`, {
              hint: "reload it and apply the change again",
              exitCode: 2,
            });
          }
          const next = fn(cur === null ? null : (safeJsonParse(body!) as Doc));
          if (next === null || next === undefined) return cur;
          const cd = checkUpdated(collection, id, next, curVersion, maxBytes);
          if (cd.arrays) this.rememberArrays(collection, cd.arrays, s);
          const text = documentText(cd.doc).join(VALUE_GAP);
          const rowid = s.selectRowid.get(id) as number | undefined;
          if (rowid === undefined) {
            const r = s.insert.run(id, cd.ts, cd.json);
            s.ftsInsert.run(r.lastInsertRowid, text);
          } else {
            s.update.run(cd.ts, cd.json, rowid);
            s.ftsDelete.run(rowid);
            s.ftsInsert.run(rowid, text);
          }
          return cd.doc;
        })
        .immediate()),
    );
  }

  async delete(collection: Collection, ids: string[]): Promise<void> {
    const db = this.open();
    const s = this.statements(collection);
    db.transaction(() => {
      for (const id of ids) {
        const rowid = s.deleteById.get(id) as number | undefined;
        if (rowid !== undefined) s.ftsDelete.run(rowid);
      }
    }).immediate();
  }

  private async query<T>(m: Omit<WorkerRequest, "id">, local: (e: QueryEngine) => T): Promise<T> {
    this.open();
    if (this.workers.length === 0) return timed("embedded", m.op, () => local(this.engine!));
    const w = this.workers[this.rr++ % this.workers.length];
    const id = this.nextReq++;
    return timed(
      "embedded",
      m.op,
      () =>
        new Promise<T>((resolve, reject) => {
          this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, worker: w });
          w.postMessage({ ...m, id } satisfies WorkerRequest);
        }),
    );
  }

  async search(collection: Collection, req: SearchRequest): Promise<SearchResult> {
    const raw = await this.query<RawSearchResult>({ op: "search", collection, req: plain(req) }, (e) => e.search(collection, req));
    const hits = raw.bodies.map((b) => safeJsonParse(b) as Doc);
    const out: SearchResult = { total: raw.total, totalIsLowerBound: raw.totalIsLowerBound, hits };
    if (raw.next !== undefined) out.next = raw.next;
    return out;
  }

  async count(collection: Collection, req: SearchRequest): Promise<number> {
    return this.query<number>({ op: "count", collection, req: plain(req) }, (e) => e.count(collection, req));
  }

  async histogram(collection: Collection, req: SearchRequest, intervalMs: number): Promise<HistogramBucket[]> {
    return this.query<HistogramBucket[]>({ op: "histogram", collection, req: plain(req), intervalMs }, (e) => e.histogram(collection, req, intervalMs));
  }

  async terms(collection: Collection, req: SearchRequest, field: string, size: number): Promise<TermsBucket[]> {
    return this.query<TermsBucket[]>({ op: "terms", collection, req: plain(req), field, size }, (e) => e.terms(collection, req, field, size));
  }

  async refresh(): Promise<void> {
    // every committed write is visible to new reads at once
  }

  async health(): Promise<StoreHealth> {
    if (!this.db) return { ok: false, detail: "the embedded store is closed" };
    try {
      const version = this.db.prepare("SELECT sqlite_version()").pluck().get() as string;
      const pages = this.db.pragma("page_count", { simple: true }) as number;
      const size = this.db.pragma("page_size", { simple: true }) as number;
      return { ok: true, detail: `SQLite ${version} at ${this.opts.file}, ${((pages * size) / 1048576).toFixed(1)} MiB`, version };
    } catch (err) {
      return { ok: false, detail: `the embedded store at ${this.opts.file} failed: ${(err as Error).message}` };
    }
  }

  /**
   * Deletes events and signals older than their retention, then the oldest events while the
   * database's used space exceeds the size bound; works in chunks so writers interleave.
   */
  async enforceRetention(): Promise<RetentionResult> {
    if (this.retentionRunning) return this.retentionRunning;
    this.retentionRunning = this.runRetention().finally(() => {
      this.retentionRunning = null;
    });
    return this.retentionRunning;
  }

  private usedBytes(): number {
    const db = this.open();
    const pages = db.pragma("page_count", { simple: true }) as number;
    const free = db.pragma("freelist_count", { simple: true }) as number;
    const size = db.pragma("page_size", { simple: true }) as number;
    return (pages - free) * size;
  }

  private async runRetention(): Promise<RetentionResult> {
    const db = this.open();
    const deleted: Partial<Record<Collection, number>> = {};
    const bytesBefore = this.usedBytes();
    const chunk = (c: Collection, where: string, params: unknown[], order: string, limit = 5000): number => {
      const s = this.statements(c);
      return db
        .transaction(() => {
          const rowids = db.prepare(`DELETE FROM ${table(c)} WHERE rowid IN (SELECT rowid FROM ${table(c)} WHERE ${where} ${order} LIMIT ?) RETURNING rowid`).pluck().all(...params, limit) as number[];
          for (const r of rowids) s.ftsDelete.run(r);
          return rowids.length;
        })
        .immediate();
    };
    for (const [c, days] of Object.entries(this.opts.retentionDays ?? {}) as Array<[Collection, number | null | undefined]>) {
      if (typeof days !== "number") continue;
      const cutoff = this.now() - days * 86_400_000;
      for (;;) {
        const n = chunk(c, "ts < ?", [cutoff], "");
        deleted[c] = (deleted[c] ?? 0) + n;
        if (n < 5000) break;
        await new Promise((r) => setImmediate(r));
      }
    }
    const max = this.opts.maxBytes;
    if (typeof max === "number") {
      const target = max * 0.9;
      for (let used = this.usedBytes(); used > target; used = this.usedBytes()) {
        // delete about as many of the oldest events as the excess holds, in chunks of at most 5000
        const count = db.prepare(`SELECT count(*) FROM ${table("events")}`).pluck().get() as number;
        if (count === 0) break;
        const want = Math.ceil(((used - target) / (used / count)) * 1.1);
        const n = chunk("events", "1", [], "ORDER BY ts", Math.min(5000, Math.max(100, want)));
        deleted.events = (deleted.events ?? 0) + n;
        if (n === 0) break;
        await new Promise((r) => setImmediate(r));
      }
    }
    const total = Object.values(deleted).reduce((a, b) => a + (b ?? 0), 0);
    if (total > 0) {
      db.pragma("incremental_vacuum");
      db.pragma("wal_checkpoint(TRUNCATE)");
      for (const [c, n] of Object.entries(deleted)) if (n) retentionDeleted.inc({ store: "embedded", collection: c }, n);
      log.info({ deleted }, "embedded store retention removed old documents");
    }
    return { deleted, bytesBefore, bytesAfter: this.usedBytes() };
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const db = this.db;
    this.db = null;
    this.engine = null;
    const ws = this.workers.splice(0);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new SigilError("store_closed", "the embedded store was closed during the query"));
    }
    await Promise.all(ws.map((w) => w.terminate()));
    this.stmts.clear();
    if (db) {
      try {
        db.pragma("optimize");
      } catch {
        // best effort
      }
      db.close();
    }
  }
}

/** A request without functions or prototypes, safe to post to a worker. */
function plain(req: SearchRequest): SearchRequest {
  return JSON.parse(JSON.stringify(req)) as SearchRequest;
}

function bestId(collection: Collection, doc: unknown): string | undefined {
  if (doc === null || typeof doc !== "object") return undefined;
  const d = doc as Record<string, unknown>;
  const id = isImmutable(collection) ? (d["event"] as Record<string, unknown> | undefined)?.["id"] : d["id"];
  return typeof id === "string" ? id.slice(0, 512) : undefined;
}

/** Validates the document an update function returned and sets its version. */
export function checkUpdated(collection: Collection, id: string, next: Doc, curVersion: number, maxBytes: number) {
  if (next === null || typeof next !== "object" || Array.isArray(next)) {
    throw new SigilError("store_bad_update", `the update of ${collection} ${id} returned something other than a document`, { exitCode: 2 });
  }
  const withVersion: JsonObject = { ...next, id, version: curVersion + 1 };
  if (next["id"] !== undefined && next["id"] !== id) {
    throw new SigilError("store_bad_update", `the update of ${collection} ${id} changed the id to ${String(next["id"])}`, { exitCode: 2 });
  }
  const cd = canonicalize(collection, withVersion, maxBytes);
  if ("code" in cd) throw new StoreRejectError(collection, [{ index: 0, id, code: cd.code, reason: cd.reason }], { created: 0, existing: 0 });
  return cd;
}
