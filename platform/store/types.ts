// The store interface: idempotent writes by id, queries by time range, field filters, free text,
// sort, paging and time buckets. Implementations: embedded on-disk (SQLite) and Elasticsearch.

import type { JsonObject } from "../../schema/ecs.ts";

/** What the store keeps. Events and signals are immutable; the rest are updated in place. */
export const COLLECTIONS = ["events", "signals", "alerts", "chains", "audit", "state", "users", "tokens"] as const;
export type Collection = (typeof COLLECTIONS)[number];

/** A stored document. Events and signals are keyed by event.id, everything else by a top-level id. */
export type Doc = JsonObject;

/** The id a document is stored under. */
export function docId(collection: Collection, doc: Doc): string {
  if (collection === "events" || collection === "signals") {
    const ev = doc["event"] as JsonObject | undefined;
    const id = ev?.["id"];
    if (typeof id !== "string") throw new Error(`${collection} document without event.id`);
    return id;
  }
  const id = doc["id"];
  if (typeof id !== "string") throw new Error(`${collection} document without id`);
  return id;
}

/**
 * Parsed search query (see query.ts for the text syntax: field:value, AND/OR/NOT, wildcards, "phrases").
 * Semantics, the same on every store (docs/decisions/0007-query-language-and-semantics.md):
 * - term with a field: the whole value equals `value`, ignoring the case of ASCII letters (unless
 *   caseSensitive; other letters match exactly, as in Elasticsearch's case_insensitive queries);
 *   any element of an array matches; fields inside arrays of objects match on any element.
 *   Date fields match the unit the value names (2026-01-02 is that whole day); numeric fields
 *   compare numbers; ip fields take CIDR blocks (10.0.0.0/8).
 * - wildcard: `*` any run, `?` one character, `\` escapes the next character; text values only.
 * - term without a field: free text. `value` is split into words (letters and digits); several
 *   words are a phrase; with wildcard, only a trailing `*` (prefix of the last word).
 * - range: date fields compare as time (ISO 8601, epoch ms, now-15m; lte/gt round up to the named
 *   unit); numeric fields as numbers; text as text (byte order).
 * - exists: the field has a non-null value.
 */
export type QueryNode =
  | { op: "all" }
  | { op: "and"; args: QueryNode[] }
  | { op: "or"; args: QueryNode[] }
  | { op: "not"; arg: QueryNode }
  /** field null = free text over the whole document. value is literal unless wildcard (then * and ? are wildcards, \ escapes). */
  | { op: "term"; field: string | null; value: string; wildcard: boolean; phrase: boolean; caseSensitive?: boolean }
  | { op: "range"; field: string; gt?: number | string; gte?: number | string; lt?: number | string; lte?: number | string }
  | { op: "exists"; field: string };

export interface SortSpec {
  field: string;
  order: "asc" | "desc";
}

export interface SearchRequest {
  query?: QueryNode;
  /** Inclusive lower bound on the time field, ISO 8601 or epoch ms. */
  from?: string | number;
  /** Exclusive upper bound on the time field. */
  to?: string | number;
  /** Field the time range applies to; default "@timestamp". */
  timeField?: string;
  sort?: SortSpec[];
  /** Page size; default 100, at most 10,000. */
  size?: number;
  /** Opaque cursor from a previous result's `next` (search-after paging). */
  after?: string;
  /** Count the total exactly up to this many (default 10,000). */
  trackTotalUpTo?: number;
}

export interface SearchResult {
  total: number;
  /** True when total is a lower bound (more matched than were counted). */
  totalIsLowerBound: boolean;
  hits: Doc[];
  /** Cursor for the next page, absent on the last page. */
  next?: string;
}

export interface HistogramBucket {
  /** Bucket start, epoch ms. */
  key: number;
  count: number;
}

export interface TermsBucket {
  key: string;
  count: number;
}

/**
 * Why `put` refused some documents (thrown as StoreRejectError from ./errors.ts after the valid ones
 * were written): their position in the input, their id when they had one, a code and a reason.
 */
export interface RejectedDoc {
  index: number;
  id?: string;
  code: string;
  reason: string;
}

export interface PutResult {
  /** Documents newly written. */
  created: number;
  /** Documents that already existed under their id (idempotent replays) or were replaced. */
  existing: number;
}

export interface UpdateOptions {
  /** Reject the update with a `store_conflict` error unless the stored doc has this `version`. */
  expectedVersion?: number;
}

/** Options of `updateMany` / `updateEach`. */
export interface UpdateManyOptions {
  /**
   * Called once, after `fn` ran for every id on the first read and before the store has acknowledged the
   * writes (Elasticsearch: while the bulk request is in flight; stores without `updateMany`: after the
   * writes), so a caller can publish what it computed while the store makes it durable. A document
   * changed meanwhile is read again and `fn` runs again for it: compare with the result to find those.
   */
  beforeWrite?: () => void;
  /**
   * Ids the caller expects to have no document yet (it creates them): `fn` gets null without a read and
   * the document is created; where one exists after all, it is read and `fn` runs again with it, as for
   * a concurrent change. Saves the read on the path that creates documents; a hint, never a correctness
   * assumption. Stores without `updateMany` read as usual.
   */
  absent?: (id: string) => boolean;
}

export interface StoreHealth {
  ok: boolean;
  detail: string;
  version?: string;
}

export interface Store {
  readonly kind: "embedded" | "elasticsearch";
  /** Creates tables, index templates and indices; safe to call repeatedly. */
  init(): Promise<void>;
  /**
   * Writes documents idempotently by id. For events and signals an existing id is left as is;
   * for the other collections the document replaces the stored one. Resolves once durable.
   * Documents that cannot be stored (no id, no @timestamp on events and signals, too large, too deep,
   * a field both a value and an object) are not written: after writing the rest, put throws a
   * StoreRejectError (code store_doc_rejected) listing them, so the caller can dead-letter them.
   * Documents come back canonical: dotted keys expanded, `__proto__`-like keys renamed (`_proto_`).
   */
  put(collection: Collection, docs: Doc[]): Promise<PutResult>;
  get(collection: Collection, id: string): Promise<Doc | null>;
  getMany(collection: Collection, ids: string[]): Promise<Doc[]>;
  /**
   * Read-modify-write of one document with optimistic concurrency: `fn` gets the current doc
   * (or null) and returns the new one (or null to leave it). The stored `version` is bumped.
   * Resolves to the written document, or to the current one (possibly null) when fn returned null.
   * With expectedVersion, a stored version that differs fails with a `store_conflict` SigilError.
   * Events and signals are immutable: updating them fails with `store_immutable`.
   * Without expectedVersion a concurrent change is retried, so `fn` may run more than once.
   */
  update(collection: Collection, id: string, fn: (current: Doc | null) => Doc | null, opts?: UpdateOptions): Promise<Doc | null>;
  /**
   * `update` of many documents at once, each with its own optimistic concurrency (`fn` gets each id and
   * its current doc; it may run more than once for an id changed concurrently). Resolves, in the order
   * of `ids`, to what `update` would. Optional: `updateEach` (platform/store/index.ts) falls back to
   * `update` per id. Elasticsearch does it in two round trips (mget, bulk) instead of two per document.
   */
  updateMany?(collection: Collection, ids: string[], fn: (id: string, current: Doc | null) => Doc | null, opts?: UpdateManyOptions): Promise<(Doc | null)[]>;
  delete(collection: Collection, ids: string[]): Promise<void>;
  search(collection: Collection, req: SearchRequest): Promise<SearchResult>;
  count(collection: Collection, req: SearchRequest): Promise<number>;
  histogram(collection: Collection, req: SearchRequest, intervalMs: number): Promise<HistogramBucket[]>;
  terms(collection: Collection, req: SearchRequest, field: string, size: number): Promise<TermsBucket[]>;
  /** Makes every acknowledged write visible to search (Elasticsearch refresh; no-op where writes are visible at once). */
  refresh(collection?: Collection): Promise<void>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
