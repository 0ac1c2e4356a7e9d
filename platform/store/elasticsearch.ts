// The Elasticsearch store (@elastic/elasticsearch 8.19): index templates with ECS mappings, one
// index per collection (events and signals in time-based indices), bulk writes with retries and
// jittered backoff, per-item outcomes, optimistic updates by seq_no/primary_term, and the query
// language translated to the DSL with the embedded store's semantics (es-query.ts).

import fs from "node:fs";
import { Client, errors, type ClientOptions } from "@elastic/elasticsearch";
import { SigilError, UsageError } from "../errors.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import { readSecret } from "../config/secret.ts";
import type { SigilConfig, StoreConfig } from "../config/schema.ts";
import { logger } from "../telemetry/log.ts";
import { StoreRejectError } from "./errors.ts";
import { checkBucketCount, decodeCursor, encodeCursor, fillBuckets, MAX_TERMS, normalizeRequest } from "./embedded-db.ts";
import { checkUpdated } from "./embedded.ts";
import { FTS_FIELD, sortField, toDsl, type EsQueryContext, type MappedTypes } from "./es-query.ts";
import { MAX_KEYWORD_CHARS, canonicalize, catalogFields, documentText, fieldType, idField, isImmutable, type CanonicalDoc, type FieldType } from "./fields.ts";
import { docsWritten, retentionDeleted, retries, timed } from "./metrics.ts";
import { queryFields } from "./query.ts";
import { timeBound } from "./sql.ts";
import { CircuitBreaker, type BreakerOptions } from "../resilience/breaker.ts";
import { COLLECTIONS, type Collection, type Doc, type HistogramBucket, type PutResult, type RejectedDoc, type SearchRequest, type SearchResult, type Store, type StoreHealth, type TermsBucket, type UpdateManyOptions, type UpdateOptions } from "./types.ts";

const log = logger("store");

export type TimeInterval = "day" | "week" | "month" | "none";

export interface ElasticsearchOptions {
  node: string;
  indexPrefix: string;
  auth?: { username: string; password: string } | { apiKey: string };
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; minVersion: "TLSv1.2" | "TLSv1.3" };
  requestTimeoutMs?: number;
  maxRetries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  bulkMaxDocs?: number;
  bulkMaxBytes?: number;
  refresh?: "false" | "wait_for" | "true";
  timeIndexInterval?: TimeInterval;
  maxTimeIndices?: number;
  shards?: number;
  replicas?: number;
  totalFieldsLimit?: number;
  maxDocBytes?: number;
  retentionDays?: Partial<Record<Collection, number | null>>;
  retentionIntervalS?: number;
  /** Circuit breaker over every request (platform/resilience/breaker.ts); its defaults when absent. */
  breaker?: Pick<BreakerOptions, "failureThreshold" | "openMs" | "maxOpenMs">;
  now?: () => number;
}

/** Options from the store config: credentials and TLS material are read here (readSecret, files). */
export function elasticsearchOptionsFromConfig(cfg: StoreConfig, env: NodeJS.ProcessEnv = process.env): ElasticsearchOptions {
  const e = cfg.elasticsearch;
  const password = readSecret(e.password, "store.elasticsearch.password", env);
  const apiKey = readSecret(e.api_key, "store.elasticsearch.api_key", env);
  let auth: ElasticsearchOptions["auth"];
  if (apiKey) auth = { apiKey };
  else if (e.username) {
    if (password === null) throw new UsageError("config_missing_secret", "store.elasticsearch.username is set but no password is configured", { location: { key: "store.elasticsearch.password" }, hint: "set store.elasticsearch.password.file or .env" });
    auth = { username: e.username, password };
  }
  const readFile = (f: string | null, key: string) => {
    if (!f) return undefined;
    try {
      return fs.readFileSync(f);
    } catch (err) {
      throw new UsageError("config_file_unreadable", `cannot read ${key} ${f}: ${(err as Error).message}`, { location: { file: f, key } });
    }
  };
  const tlsOn = e.tls.enabled || e.node.startsWith("https:");
  return {
    node: e.node,
    indexPrefix: e.index_prefix,
    auth,
    tls: tlsOn
      ? {
          ca: readFile(e.tls.ca_file, "store.elasticsearch.tls.ca_file"),
          cert: readFile(e.tls.cert_file, "store.elasticsearch.tls.cert_file"),
          key: readFile(e.tls.key_file, "store.elasticsearch.tls.key_file"),
          rejectUnauthorized: e.tls.verify,
          minVersion: e.tls.min_version,
        }
      : undefined,
    requestTimeoutMs: e.request_timeout_ms,
    maxRetries: e.max_retries,
    backoffMs: e.backoff_ms,
    maxBackoffMs: e.max_backoff_ms,
    bulkMaxDocs: e.bulk_max_docs,
    bulkMaxBytes: e.bulk_max_bytes,
    refresh: e.refresh,
    timeIndexInterval: e.time_index_interval,
    maxTimeIndices: e.max_time_indices,
    shards: e.shards,
    replicas: e.replicas,
    totalFieldsLimit: e.total_fields_limit,
    maxDocBytes: cfg.embedded.max_doc_bytes,
    retentionDays: { events: cfg.retention.events_days, signals: cfg.retention.signals_days },
    retentionIntervalS: cfg.retention.check_interval_s,
  };
}

/** The Elasticsearch store a whole Sigil config names (what `cli/roles.ts` openStore looks for). */
export function createElasticsearchStore(config: SigilConfig): ElasticsearchStore {
  return new ElasticsearchStore(elasticsearchOptionsFromConfig(config.store));
}

const DAY = 86_400_000;
/** Content type for bodies Sigil serializes itself (the client only sets it for objects it serializes). */
const JSON_HEADERS = { "content-type": "application/vnd.elasticsearch+json; compatible-with=8", accept: "application/vnd.elasticsearch+json; compatible-with=8" };
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Suffix of the time-based index holding a timestamp. */
export function timeSuffix(ts: number, interval: TimeInterval): string {
  if (interval === "none") return "all";
  const d = new Date(ts);
  if (interval === "month") return `${d.getUTCFullYear()}.${pad(d.getUTCMonth() + 1)}`;
  if (interval === "week") {
    const monday = ts - (((d.getUTCDay() + 6) % 7) * DAY) - (((ts % DAY) + DAY) % DAY);
    const m = new Date(monday);
    return `w${m.getUTCFullYear()}.${pad(m.getUTCMonth() + 1)}.${pad(m.getUTCDate())}`;
  }
  return `${d.getUTCFullYear()}.${pad(d.getUTCMonth() + 1)}.${pad(d.getUTCDate())}`;
}

/** The [start, end) time a suffix covers, or null for "all" and names that are not ours. */
export function suffixRange(suffix: string): [number, number] | null {
  let m = /^(w)?(\d{4,5})\.(\d{2})(?:\.(\d{2}))?$/.exec(suffix);
  if (!m) return null;
  const [, week, y, mo, d] = m;
  const start = Date.UTC(Number(y), Number(mo) - 1, d ? Number(d) : 1);
  if (week) return [start, start + 7 * DAY];
  if (d) return [start, start + DAY];
  m = null;
  return [start, Date.UTC(Number(y), Number(mo), 1)];
}

type EsItem = { status: number; error?: { type?: string; reason?: string; caused_by?: { reason?: string } }; result?: string; _index?: string };

interface Pending {
  pos: number;
  cd: CanonicalDoc;
  index: string;
  line: string;
}

export class ElasticsearchStore implements Store {
  readonly kind = "elasticsearch" as const;
  readonly client: Client;
  private readonly prefix: string;
  private readonly interval: TimeInterval;
  private readonly now: () => number;
  /** Known time-based indices per collection (events, signals), refreshed from the cluster. */
  private readonly timeIndices = new Map<Collection, { names: Set<string>; at: number }>();
  private readonly capsCache = new Map<string, { at: number; types: MappedTypes }>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private version = "";
  /** Opens after consecutive unreachable/overloaded answers: requests then fail at once until a trial succeeds. */
  readonly breaker: CircuitBreaker;

  constructor(private readonly opts: ElasticsearchOptions) {
    this.prefix = opts.indexPrefix;
    this.interval = opts.timeIndexInterval ?? "day";
    this.now = opts.now ?? Date.now;
    this.breaker = new CircuitBreaker({
      ...opts.breaker,
      metric: "sigil_store_breaker",
      labels: { store: "elasticsearch" },
      target: `Elasticsearch at ${opts.node}`,
      code: "store_circuit_open",
      hint: "Elasticsearch kept failing; the work is retried when it answers again (check `sigil services status` or the node's health)",
      onChange: (from, to, detail) => (to === "closed" ? log.info({ node: opts.node, from, to, detail }, "Elasticsearch answers again: circuit closed") : log.warn({ node: opts.node, from, to, detail }, "Elasticsearch circuit breaker changed state")),
    });
    const co: ClientOptions = {
      node: opts.node,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      maxRetries: 0, // retries are ours: capped exponential backoff with jitter, logged and counted
      compression: false,
    };
    if (opts.auth) co.auth = opts.auth;
    if (opts.tls) co.tls = { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, rejectUnauthorized: opts.tls.rejectUnauthorized, minVersion: opts.tls.minVersion };
    this.client = new Client(co);
  }

  // -------------------------------------------------------------------------------------------
  // Names, templates, retries

  private mutableIndex(c: Collection): string {
    return `${this.prefix}${c}`;
  }

  private timeIndex(c: Collection, ts: number): string {
    return `${this.prefix}${c}-${timeSuffix(ts, this.interval)}`;
  }

  private pattern(c: Collection): string {
    return isImmutable(c) ? `${this.prefix}${c}-*` : this.mutableIndex(c);
  }

  /** Indices a search over [from, to) needs: the few time-based names when the range is short, else the pattern. */
  private searchTarget(c: Collection, from?: number, to?: number, timeField = "@timestamp"): string {
    if (!isImmutable(c) || timeField !== "@timestamp" || from === undefined || to === undefined || this.interval === "none") return this.pattern(c);
    const names = new Set<string>();
    const step = this.interval === "month" ? 28 * DAY : this.interval === "week" ? 7 * DAY : DAY;
    for (let t = from; t < to && names.size <= 32; t += step) names.add(this.timeIndex(c, t));
    names.add(this.timeIndex(c, to - 1));
    return names.size > 32 ? this.pattern(c) : [...names].join(",");
  }

  private async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const max = this.opts.maxRetries ?? 5;
    const base = this.opts.backoffMs ?? 200;
    const cap = this.opts.maxBackoffMs ?? 10_000;
    for (let attempt = 0; ; attempt++) {
      // an open circuit refuses a new request at once (code store_circuit_open): the caller's own
      // redelivery backs off, instead of every batch retrying against a node that is down; a request
      // already under way finishes its own retries (and reports each outcome to the breaker)
      if (attempt === 0) this.breaker.before();
      try {
        const r = await fn();
        this.breaker.success();
        return r;
      } catch (err) {
        const transient = isTransient(err);
        if (transient) this.breaker.failure(`${transient}: ${errorText(err)}`);
        else this.breaker.success(); // the node answered (a client error is not an outage)
        if (!transient || attempt >= max || this.closed) throw this.describe(err, what, attempt + 1);
        const delay = Math.round(Math.random() * Math.min(cap, base * 2 ** attempt));
        retries.inc({ store: "elasticsearch", reason: transient });
        log.warn({ node: this.opts.node, what, attempt: attempt + 1, delay_ms: delay, reason: errorText(err) }, "Elasticsearch request failed; retrying");
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private describe(err: unknown, what: string, attempts: number): SigilError {
    if (err instanceof SigilError) return err;
    const node = this.opts.node;
    if (err instanceof errors.ConnectionError || err instanceof errors.NoLivingConnectionsError || err instanceof errors.TimeoutError) {
      return new SigilError("store_unreachable", `cannot reach Elasticsearch at ${node} (${what}, ${attempts} attempt${attempts > 1 ? "s" : ""}): ${err.message}`, {
        location: { address: node },
        hint: "check store.elasticsearch.node and that Elasticsearch is running (`sigil services status` shows the local one)",
        cause: err,
      });
    }
    if (err instanceof errors.ResponseError) {
      const status = err.statusCode ?? 0;
      if (status === 401 || status === 403) {
        return new SigilError("store_auth_failed", `Elasticsearch at ${node} refused the credentials (${what}: HTTP ${status})`, {
          location: { address: node },
          hint: "check store.elasticsearch.username/password or api_key and the user's privileges",
          cause: err,
        });
      }
      return new SigilError(status === 429 || status >= 500 ? "store_unavailable" : "store_request_failed", `Elasticsearch at ${node} failed ${what}: HTTP ${status} ${errorText(err)}`, {
        location: { address: node },
        hint: status === 429 || status >= 500 ? "Elasticsearch is overloaded or unhealthy; retry later" : undefined,
        cause: err,
      });
    }
    if (err instanceof errors.ProductNotSupportedError) {
      return new SigilError("store_unreachable", `${node} is not Elasticsearch (${err.message})`, { location: { address: node }, cause: err });
    }
    return new SigilError("store_request_failed", `Elasticsearch ${what} failed: ${errorText(err)}`, { location: { address: node }, cause: err });
  }

  async init(): Promise<void> {
    this.version = await this.withRetry("connect", async () => {
      try {
        return (await this.client.info()).version.number;
      } catch (err) {
        // GET / lives in the rest-root module, which the minimal test distribution lacks: ask the node itself
        if (!(err instanceof errors.ResponseError && (err.statusCode === 404 || err.statusCode === 405))) throw err;
        const nodes = (await this.client.transport.request({ method: "GET", path: "/_nodes/_local", querystring: { filter_path: "nodes.*.version" } })) as { nodes?: Record<string, { version?: string }> };
        return Object.values(nodes.nodes ?? {})[0]?.version ?? "";
      }
    });
    if (!/^8\./.test(this.version)) log.warn({ node: this.opts.node, version: this.version }, "Sigil is tested with Elasticsearch 8.x");
    // Templates only: indices are created by the first write that needs them (reads of a missing index are empty).
    await Promise.all(
      COLLECTIONS.map((c) =>
        this.withRetry(`create index template for ${c}`, () =>
          this.client.indices.putIndexTemplate({
            name: `${this.prefix}${c}`,
            index_patterns: [this.pattern(c)],
            priority: 100 + this.prefix.length,
            template: { settings: this.settings(), mappings: buildMappings(c) as never },
            _meta: { managed_by: "sigil", collection: c },
          }),
        ),
      ),
    );
    await Promise.all(COLLECTIONS.filter(isImmutable).map((c) => this.loadTimeIndices(c)));
    const every = this.opts.retentionIntervalS ?? 0;
    if (every > 0 && Object.values(this.opts.retentionDays ?? {}).some((d) => typeof d === "number")) {
      this.timer = setInterval(() => {
        this.enforceRetention().catch((err) => log.error({ err: String(err) }, "Elasticsearch retention failed"));
      }, every * 1000);
      this.timer.unref();
    }
    log.info({ node: this.opts.node, version: this.version, prefix: this.prefix }, "Elasticsearch store ready");
  }

  private settings(): Record<string, unknown> {
    return {
      number_of_shards: this.opts.shards ?? 1,
      number_of_replicas: this.opts.replicas ?? 0,
      "mapping.total_fields.limit": this.opts.totalFieldsLimit ?? 5000,
      "mapping.total_fields.ignore_dynamic_beyond_limit": true,
      "mapping.ignore_malformed": true,
      "mapping.depth.limit": 40,
      "query.default_field": [FTS_FIELD],
    };
  }

  private async loadTimeIndices(c: Collection): Promise<Set<string>> {
    const rows = await this.withRetry(`list ${c} indices`, () => this.client.cat.indices({ index: this.pattern(c), format: "json", h: "index", expand_wildcards: "open" }));
    const names = new Set((rows as Array<{ index?: string }>).map((r) => r.index!).filter(Boolean));
    this.timeIndices.set(c, { names, at: this.now() });
    return names;
  }

  private async knownTimeIndices(c: Collection, maxAgeMs = 10_000): Promise<Set<string>> {
    const k = this.timeIndices.get(c);
    if (k && this.now() - k.at < maxAgeMs) return k.names;
    return this.loadTimeIndices(c);
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  async put(collection: Collection, docs: Doc[]): Promise<PutResult> {
    return timed("elasticsearch", "put", () => this.putInner(collection, docs));
  }

  private async putInner(collection: Collection, docs: Doc[]): Promise<PutResult> {
    const rejected: RejectedDoc[] = [];
    const immutable = isImmutable(collection);
    const op = immutable ? "create" : "index";
    const pending: Pending[] = [];
    const maxDocBytes = this.maxDocBytes;
    const known = immutable ? await this.knownTimeIndices(collection, 60_000) : null;
    const maxIdx = this.opts.maxTimeIndices ?? 1000;
    // the last write wins for replaceable documents given twice in one batch; for events the first
    const seen = new Map<string, number>();
    for (let i = 0; i < docs.length; i++) {
      const cd = canonicalize(collection, docs[i], maxDocBytes);
      if ("code" in cd) {
        rejected.push({ index: i, id: bestId(collection, docs[i]), code: cd.code, reason: cd.reason });
        continue;
      }
      const index = immutable ? this.timeIndex(collection, cd.ts!) : this.mutableIndex(collection);
      if (known && !known.has(index)) {
        if (known.size >= maxIdx) {
          rejected.push({ index: i, id: cd.id, code: "doc_too_many_indices", reason: `writing it would open ${index}, beyond store.elasticsearch.max_time_indices (${maxIdx}); check its @timestamp` });
          continue;
        }
        known.add(index);
      }
      const source = sourceWithText(cd);
      const line = `{"${op}":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(cd.id)}}}\n${source}\n`;
      const prev = seen.get(cd.id);
      if (prev !== undefined) {
        // a duplicate in the same batch is counted as existing (events: the first copy stays; others: the last wins)
        if (!immutable) pending[prev] = { pos: i, cd, index, line };
        pending.push({ pos: -1, cd, index, line: "" });
        continue;
      }
      seen.set(cd.id, pending.length);
      pending.push({ pos: i, cd, index, line });
    }
    let created = 0;
    let existing = pending.filter((p) => p.pos === -1).length;
    const toSend = pending.filter((p) => p.pos !== -1);
    const maxDocs = this.opts.bulkMaxDocs ?? 2000;
    const maxBytes = this.opts.bulkMaxBytes ?? 10 * 1024 * 1024;
    let chunk: Pending[] = [];
    let bytes = 0;
    const flush = async () => {
      if (!chunk.length) return;
      const r = await this.bulk(chunk);
      created += r.created;
      existing += r.existing;
      rejected.push(...r.rejected);
      chunk = [];
      bytes = 0;
    };
    for (const p of toSend) {
      if (chunk.length && (chunk.length >= maxDocs || bytes + p.line.length > maxBytes)) await flush();
      chunk.push(p);
      bytes += p.line.length;
    }
    await flush();
    const result = { created, existing };
    docsWritten.inc({ store: "elasticsearch", collection, outcome: "created" }, created);
    docsWritten.inc({ store: "elasticsearch", collection, outcome: "existing" }, existing);
    if (rejected.length) {
      docsWritten.inc({ store: "elasticsearch", collection, outcome: "rejected" }, rejected.length);
      rejected.sort((a, b) => a.index - b.index);
      throw new StoreRejectError(collection, rejected, result);
    }
    return result;
  }

  /** One bulk request with retries of what failed transiently; every item ends created, existing or rejected. */
  private async bulk(items: Pending[]): Promise<{ created: number; existing: number; rejected: RejectedDoc[] }> {
    let created = 0;
    let existing = 0;
    const rejected: RejectedDoc[] = [];
    let todo = items;
    const max = this.opts.maxRetries ?? 5;
    const refresh = this.refreshParam;
    for (let attempt = 0; todo.length; attempt++) {
      const body = todo.map((p) => p.line).join("");
      const res = (await this.withRetry("bulk write", () =>
        this.client.transport.request({ method: "POST", path: "/_bulk", bulkBody: body, querystring: refresh ? { refresh } : {} }),
      )) as { errors: boolean; items: Array<Record<string, EsItem>> };
      const again: Pending[] = [];
      let lastReason = "";
      res.items.forEach((it, i) => {
        const r = it.create ?? it.index ?? Object.values(it)[0];
        const p = todo[i];
        if (r.status === 201) created++;
        else if (r.status === 200 || r.status === 409) existing++;
        else if (r.status === 429 || r.status >= 500 || r.error?.type === "es_rejected_execution_exception") {
          again.push(p);
          lastReason = `${r.status} ${r.error?.type ?? ""}: ${r.error?.reason ?? ""}`;
        } else {
          rejected.push({ index: p.pos, id: p.cd.id, code: "doc_refused", reason: `Elasticsearch refused it (${r.status} ${r.error?.type ?? "error"}): ${r.error?.reason ?? ""}${r.error?.caused_by?.reason ? ` (${r.error.caused_by.reason})` : ""}` });
        }
      });
      if (!again.length) break;
      if (attempt >= max) {
        throw new SigilError("store_unavailable", `Elasticsearch at ${this.opts.node} kept refusing ${again.length} of ${items.length} documents after ${attempt + 1} attempts (${lastReason})`, {
          location: { address: this.opts.node },
          hint: "Elasticsearch is overloaded; the batch can be retried as a whole (writes are idempotent)",
        });
      }
      const delay = Math.round(Math.random() * Math.min(this.opts.maxBackoffMs ?? 10_000, (this.opts.backoffMs ?? 200) * 2 ** attempt));
      retries.inc({ store: "elasticsearch", reason: "bulk_item" }, again.length);
      log.warn({ node: this.opts.node, items: again.length, delay_ms: delay, reason: lastReason }, "Elasticsearch refused bulk items for now; retrying them");
      await new Promise((r) => setTimeout(r, delay));
      todo = again;
    }
    return { created, existing, rejected };
  }

  // -------------------------------------------------------------------------------------------
  // Reads by id

  private async locate(collection: Collection, ids: string[]): Promise<Array<{ _index: string; _id: string }>> {
    if (!isImmutable(collection)) return ids.map((id) => ({ _index: this.mutableIndex(collection), _id: id }));
    const names = [...(await this.knownTimeIndices(collection))];
    return ids.flatMap((id) => names.map((n) => ({ _index: n, _id: id })));
  }

  async get(collection: Collection, id: string): Promise<Doc | null> {
    const docs = await this.getMany(collection, [id]);
    return docs[0] ?? null;
  }

  async getMany(collection: Collection, ids: string[]): Promise<Doc[]> {
    const unique = [...new Set(ids)];
    if (!unique.length) return [];
    const found = new Map<string, Doc>();
    await this.fetchInto(collection, unique, found);
    const cached = this.timeIndices.get(collection);
    if (found.size < unique.length && cached && this.now() - cached.at > 1000) {
      // another process may have opened a new time-based index since the list was read
      await this.loadTimeIndices(collection);
      await this.fetchInto(collection, unique.filter((id) => !found.has(id)), found);
    }
    const out: Doc[] = [];
    for (const id of unique) {
      const d = found.get(id);
      if (d) out.push(d);
    }
    return out;
  }

  private async fetchInto(collection: Collection, unique: string[], found: Map<string, Doc>): Promise<void> {
    const targets = await this.locate(collection, unique);
    if (targets.length <= 10_000) {
      for (let i = 0; i < targets.length; i += 1000) {
        const part = targets.slice(i, i + 1000);
        const r = await this.withRetry("get documents", () => this.client.mget<Doc>({ docs: part }));
        for (const d of r.docs) {
          if ("found" in d && d.found && d._source && !found.has(d._id)) found.set(d._id, d._source);
        }
      }
    } else {
      // many time-based indices: find the documents by id with a search (visible after refresh)
      for (let i = 0; i < unique.length; i += 1000) {
        const part = unique.slice(i, i + 1000);
        const r = await this.withRetry("find documents", () => this.client.search<Doc>({ index: this.pattern(collection), query: { ids: { values: part } }, size: part.length, ignore_unavailable: true, allow_no_indices: true }));
        for (const h of r.hits.hits) if (h._source) found.set(h._id!, h._source);
      }
    }
  }

  /** The largest document the store accepts (store.elasticsearch.max_doc_bytes). */
  private get maxDocBytes(): number {
    return this.opts.maxDocBytes ?? 4 * 1024 * 1024;
  }

  /** The refresh parameter of writes, when one is configured. */
  private get refreshParam(): string | undefined {
    return this.opts.refresh && this.opts.refresh !== "false" ? this.opts.refresh : undefined;
  }

  async update(collection: Collection, id: string, fn: (current: Doc | null) => Doc | null, opts: UpdateOptions = {}): Promise<Doc | null> {
    if (isImmutable(collection)) throw new SigilError("store_immutable", `${collection} are immutable; they cannot be updated`, { exitCode: 2 });
    const index = this.mutableIndex(collection);
    const maxDocBytes = this.maxDocBytes;
    const refresh = this.refreshParam;
    return timed("elasticsearch", "update", async () => {
      for (let attempt = 0; ; attempt++) {
        let cur: Doc | null = null;
        let seq: { seq: number; term: number } | null = null;
        try {
          const r = await this.withRetry("get document", () => this.client.get<Doc>({ index, id }));
          if (r.found && r._source) {
            cur = r._source;
            seq = { seq: r._seq_no!, term: r._primary_term! };
          }
        } catch (err) {
          if (!(err instanceof SigilError && (err.cause as { statusCode?: number } | undefined)?.statusCode === 404)) throw err;
        }
        const curVersion = versionOf(cur);
        if (opts.expectedVersion !== undefined && opts.expectedVersion !== curVersion) {
          throw new SigilError("store_conflict", `${collection} ${id} is at version ${cur ? curVersion : "none (it does not exist)"}, not ${opts.expectedVersion}`, { hint: "reload it and apply the change again", exitCode: 2 });
        }
        const next = fn(cur === null ? null : (structuredClone(cur) as Doc));
        if (next === null || next === undefined) return cur;
        const cd = checkUpdated(collection, id, next, curVersion, maxDocBytes);
        const body = sourceWithText(cd);
        const qs: Record<string, string> = seq ? { if_seq_no: String(seq.seq), if_primary_term: String(seq.term) } : { op_type: "create" };
        if (refresh) qs.refresh = refresh;
        try {
          await this.withRetry("write document", () => this.client.transport.request({ method: "PUT", path: `/${encodeURIComponent(index)}/_doc/${encodeURIComponent(id)}`, querystring: qs, body }, { headers: JSON_HEADERS }));
          return cd.doc;
        } catch (err) {
          const status = (err as SigilError).cause instanceof errors.ResponseError ? ((err as SigilError).cause as errors.ResponseError).statusCode : 0;
          if (status !== 409) throw err;
          if (opts.expectedVersion !== undefined || attempt >= 20) {
            throw new SigilError("store_conflict", `${collection} ${id} was changed by someone else meanwhile`, { hint: "reload it and apply the change again", exitCode: 2 });
          }
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(200, 5 * 2 ** attempt)));
        }
      }
    });
  }

  /**
   * `update` of many documents in two round trips: one mget (with each document's sequence number and
   * primary term), one bulk whose items carry them (if_seq_no / if_primary_term, or create for a new
   * document). An item changed concurrently (409) or refused for now (429, 5xx) goes through `update`,
   * which reads it again and retries.
   */
  async updateMany(collection: Collection, ids: string[], fn: (id: string, current: Doc | null) => Doc | null, opts: UpdateManyOptions = {}): Promise<(Doc | null)[]> {
    if (isImmutable(collection)) throw new SigilError("store_immutable", `${collection} are immutable; they cannot be updated`, { exitCode: 2 });
    if (new Set(ids).size !== ids.length) {
      // the same document twice: one after the other, as separate updates would
      const out: (Doc | null)[] = [];
      for (const id of ids) out.push(await this.update(collection, id, (cur) => fn(id, cur)));
      opts.beforeWrite?.();
      return out;
    }
    const index = this.mutableIndex(collection);
    const maxDocBytes = this.maxDocBytes;
    const refresh = this.refreshParam;
    return timed("elasticsearch", "update_many", async () => {
      const out: (Doc | null)[] = new Array(ids.length).fill(null);
      const again: number[] = [];
      type MgetDoc = { _id: string; found?: boolean; _source?: Doc; _seq_no?: number; _primary_term?: number; error?: { type?: string; reason?: string } };
      // documents the caller expects to be new are not read: written with `create`, which fails (409,
      // then read and retried below) if one exists after all
      const got: (MgetDoc | undefined)[] = new Array(ids.length);
      const toRead: number[] = [];
      for (let i = 0; i < ids.length; i++) if (!opts.absent?.(ids[i])) toRead.push(i);
      for (let k = 0; k < toRead.length; k += 1000) {
        const part = toRead.slice(k, k + 1000);
        const r = (await this.withRetry("get documents", () => this.client.transport.request({ method: "POST", path: `/${encodeURIComponent(index)}/_mget`, body: { ids: part.map((i) => ids[i]) } }))) as { docs: MgetDoc[] };
        r.docs.forEach((d, j) => (got[part[j]] = d));
      }
      const lines: string[] = [];
      const pos: number[] = [];
      const written: Doc[] = [];
      for (let i = 0; i < ids.length; i++) {
        const d = got[i];
        if (d?.error && d.error.type !== "index_not_found_exception") {
          throw new SigilError("store_request_failed", `Elasticsearch at ${this.opts.node} failed to read ${collection} ${ids[i]}: ${d.error.type ?? "error"} ${d.error.reason ?? ""}`, { location: { address: this.opts.node } });
        }
        const cur = d?.found && d._source ? d._source : null;
        const next = fn(ids[i], cur === null ? null : (structuredClone(cur) as Doc));
        if (next === null || next === undefined) {
          out[i] = cur;
          continue;
        }
        const curVersion = versionOf(cur);
        const cd = checkUpdated(collection, ids[i], next, curVersion, maxDocBytes);
        const body = sourceWithText(cd);
        const meta = cur && d ? `{"index":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(ids[i])},"if_seq_no":${d._seq_no},"if_primary_term":${d._primary_term}}}` : `{"create":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(ids[i])}}}`;
        lines.push(`${meta}\n${body}\n`);
        pos.push(i);
        written.push(cd.doc);
      }
      opts.beforeWrite?.();
      if (lines.length) {
        const res = (await this.withRetry("bulk update", () =>
          this.client.transport.request({ method: "POST", path: "/_bulk", bulkBody: lines.join(""), querystring: refresh ? { refresh } : {} }),
        )) as { items: Array<Record<string, EsItem>> };
        res.items.forEach((it, k) => {
          const r = it.create ?? it.index ?? Object.values(it)[0];
          const i = pos[k];
          if (r.status === 200 || r.status === 201) out[i] = written[k];
          else if (r.status === 409 || r.status === 429 || r.status >= 500) again.push(i);
          else {
            throw new SigilError("store_request_failed", `Elasticsearch at ${this.opts.node} refused the update of ${collection} ${ids[i]} (${r.status} ${r.error?.type ?? "error"}): ${r.error?.reason ?? ""}`, { location: { address: this.opts.node } });
          }
        });
      }
      // changed meanwhile, or refused for now: read again and retry one by one
      for (const i of again) out[i] = await this.update(collection, ids[i], (cur) => fn(ids[i], cur));
      return out;
    });
  }

  async delete(collection: Collection, ids: string[]): Promise<void> {
    if (!ids.length) return;
    let targets: Array<{ _index: string; _id: string }>;
    if (isImmutable(collection)) {
      await this.refresh(collection);
      targets = [];
      for (let i = 0; i < ids.length; i += 1000) {
        const part = ids.slice(i, i + 1000);
        const r = await this.withRetry("find documents", () => this.client.search({ index: this.pattern(collection), query: { ids: { values: part } }, size: part.length, _source: false, ignore_unavailable: true, allow_no_indices: true }));
        for (const h of r.hits.hits) targets.push({ _index: h._index, _id: h._id! });
      }
    } else targets = ids.map((id) => ({ _index: this.mutableIndex(collection), _id: id }));
    for (let i = 0; i < targets.length; i += 1000) {
      const body = targets
        .slice(i, i + 1000)
        .map((t) => `{"delete":{"_index":${JSON.stringify(t._index)},"_id":${JSON.stringify(t._id)}}}\n`)
        .join("");
      const res = (await this.withRetry("bulk delete", () => this.client.transport.request({ method: "POST", path: "/_bulk", bulkBody: body }))) as { items: Array<Record<string, EsItem>> };
      const failed = res.items.map((it) => it.delete).filter((r) => r.status !== 200 && r.status !== 404);
      if (failed.length) throw new SigilError("store_unavailable", `Elasticsearch did not delete ${failed.length} documents: ${failed[0].error?.reason ?? failed[0].status}`, { location: { address: this.opts.node } });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Queries

  /** Types of the fields a request names that the catalog does not know, from the mappings (cached briefly). */
  private async context(collection: Collection, fields: Iterable<string>): Promise<EsQueryContext> {
    const unknown = [...new Set(fields)].filter((f) => fieldType(collection, f) === undefined && f !== FTS_FIELD);
    const key = (f: string) => `${collection}\u0000${f}`;
    const t = this.now();
    const missing = unknown.filter((f) => {
      const c = this.capsCache.get(key(f));
      return !c || t - c.at > (c.types.length ? 60_000 : 1000);
    });
    if (missing.length) {
      const r = await this.withRetry("read field mappings", () => this.client.fieldCaps({ index: this.pattern(collection), fields: missing, ignore_unavailable: true, allow_no_indices: true }));
      if (this.capsCache.size > 10_000) this.capsCache.clear();
      for (const f of missing) {
        const caps = (r.fields as Record<string, Record<string, { type: string; indices?: string[] }>>)[f] ?? {};
        const types: MappedTypes = Object.values(caps)
          .filter((c) => c.type !== "object" && c.type !== "nested" && c.type !== "unmapped")
          .map((c) => (c.indices ? { type: c.type, indices: c.indices } : { type: c.type }));
        this.capsCache.set(key(f), { at: t, types });
      }
    }
    const now = this.now();
    return { collection, now, dynamicTypes: (f) => this.capsCache.get(key(f))?.types ?? [] };
  }

  private async baseQuery(collection: Collection, req: SearchRequest, extraFields: string[] = []): Promise<{ query: Record<string, unknown>; ctx: EsQueryContext; index: string; from?: number; to?: number; timeField: string }> {
    const timeField = req.timeField ?? "@timestamp";
    const from = timeBound(req.from, "from");
    const to = timeBound(req.to, "to");
    const fields = [...queryFields(req.query), ...extraFields];
    const ctx = await this.context(collection, fields);
    const filter: unknown[] = [toDsl(req.query, ctx)];
    if (from !== undefined || to !== undefined) {
      if (fieldType(collection, timeField) !== "date") {
        throw new UsageError("store_bad_time_field", `${timeField} is not a date field of ${collection}`, { location: { key: timeField }, hint: "use @timestamp or another date field" });
      }
      const r: Record<string, unknown> = { format: "epoch_millis" };
      if (from !== undefined) r.gte = from;
      if (to !== undefined) r.lt = to;
      filter.push({ range: { [timeField]: r } });
    }
    return { query: { bool: { filter } }, ctx, index: this.searchTarget(collection, from, to, timeField), from, to, timeField };
  }

  async search(collection: Collection, req: SearchRequest): Promise<SearchResult> {
    const { size, sort, upTo } = normalizeRequest(req);
    return timed("elasticsearch", "search", async () => {
      const { query, ctx, index } = await this.baseQuery(collection, req, sort.map((s) => s.field));
      const idf = idField(collection);
      const sig = sort.map((s) => `${s.field}:${s.order}`).join(",");
      const esSort: Array<Record<string, unknown>> = sort.map((s) => {
        const f = sortField(s.field, ctx);
        return { [f.name]: { order: s.order, missing: missingLast(f.unmappedType, s.order), unmapped_type: f.unmappedType } };
      });
      esSort.push({ [idf]: { order: "asc", unmapped_type: "keyword" } });
      let searchAfter: unknown[] | undefined;
      if (req.after !== undefined) {
        const c = decodeCursor<{ s: string; h: string; k: unknown[] }>(req.after, "es", sig);
        if (c.k.length !== esSort.length) throw new UsageError("store_bad_cursor", "the paging cursor is damaged", { hint: "start again from the first page" });
        searchAfter = c.k;
      }
      const r = await this.withRetry("search", () =>
        this.client.search<Doc>({
          index,
          query,
          size,
          sort: esSort as never,
          search_after: searchAfter as never,
          track_total_hits: upTo === 0 ? false : upTo,
          ignore_unavailable: true,
          allow_no_indices: true,
        }),
      );
      const hits = r.hits.hits.map((h) => h._source!).filter(Boolean);
      const total = r.hits.total;
      let out: SearchResult;
      if (upTo === 0 || total === undefined) out = { total: hits.length, totalIsLowerBound: true, hits };
      else if (typeof total === "number") out = { total, totalIsLowerBound: false, hits };
      else out = { total: total.value, totalIsLowerBound: total.relation === "gte", hits };
      const last = r.hits.hits[r.hits.hits.length - 1];
      if (size > 0 && r.hits.hits.length === size && last?.sort) out.next = encodeCursor({ s: "es", h: sig, k: last.sort.map(exactSortValue) } as never);
      return out;
    });
  }

  async count(collection: Collection, req: SearchRequest): Promise<number> {
    return timed("elasticsearch", "count", async () => {
      const { query, index } = await this.baseQuery(collection, req);
      const r = await this.withRetry("count", () => this.client.count({ index, query, ignore_unavailable: true, allow_no_indices: true }));
      return r.count;
    });
  }

  async histogram(collection: Collection, req: SearchRequest, intervalMs: number): Promise<HistogramBucket[]> {
    if (!Number.isInteger(intervalMs) || intervalMs < 1) throw new UsageError("store_bad_request", `the histogram interval must be a positive whole number of milliseconds, not ${String(intervalMs)}`);
    return timed("elasticsearch", "histogram", async () => {
      const timeField = req.timeField ?? "@timestamp";
      if (fieldType(collection, timeField) !== "date") throw new UsageError("store_bad_time_field", `${timeField} is not a date field of ${collection}`, { location: { key: timeField }, hint: "use @timestamp or another date field" });
      const { query, index } = await this.baseQuery(collection, req);
      let from = timeBound(req.from, "from");
      let to = timeBound(req.to, "to");
      if (from === undefined || to === undefined) {
        const mm = await this.withRetry("histogram bounds", () =>
          this.client.search({ index, query, size: 0, aggs: { lo: { min: { field: timeField } }, hi: { max: { field: timeField } } }, ignore_unavailable: true, allow_no_indices: true }),
        );
        const aggs = mm.aggregations as { lo: { value: number | null }; hi: { value: number | null } } | undefined;
        if (!aggs || aggs.lo.value === null || aggs.hi.value === null) return [];
        from ??= aggs.lo.value;
        to ??= aggs.hi.value + 1;
      }
      checkBucketCount(from, to, intervalMs);
      const r = await this.withRetry("histogram", () =>
        this.client.search({ index, query, size: 0, aggs: { h: { date_histogram: { field: timeField, fixed_interval: `${intervalMs}ms`, min_doc_count: 1 } } }, ignore_unavailable: true, allow_no_indices: true }),
      );
      const buckets = ((r.aggregations as { h?: { buckets: Array<{ key: number; doc_count: number }> } } | undefined)?.h?.buckets ?? []).map((b) => ({ key: b.key, count: b.doc_count }));
      return fillBuckets(buckets, from, to, intervalMs);
    });
  }

  async terms(collection: Collection, req: SearchRequest, field: string, size: number): Promise<TermsBucket[]> {
    if (!Number.isInteger(size) || size < 1 || size > MAX_TERMS) throw new UsageError("store_bad_request", `terms size must be an integer from 1 to ${MAX_TERMS}, not ${String(size)}`);
    return timed("elasticsearch", "terms", async () => {
      const { query, ctx, index } = await this.baseQuery(collection, req, [field]);
      const f = sortField(field, ctx);
      const r = await this.withRetry("terms", () =>
        this.client.search({
          index,
          query,
          size: 0,
          aggs: { t: { terms: { field: f.name, size, shard_size: Math.max(size * 5, 1000), order: [{ _count: "desc" }, { _key: "asc" }] } } },
          ignore_unavailable: true,
          allow_no_indices: true,
        }),
      );
      const buckets = (r.aggregations as { t?: { buckets: Array<{ key: string | number; key_as_string?: string; doc_count: number }> } } | undefined)?.t?.buckets ?? [];
      const isBool = fieldType(collection, field) === "boolean" || ctx.dynamicTypes(field).some((t) => t.type === "boolean");
      return buckets
        .filter((b) => typeof b.key !== "string" || b.key.length <= MAX_KEYWORD_CHARS)
        .map((b) => ({ key: isBool && b.key_as_string ? b.key_as_string : String(b.key), count: b.doc_count }));
    });
  }

  async refresh(collection?: Collection): Promise<void> {
    const targets = collection ? [this.pattern(collection)] : COLLECTIONS.map((c) => this.pattern(c));
    await this.withRetry("refresh", () => this.client.indices.refresh({ index: targets.join(","), ignore_unavailable: true, allow_no_indices: true }));
  }

  async health(): Promise<StoreHealth> {
    try {
      const h = await this.client.cluster.health({}, { requestTimeout: 5000 });
      const ok = h.status === "green" || h.status === "yellow";
      return { ok, detail: `Elasticsearch ${this.version || "?"} at ${this.opts.node}: cluster ${h.cluster_name} is ${h.status}`, version: this.version || undefined };
    } catch (err) {
      return { ok: false, detail: this.describe(err, "health check", 1).message };
    }
  }

  /** Deletes whole time-based indices of events and signals that ended before their retention. */
  async enforceRetention(): Promise<{ deleted: string[] }> {
    const deleted: string[] = [];
    for (const [c, days] of Object.entries(this.opts.retentionDays ?? {}) as Array<[Collection, number | null | undefined]>) {
      if (typeof days !== "number" || !isImmutable(c)) continue;
      const cutoff = this.now() - days * DAY;
      const names = await this.loadTimeIndices(c);
      const old = [...names].filter((n) => {
        const range = suffixRange(n.slice(`${this.prefix}${c}-`.length));
        return range !== null && range[1] <= cutoff;
      });
      for (let i = 0; i < old.length; i += 50) {
        const part = old.slice(i, i + 50);
        await this.withRetry("delete old indices", () => this.client.indices.delete({ index: part.join(","), ignore_unavailable: true }));
        deleted.push(...part);
        for (const n of part) names.delete(n);
      }
      if (old.length) retentionDeleted.inc({ store: "elasticsearch", collection: c }, old.length);
    }
    if (deleted.length) log.info({ indices: deleted.length }, "Elasticsearch retention removed old indices");
    return { deleted };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.client.close();
  }

  /** Deletes every index and template with this store's prefix (tests and `sigil` reset tools). */
  async dropAll(): Promise<void> {
    await this.withRetry("delete indices", () => this.client.indices.delete({ index: `${this.prefix}*`, ignore_unavailable: true, allow_no_indices: true, expand_wildcards: "all" }));
    for (const c of COLLECTIONS) {
      try {
        await this.client.indices.deleteIndexTemplate({ name: `${this.prefix}${c}` });
      } catch (err) {
        if (!(err instanceof errors.ResponseError && err.statusCode === 404)) throw err;
      }
    }
  }
}

/** Connection failures and overload are worth retrying; anything else is not. */
function isTransient(err: unknown): false | string {
  if (err instanceof errors.ConnectionError || err instanceof errors.NoLivingConnectionsError) return "connection";
  if (err instanceof errors.TimeoutError) return "timeout";
  if (err instanceof errors.ResponseError) {
    const s = err.statusCode ?? 0;
    if (s === 429) return "too_many_requests";
    if (s === 502 || s === 503 || s === 504) return "unavailable";
  }
  return false;
}

function errorText(err: unknown): string {
  if (err instanceof errors.ResponseError) {
    const e = (err.body as { error?: { type?: string; reason?: string; root_cause?: Array<{ reason?: string }> } } | undefined)?.error;
    if (e) return `${e.type ?? ""}: ${e.root_cause?.[0]?.reason ?? e.reason ?? ""}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * The value a missing field sorts as, so it comes last: "_last" for keywords and longs, and for
 * dates and doubles the extreme values themselves, because the sentinels "_last" would return
 * (Long.MIN_VALUE for a date sorted descending, infinities for doubles) do not survive JSON and
 * cannot be passed back in search_after.
 */
function missingLast(kind: string, order: "asc" | "desc"): string | number {
  if (kind === "date") return order === "asc" ? 253402300799999 : -62135596800000; // 9999-12-31 / 0001-01-01
  if (kind === "double") return order === "asc" ? Number.MAX_VALUE : -Number.MAX_VALUE;
  if (kind === "float") return order === "asc" ? 3.4e38 : -3.4e38;
  return "_last";
}

/** Sort values beyond 2^53 (the missing-value sentinels of long and date fields) kept exact as strings. */
function exactSortValue(v: unknown): unknown {
  if (typeof v === "number" && !Number.isSafeInteger(v) && Number.isInteger(v) && Math.abs(v) >= 2 ** 53) return v > 0 ? "9223372036854775807" : "-9223372036854775808";
  return v;
}

function bestId(collection: Collection, doc: unknown): string | undefined {
  if (doc === null || typeof doc !== "object") return undefined;
  const d = doc as Record<string, unknown>;
  const id = isImmutable(collection) ? (d["event"] as Record<string, unknown> | undefined)?.["id"] : d["id"];
  return typeof id === "string" ? id.slice(0, 512) : undefined;
}

/** ECS mappings for a collection: its catalog fields as typed properties, dynamic templates for the rest. */
export function buildMappings(collection: Collection): JsonObject {
  const properties: JsonObject = {};
  const entries = [...catalogFields(collection)].sort(([a], [b]) => a.localeCompare(b));
  for (const [path, type] of entries) {
    const segs = path.split(".");
    let cur = properties;
    let ok = true;
    for (let i = 0; i < segs.length - 1; i++) {
      const node = (cur[segs[i]] ??= { properties: {} }) as JsonObject;
      if (!node["properties"]) {
        ok = false;
        break;
      }
      cur = node["properties"] as JsonObject;
    }
    if (ok && cur[segs[segs.length - 1]] === undefined) cur[segs[segs.length - 1]] = mappingFor(type);
  }
  properties[FTS_FIELD] = { type: "text", analyzer: "whitespace", norms: false, index_options: "positions", position_increment_gap: 100 };
  return {
    dynamic: true,
    date_detection: false,
    numeric_detection: false,
    _source: { excludes: [FTS_FIELD] },
    dynamic_templates: [
      { strings: { match_mapping_type: "string", mapping: { type: "keyword", ignore_above: MAX_KEYWORD_CHARS } } },
      { longs: { match_mapping_type: "long", mapping: { type: "double" } } },
      { doubles: { match_mapping_type: "double", mapping: { type: "double" } } },
    ],
    properties,
  };
}

function mappingFor(type: FieldType): JsonObject {
  switch (type) {
    case "keyword":
      return { type: "keyword", ignore_above: MAX_KEYWORD_CHARS };
    case "text":
      // not indexed as words: every query on the field is a keyword one (es-query.ts), free text is the
      // derived sigil_fts field's; analyzing the value again only cost Elasticsearch CPU and disk
      return { type: "text", index: false, fields: { keyword: { type: "keyword", ignore_above: MAX_KEYWORD_CHARS } } };
    case "date":
      return { type: "date", format: "strict_date_optional_time||epoch_millis" };
    case "ip":
      return { type: "ip", fields: { keyword: { type: "keyword", ignore_above: 256 } } };
    case "long":
      return { type: "long" };
    case "double":
      return { type: "double" };
    case "boolean":
      return { type: "boolean" };
  }
}

/** A canonical document's JSON with its free-text field added (the words of every text field, for search). */
function sourceWithText(cd: { doc: Doc; json: string }): string {
  const texts = documentText(cd.doc);
  return texts.length ? `${cd.json.slice(0, -1)},"${FTS_FIELD}":${JSON.stringify(texts)}}` : cd.json;
}

/** The version a stored document carries (0 when new or unversioned). */
function versionOf(cur: Doc | null): number {
  return cur && typeof cur["version"] === "number" ? (cur["version"] as number) : 0;
}
