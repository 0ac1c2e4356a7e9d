// bench/store: write throughput and query latency of the stores on realistic ECS events.
// Variants: the embedded SQLite store (synchronous=full, the default, and =normal), a naive JSONL
// file store as the home-made alternative (append + fsync per batch, full scans to query), and
// Elasticsearch when a node answers at --es (default http://127.0.0.1:19200; `sigil services up`).
// Prints one JSON object: per variant events/s, bytes on disk per event, and per query p50/p95 ms.
// Run: npx tsx bench/store/run.ts [--events 1000000] [--batch 1000] [--es URL|none] [--es-events 200000] [--jsonl-events 1000000] [--reps 5]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { randomBytes } from "node:crypto";
import { EmbeddedStore } from "../../platform/store/embedded.ts";
import { parseQuery } from "../../platform/store/query.ts";
import type { Doc, SearchRequest, Store } from "../../platform/store/types.ts";
import { getField } from "../../schema/fields.ts";
import { makeEvent, T_END, T_START } from "./events.ts";

process.env.SIGIL_LOG_LEVEL ??= "warn";
const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const N = Number(arg("events", "1000000"));
const BATCH = Number(arg("batch", "1000"));
const ES = arg("es", "http://127.0.0.1:19200");
const ES_N = Number(arg("es-events", "200000"));
const JSONL_N = Number(arg("jsonl-events", String(N)));
const REPS = Number(arg("reps", "5"));

// ---------------------------------------------------------------------------------------------
// The naive alternative: one JSONL file, fsync per batch, full scans to query

class JsonlStore {
  private fd: number;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, "a");
  }
  put(docs: Doc[]): void {
    fs.writeSync(this.fd, docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
    fs.fsyncSync(this.fd);
  }
  /** Newest `size` matches (time desc) and the total, by scanning and parsing every line. */
  async search(pred: (d: Doc) => boolean, size: number): Promise<{ total: number; hits: Doc[] }> {
    const top: Doc[] = [];
    let total = 0;
    const rl = readline.createInterface({ input: fs.createReadStream(this.file), crlfDelay: Infinity });
    for await (const line of rl) {
      if (!line) continue;
      const d = JSON.parse(line) as Doc;
      if (!pred(d)) continue;
      total++;
      top.push(d);
      if (top.length > size * 4) {
        top.sort((a, b) => String(b["@timestamp"]).localeCompare(String(a["@timestamp"])));
        top.length = size;
      }
    }
    top.sort((a, b) => String(b["@timestamp"]).localeCompare(String(a["@timestamp"])));
    return { total, hits: top.slice(0, size) };
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

// ---------------------------------------------------------------------------------------------

function dirSize(p: string): number {
  let s = 0;
  for (const f of fs.readdirSync(p)) s += fs.statSync(path.join(p, f)).size;
  return s;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 10) / 10;
}

async function time(reps: number, fn: () => Promise<unknown>): Promise<{ p50_ms: number; p95_ms: number }> {
  const xs: number[] = [];
  await fn(); // warm the cache and the statement
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    xs.push(performance.now() - t0);
  }
  return { p50_ms: pct(xs, 50), p95_ms: pct(xs, 95) };
}

async function writeAll(store: Store, n: number): Promise<{ events: number; seconds: number; events_per_s: number }> {
  const t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const docs: Doc[] = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) docs.push(makeEvent(j, n));
    await store.put("events", docs);
  }
  await store.refresh("events");
  const seconds = (performance.now() - t0) / 1000;
  return { events: n, seconds: Math.round(seconds * 10) / 10, events_per_s: Math.round(n / seconds) };
}

const lastHour: Pick<SearchRequest, "from" | "to"> = { from: T_END - 3_600_000, to: T_END };
const lastDay: Pick<SearchRequest, "from" | "to"> = { from: T_END - 86_400_000, to: T_END };

async function queryLatencies(store: Store, reps: number) {
  const q = (text: string) => parseQuery(text);
  const out: Record<string, { p50_ms: number; p95_ms: number; hits?: number }> = {};
  const run = async (name: string, fn: () => Promise<number>) => {
    let hits = 0;
    const t = await time(reps, async () => (hits = await fn()));
    out[name] = { ...t, hits };
  };
  await run("term_hot_field_last_hour", async () => (await store.search("events", { query: q("host.name:host-17"), ...lastHour, size: 100 })).total);
  await run("term_hot_field_all_time", async () => (await store.search("events", { query: q("host.name:host-17"), size: 100 })).total);
  await run("term_other_field_last_day", async () => (await store.search("events", { query: q("process.parent.name:proc3.exe"), ...lastDay, size: 100 })).total);
  await run("free_text_rare_word", async () => (await store.search("events", { query: q("mimikatz"), size: 100 })).total);
  await run("free_text_phrase_last_day", async () => (await store.search("events", { query: q('"cmd exe"'), ...lastDay, size: 100 })).total);
  await run("wildcard_contains_last_day", async () => (await store.search("events", { query: q("process.command_line:*whoami*"), ...lastDay, size: 100 })).total);
  await run("bool_mix_last_day", async () => (await store.search("events", { query: q("event.outcome:failure AND (destination.port:445 OR destination.port:3389) AND NOT user.name:user1*"), ...lastDay, size: 100 })).total);
  await run("count_all_time", async () => store.count("events", { query: q("event.category:process") }));
  await run("histogram_7d_1h", async () => (await store.histogram("events", { from: T_START, to: T_END }, 3_600_000)).length);
  await run("terms_user_last_day", async () => (await store.terms("events", lastDay, "user.name", 10)).length);
  await run("paging_10_pages_of_100", async () => {
    let after: string | undefined;
    let n = 0;
    for (let i = 0; i < 10; i++) {
      const r = await store.search("events", { query: q("event.outcome:failure"), size: 100, after, trackTotalUpTo: 0 });
      n += r.hits.length;
      after = r.next;
    }
    return n;
  });
  return out;
}

async function embedded(sync: "full" | "normal", n: number, withQueries: boolean) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bench-store-"));
  const store = new EmbeddedStore({ file: path.join(dir, "store.db"), synchronous: sync, queryWorkers: 0, retentionIntervalS: 0 });
  await store.init();
  try {
    const write = await writeAll(store, n);
    const bytes = dirSize(dir);
    const queries = withQueries ? await queryLatencies(store, REPS) : undefined;
    return { ...write, bytes_on_disk: bytes, bytes_per_event: Math.round(bytes / n), queries };
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function jsonl(n: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bench-jsonl-"));
  const store = new JsonlStore(path.join(dir, "events.jsonl"));
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i += BATCH) {
      const docs: Doc[] = [];
      for (let j = i; j < Math.min(n, i + BATCH); j++) docs.push(makeEvent(j, n));
      store.put(docs);
    }
    const seconds = (performance.now() - t0) / 1000;
    const bytes = dirSize(dir);
    const inRange = (d: Doc, r: { from?: string | number; to?: string | number }) => {
      const t = Date.parse(d["@timestamp"] as string);
      return t >= Number(r.from) && t < Number(r.to);
    };
    const reps = Math.min(REPS, 3);
    const queries = {
      term_hot_field_last_hour: await time(reps, () => store.search((d) => getField(d, "host.name") === "host-17" && inRange(d, lastHour), 100)),
      free_text_rare_word: await time(reps, () => store.search((d) => JSON.stringify(d).toLowerCase().includes("mimikatz"), 100)),
      count_all_time: await time(reps, () => store.search((d) => (getField(d, "event.category") as string[]).includes("process"), 0)),
    };
    return { events: n, seconds: Math.round(seconds * 10) / 10, events_per_s: Math.round(n / seconds), bytes_on_disk: bytes, bytes_per_event: Math.round(bytes / n), queries };
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function elasticsearch(n: number) {
  try {
    const res = await fetch(`${ES}/_cluster/health`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return { skipped: `Elasticsearch at ${ES} answered ${res.status}` };
  } catch {
    return { skipped: `no Elasticsearch at ${ES}` };
  }
  const { ElasticsearchStore } = await import("../../platform/store/elasticsearch.ts");
  const store = new ElasticsearchStore({ node: ES, indexPrefix: `sigil-bench-${randomBytes(3).toString("hex")}-`, retentionIntervalS: 0, bulkMaxDocs: 2000 });
  await store.init();
  try {
    const write = await writeAll(store, n);
    const queries = await queryLatencies(store, REPS);
    return { ...write, queries };
  } finally {
    await store.dropAll();
    await store.close();
  }
}

const result: Record<string, unknown> = {
  bench: "store",
  node: process.version,
  cpus: os.cpus().length,
  caveat: "measured on a shared development machine; the lead re-measures on a quiet one",
  events: N,
  batch: BATCH,
};
result.embedded_full = await embedded("full", N, true);
result.embedded_normal = await embedded("normal", Math.min(N, 200_000), false);
result.jsonl = JSONL_N > 0 ? await jsonl(JSONL_N) : { skipped: "--jsonl-events 0" };
result.elasticsearch = ES === "none" ? { skipped: "--es none" } : await elasticsearch(ES_N);
process.stdout.write(JSON.stringify(result, null, 2) + "\n");
