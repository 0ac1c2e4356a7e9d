// Opening the embedded store's SQLite database: pragmas (WAL, durable commits), the SQL functions
// the queries use (case folding, dates, CIDR), the schema, and the read-only query engine that
// runs searches, counts, histograms and terms in-process or in a reader worker thread.

import fs from "node:fs";
import path from "node:path";
import type net from "node:net";
import Database from "better-sqlite3";
import { SigilError, UsageError } from "../errors.ts";
import { inBlock, parseCidr } from "./cidr.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import { COLLECTIONS, type Collection, type HistogramBucket, type SearchRequest, type SortSpec, type TermsBucket } from "./types.ts";
import { MAX_KEYWORD_CHARS, isImmutable, parseDate } from "./fields.ts";
import { arrayPathsOf, compileWhere, ftsTable, jsonPath, table, timeBound, timeExpr, valueExpr, type ArrayPaths, type SqlContext } from "./sql.ts";

export type Db = Database.Database;

export const SCHEMA_VERSION = 1;
export const MAX_PAGE = 10_000;
export const MAX_BUCKETS = 10_000;
export const MAX_TERMS = 10_000;
/** Array-of-object paths remembered per collection (queries descend into these). */
export const MAX_ARRAY_PATHS = 1024;

/** Fields with an expression index per collection: what the console filters on most. */
export const HOT_FIELDS: Record<Collection, string[]> = {
  events: ["host.name", "user.name", "source.ip", "destination.ip", "process.name"],
  signals: ["rule.id", "host.name", "user.name", "signal.key"],
  alerts: ["status", "assignee", "level", "chain_id"],
  chains: [],
  audit: ["actor", "action"],
  state: ["kind", "user"],
  users: [],
  tokens: [],
};

export interface OpenOptions {
  readonly?: boolean;
  synchronous?: "full" | "normal";
  cacheMb?: number;
}

/** Opens (creating when needed) the database with Sigil's pragmas and SQL functions. */
export function openDb(file: string, opts: OpenOptions = {}): Db {
  let db: Db;
  try {
    if (file !== ":memory:" && !opts.readonly) fs.mkdirSync(path.dirname(file), { recursive: true });
    db = new Database(file, { readonly: opts.readonly === true, fileMustExist: opts.readonly === true });
  } catch (err) {
    throw new SigilError("store_open_failed", `cannot open the embedded store at ${file}: ${(err as Error).message}`, {
      location: { file },
      hint: "check the directory exists and is writable by this user, and that no other program holds the file",
      cause: err,
    });
  }
  db.pragma("busy_timeout = 10000");
  if (!opts.readonly) {
    // auto_vacuum only takes effect on a new database, before the first table exists
    db.pragma("auto_vacuum = INCREMENTAL");
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${opts.synchronous === "normal" ? "NORMAL" : "FULL"}`);
    // checkpoint every ~32 MiB of WAL rather than 4 MiB (fewer fsyncs of the main file under load), truncate after
    db.pragma("wal_autocheckpoint = 8192");
    db.pragma("journal_size_limit = 67108864");
  }
  db.pragma(`cache_size = -${(opts.cacheMb ?? 64) * 1024}`);
  db.pragma("temp_store = MEMORY");
  db.pragma("mmap_size = 268435456");
  registerFunctions(db);
  return db;
}

function registerFunctions(db: Db): void {
  db.function("sigil_date", { deterministic: true }, (v: unknown) => parseDate(v));
  const blocks = new Map<string, net.BlockList | null>();
  db.function("sigil_cidr", { deterministic: true }, (ip: unknown, cidr: unknown) => {
    if (typeof ip !== "string" || typeof cidr !== "string") return 0;
    let bl = blocks.get(cidr);
    if (bl === undefined) {
      bl = parseCidr(cidr);
      if (blocks.size > 256) blocks.clear();
      blocks.set(cidr, bl);
    }
    return bl && inBlock(bl, ip) ? 1 : 0;
  });
}

/** Creates tables, full-text tables and indexes; safe to run repeatedly. */
export function createSchema(db: Db): void {
  db.exec(`CREATE TABLE IF NOT EXISTS sigil_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`);
  db.exec(`CREATE TABLE IF NOT EXISTS sigil_array_paths (collection TEXT NOT NULL, path TEXT NOT NULL, objects INTEGER NOT NULL, PRIMARY KEY (collection, path)) WITHOUT ROWID`);
  const row = db.prepare(`SELECT value FROM sigil_meta WHERE key = 'schema_version'`).get() as { value: string } | undefined;
  if (row && Number(row.value) > SCHEMA_VERSION) {
    throw new SigilError("store_schema_newer", `the embedded store was written by a newer Sigil (schema ${row.value}, this one knows ${SCHEMA_VERSION})`, {
      hint: "run the newer Sigil, or point store.embedded.path at another file",
    });
  }
  for (const c of COLLECTIONS) {
    const t = table(c);
    db.exec(`CREATE TABLE IF NOT EXISTS ${t} (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts INTEGER, body BLOB NOT NULL)`);
    db.exec(`CREATE INDEX IF NOT EXISTS "c_${c}_ts" ON ${t} (ts)`);
    // no prefix indexes: they cost a third of the write rate; prefix queries scan the term range instead
    db.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS ${ftsTable(c)} USING fts5(text, content='', contentless_delete=1, tokenize='ascii')`);
    for (const f of HOT_FIELDS[c]) {
      const name = `"c_${c}_f_${f.replace(/[^a-z0-9]/gi, "_")}"`;
      db.exec(`CREATE INDEX IF NOT EXISTS ${name} ON ${t} (lower(json_extract(body, ${jsonPath(f.split("."))})))`);
    }
  }
  db.prepare(`INSERT OR REPLACE INTO sigil_meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
}

/** The array paths remembered for a collection (see ArrayPaths). */
export function loadArrayPaths(db: Db, c: Collection): ArrayPaths {
  const rows = db.prepare(`SELECT path, objects FROM sigil_array_paths WHERE collection = ?`).all(c) as Array<{ path: string; objects: number }>;
  const overflow = db.prepare(`SELECT 1 FROM sigil_meta WHERE key = ?`).get(`array_paths_overflow:${c}`) !== undefined;
  return arrayPathsOf(rows, overflow);
}

// ---------------------------------------------------------------------------------------------
// Queries

export interface RawSearchResult {
  total: number;
  totalIsLowerBound: boolean;
  /** Documents as JSON text, parsed by the caller (on the main thread, with safeJsonParse). */
  bodies: string[];
  next?: string;
}

interface CursorData {
  s: "embedded";
  h: string;
  k: unknown[];
}

function sortSignature(sort: SortSpec[]): string {
  return sort.map((s) => `${s.field}:${s.order}`).join(",");
}

function badRequest(message: string, hint?: string): UsageError {
  return new UsageError("store_bad_request", message, { hint });
}

/** Validates the request's size and sort, with defaults. */
export function normalizeRequest(req: SearchRequest): { size: number; sort: SortSpec[]; timeField: string; upTo: number } {
  const size = req.size ?? 100;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE) throw badRequest(`size must be an integer from 0 to ${MAX_PAGE}, not ${String(size)}`, "page with the cursor for more");
  const sort = req.sort && req.sort.length ? req.sort : [{ field: req.timeField ?? "@timestamp", order: "desc" as const }];
  if (sort.length > 8) throw badRequest("at most 8 sort fields");
  for (const s of sort) {
    if (s.order !== "asc" && s.order !== "desc") throw badRequest(`sort order must be asc or desc, not ${String(s.order)}`);
    if (typeof s.field !== "string" || s.field.length === 0 || s.field.length > 256) throw badRequest("a sort field name is missing or too long");
  }
  const upTo = req.trackTotalUpTo ?? 10_000;
  if (!Number.isInteger(upTo) || upTo < 0) throw badRequest("trackTotalUpTo must be a non-negative integer");
  return { size, sort, timeField: req.timeField ?? "@timestamp", upTo };
}

export function encodeCursor(data: CursorData): string {
  return Buffer.from(JSON.stringify(data)).toString("base64url");
}

export function decodeCursor<T extends { s: string; h: string; k: unknown[] }>(cursor: string, store: string, sig: string): T {
  let data: unknown;
  try {
    if (cursor.length > 65_536) throw new Error("too long");
    data = safeJsonParse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    data = null;
  }
  const d = data as T | null;
  if (!d || typeof d !== "object" || d.s !== store || typeof d.h !== "string" || !Array.isArray(d.k)) {
    throw new UsageError("store_bad_cursor", "the paging cursor is not valid for this store", { hint: "start again from the first page" });
  }
  if (d.h !== sig) throw new UsageError("store_bad_cursor", "the paging cursor belongs to a search with another sort order", { hint: "start again from the first page" });
  return d;
}

/** Runs the read-only operations over one connection. */
export class QueryEngine {
  constructor(private readonly db: Db, private readonly now: () => number = Date.now) {}

  private ctx(c: Collection): SqlContext {
    return { collection: c, arrays: loadArrayPaths(this.db, c), params: [], now: this.now(), alias: 0 };
  }

  /** WHERE clause for the query and time range (no cursor). */
  private where(c: Collection, req: SearchRequest, ctx: SqlContext, timeField: string): string {
    const parts = [compileWhere(req.query, ctx)];
    const from = timeBound(req.from, "from");
    const to = timeBound(req.to, "to");
    if (from !== undefined || to !== undefined) {
      const te = timeExpr(timeField, ctx);
      if (from !== undefined) {
        parts.push(`${te} >= ?`);
        ctx.params.push(from);
      }
      if (to !== undefined) {
        parts.push(`${te} < ?`);
        ctx.params.push(to);
      }
    }
    return parts.join(" AND ");
  }

  /** Each operation reads one snapshot: the remembered array paths and the documents agree. */
  search(c: Collection, req: SearchRequest): RawSearchResult {
    return this.db.transaction(() => this.searchTx(c, req))();
  }

  count(c: Collection, req: SearchRequest): number {
    return this.db.transaction(() => this.countTx(c, req))();
  }

  histogram(c: Collection, req: SearchRequest, intervalMs: number): HistogramBucket[] {
    return this.db.transaction(() => this.histogramTx(c, req, intervalMs))();
  }

  terms(c: Collection, req: SearchRequest, field: string, size: number): TermsBucket[] {
    return this.db.transaction(() => this.termsTx(c, req, field, size))();
  }

  private searchTx(c: Collection, req: SearchRequest): RawSearchResult {
    const { size, sort, timeField, upTo } = normalizeRequest(req);
    const ctx = this.ctx(c);
    const where = this.where(c, req, ctx, timeField);
    const whereParams = ctx.params.slice();

    const keys = sort.map((s) => ({ ...valueExpr(s.field, ctx), order: s.order, field: s.field }));
    const tieDesc = sort[sort.length - 1].order === "desc";
    const sig = sortSignature(sort);
    let afterSql = "";
    const afterParams: unknown[] = [];
    if (req.after !== undefined) {
      const cur = decodeCursor<CursorData>(req.after, "embedded", sig);
      if (cur.k.length !== keys.length + 1 || typeof cur.k[keys.length] !== "number") throw new UsageError("store_bad_cursor", "the paging cursor is damaged", { hint: "start again from the first page" });
      afterSql = ` AND ${afterCondition(keys, cur.k, tieDesc, isImmutable(c), afterParams)}`;
    }

    const order = keys.map((k) => `${k.expr} ${k.order.toUpperCase()} NULLS LAST`).join(", ") + `, d.rowid ${tieDesc ? "DESC" : "ASC"}`;
    const cols = keys.map((k, i) => `${k.expr} AS k${i}`).join(", ");
    const sql = `SELECT json(d.body) AS body, ${cols}, d.rowid AS r FROM ${table(c)} AS d WHERE ${where}${afterSql} ORDER BY ${order} LIMIT ?`;
    const rows = size === 0 ? [] : (this.db.prepare(sql).all(...whereParams, ...afterParams, size) as Array<Record<string, unknown>>);

    let total: number;
    let lower = false;
    if (upTo === 0) {
      total = rows.length;
      lower = true;
    } else {
      const n = this.db.prepare(`SELECT count(*) FROM (SELECT 1 FROM ${table(c)} AS d WHERE ${where} LIMIT ?)`).pluck().get(...whereParams, upTo + 1) as number;
      lower = n > upTo;
      total = lower ? upTo : n;
    }
    const bodies = rows.map((r) => r.body as string);
    let next: string | undefined;
    if (rows.length === size && size > 0) {
      const last = rows[rows.length - 1];
      next = encodeCursor({ s: "embedded", h: sig, k: [...keys.map((_, i) => last[`k${i}`] ?? null), last.r] });
    }
    return { total, totalIsLowerBound: lower, bodies, next };
  }

  private countTx(c: Collection, req: SearchRequest): number {
    const ctx = this.ctx(c);
    const where = this.where(c, req, ctx, req.timeField ?? "@timestamp");
    return this.db.prepare(`SELECT count(*) FROM ${table(c)} AS d WHERE ${where}`).pluck().get(...ctx.params) as number;
  }

  private histogramTx(c: Collection, req: SearchRequest, intervalMs: number): HistogramBucket[] {
    if (!Number.isInteger(intervalMs) || intervalMs < 1) throw badRequest(`the histogram interval must be a positive whole number of milliseconds, not ${String(intervalMs)}`);
    const timeField = req.timeField ?? "@timestamp";
    const ctx = this.ctx(c);
    const where = this.where(c, req, ctx, timeField);
    const te = timeExpr(timeField, ctx);
    let from = timeBound(req.from, "from");
    let to = timeBound(req.to, "to");
    if (from === undefined || to === undefined) {
      const mm = this.db.prepare(`SELECT min(k) AS lo, max(k) AS hi FROM (SELECT ${te} AS k FROM ${table(c)} AS d WHERE ${where}) WHERE k IS NOT NULL`).get(...ctx.params) as { lo: number | null; hi: number | null };
      if (mm.lo === null || mm.hi === null) return [];
      from ??= mm.lo;
      to ??= mm.hi + 1;
    }
    checkBucketCount(from, to, intervalMs);
    const rows = this.db
      .prepare(`SELECT (k - (((k % ?) + ?) % ?)) AS b, count(*) AS n FROM (SELECT ${te} AS k FROM ${table(c)} AS d WHERE ${where}) WHERE k IS NOT NULL GROUP BY b ORDER BY b`)
      .all(intervalMs, intervalMs, intervalMs, ...ctx.params) as Array<{ b: number; n: number }>;
    return fillBuckets(rows.map((r) => ({ key: r.b, count: r.n })), from, to, intervalMs);
  }

  private termsTx(c: Collection, req: SearchRequest, field: string, size: number): TermsBucket[] {
    if (!Number.isInteger(size) || size < 1 || size > MAX_TERMS) throw badRequest(`terms size must be an integer from 1 to ${MAX_TERMS}, not ${String(size)}`);
    const ctx = this.ctx(c);
    const where = this.where(c, req, ctx, req.timeField ?? "@timestamp");
    const { type } = valueExpr(field, ctx); // validates the field (not inside an array of objects)
    const p = field === "@timestamp" ? null : jsonPath(field.split("."));
    let valueSql: string;
    let from: string;
    if (p === null) {
      valueSql = "d.ts";
      from = `${table(c)} AS d`;
    } else {
      from = `${table(c)} AS d, json_each(d.body, ${p}) AS j`;
      valueSql =
        type === "date"
          ? `(CASE WHEN j.type IN ('integer', 'real') THEN CAST(j.value AS INTEGER) WHEN j.type = 'text' THEN sigil_date(j.value) END)`
          : `(CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE j.value END)`;
    }
    const valid = p === null ? "d.ts IS NOT NULL" : `j.type NOT IN ('object', 'array', 'null') AND NOT (j.type = 'text' AND length(j.value) > ${MAX_KEYWORD_CHARS})`;
    // A document counts once per value: DISTINCT is needed only where some document had an array here
    // (without it the query was measured a third faster)
    const distinct = p !== null && ctx.arrays.any(field) ? "DISTINCT d.rowid, " : "";
    const sql = `SELECT v, count(*) AS n FROM (SELECT ${distinct}${valueSql} AS v FROM ${from} WHERE ${where} AND ${valid}) WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v ASC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...ctx.params, size) as Array<{ v: string | number; n: number }>;
    return rows.map((r) => ({ key: typeof r.v === "number" ? String(r.v) : r.v, count: r.n }));
  }
}

/** Throws when a histogram would have more than MAX_BUCKETS buckets. */
export function checkBucketCount(from: number, to: number, intervalMs: number): void {
  const n = Math.ceil((to - from) / intervalMs) + 1;
  if (n > MAX_BUCKETS) {
    throw new UsageError("store_too_many_buckets", `the histogram would have ${n} buckets; at most ${MAX_BUCKETS} are allowed`, { hint: "use a larger interval or a shorter time range" });
  }
}

/** Buckets from the first to the last bucket of [from, to), with empty ones filled with 0. */
export function fillBuckets(found: HistogramBucket[], from: number, to: number, intervalMs: number): HistogramBucket[] {
  const align = (t: number) => t - (((t % intervalMs) + intervalMs) % intervalMs);
  const start = align(from);
  const end = to > from ? align(to - 1) : start;
  const byKey = new Map(found.map((b) => [b.key, b.count]));
  const out: HistogramBucket[] = [];
  for (let k = start; k <= end; k += intervalMs) out.push({ key: k, count: byKey.get(k) ?? 0 });
  // buckets outside [from, to) can only come from documents the time range did not bound (no from/to given)
  for (const b of found) if (b.key < start || b.key > end) out.push(b);
  return out.sort((a, b) => a.key - b.key);
}

/**
 * The search-after condition for keys sorted with NULLS LAST and a rowid tiebreak. Uses a row-value
 * comparison (index-friendly) when every key is non-null and sorted the same way.
 */
function afterCondition(keys: Array<{ expr: string; order: "asc" | "desc" }>, values: unknown[], tieDesc: boolean, tsNotNull: boolean, params: unknown[]): string {
  const rowid = values[keys.length];
  const sameDir = keys.every((k) => (k.order === "desc") === tieDesc);
  const nonNull = keys.every((k, i) => values[i] !== null && (k.expr === "d.id" || (k.expr === "d.ts" && tsNotNull)));
  if (sameDir && nonNull) {
    params.push(...values.slice(0, keys.length), rowid);
    return `(${[...keys.map((k) => k.expr), "d.rowid"].join(", ")}) ${tieDesc ? "<" : ">"} (${keys.map(() => "?").join(", ")}, ?)`;
  }
  // right to left: after(i) OR (eq(i) AND rest)
  const build = (i: number): string => {
    if (i === keys.length) {
      params.push(rowid);
      return `d.rowid ${tieDesc ? "<" : ">"} ?`;
    }
    const k = keys[i];
    const v = values[i];
    if (v === null) {
      const rest = build(i + 1);
      return `(${k.expr} IS NULL AND ${rest})`;
    }
    params.push(v);
    const after = `(${k.expr} ${k.order === "desc" ? "<" : ">"} ? OR ${k.expr} IS NULL)`;
    params.push(v);
    const eq = `${k.expr} = ?`;
    const rest = build(i + 1);
    return `(${after} OR (${eq} AND ${rest}))`;
  };
  return build(0);
}

