// The store contract against the real Elasticsearch node (started by the integration global setup),
// each block isolated by its own index prefix, plus what only Elasticsearch has: templates and
// mappings, time-based indices and their retention, refused bulk items, and an unreachable node.
import { afterAll, describe, expect, it } from "vitest";
import { storeSchema } from "../../platform/config/sections/store.ts";
import { SigilError } from "../../platform/errors.ts";
import { StoreRejectError } from "../../platform/store/errors.ts";
import { ElasticsearchStore, elasticsearchOptionsFromConfig, type ElasticsearchOptions } from "../../platform/store/elasticsearch.ts";
import { parseQuery } from "../../platform/store/query.ts";
import type { Doc } from "../../platform/store/types.ts";
import { testIsolation } from "../support/services.ts";
import { runStoreContract } from "./contract.ts";

const iso = testIsolation(import.meta.url);
let n = 0;
afterAll(() => iso.cleanup());

function options(extra: Partial<ElasticsearchOptions> = {}): ElasticsearchOptions {
  const cfg = storeSchema.parse({ type: "elasticsearch", elasticsearch: { node: iso.esUrl, index_prefix: `${iso.indexPrefix}${n++}-` } });
  return { ...elasticsearchOptionsFromConfig(cfg), retentionIntervalS: 0, ...extra };
}

async function open(extra: Partial<ElasticsearchOptions> = {}) {
  const store = new ElasticsearchStore(options(extra));
  await store.init();
  return {
    store,
    cleanup: async () => {
      await store.dropAll();
      await store.close();
    },
  };
}

runStoreContract("elasticsearch", () => open());

const ev = (id: string, at: string, extra: Record<string, unknown> = {}): Doc => ({ "@timestamp": at, event: { id, kind: "event", dataset: "t" }, ...extra }) as Doc;

describe("elasticsearch store: indices, mappings, retention", () => {
  it("maps ECS fields by type, bounds dynamic fields, and keeps the free-text field out of _source", async () => {
    const { store, cleanup } = await open();
    try {
      await store.put("events", [ev("m1", "2026-01-10T12:00:00Z", { source: { ip: "10.1.2.3" }, message: "hello world", winlog: { event_data: { Anything: "x" } }, custom: { n: 3 } })]);
      await store.refresh("events");
      const indices = Object.keys(await store.client.indices.get({ index: `${options().indexPrefix.replace(/\d+-$/, "")}*` }));
      const idx = indices.find((i) => i.endsWith("events-2026.01.10"));
      expect(idx).toBeDefined();
      const m = (await store.client.indices.getMapping({ index: idx! }))[idx!].mappings as Record<string, any>;
      expect(m.properties["@timestamp"].type).toBe("date");
      expect(m.properties.source.properties.ip.type).toBe("ip");
      expect(m.properties.message.type).toBe("text");
      expect(m.properties.message.fields.keyword.type).toBe("keyword");
      expect(m.properties.event.properties.id.type).toBe("keyword");
      expect(m.properties.winlog.properties.event_data.properties.Anything.type).toBe("keyword");
      expect(m.properties.custom.properties.n.type).toBe("double");
      const s = (await store.client.indices.getSettings({ index: idx! }))[idx!].settings as Record<string, any>;
      expect(s.index.mapping.total_fields.ignore_dynamic_beyond_limit).toBe("true");
      const raw = await store.client.search({ index: idx!, query: { match_all: {} } });
      expect(Object.keys(raw.hits.hits[0]._source as object)).not.toContain("sigil_fts");
    } finally {
      await cleanup();
    }
  });

  it("puts events into daily indices and retention drops whole old indices", async () => {
    const now = Date.UTC(2026, 5, 30);
    const { store, cleanup } = await open({ retentionDays: { events: 10 }, now: () => now });
    try {
      await store.put("events", [ev("r1", "2026-06-01T10:00:00Z"), ev("r2", "2026-06-25T10:00:00Z"), ev("r3", "2026-06-29T23:59:59Z")]);
      await store.refresh("events");
      expect(await store.count("events", {})).toBe(3);
      // the search over a short range only targets the days it covers
      expect(await store.count("events", { from: "2026-06-25T00:00:00Z", to: "2026-06-26T00:00:00Z" })).toBe(1);
      const r = await store.enforceRetention();
      expect(r.deleted.map((x) => x.slice(-10))).toEqual(["2026.06.01"]);
      await store.refresh("events");
      expect(await store.count("events", {})).toBe(2);
      expect(await store.get("events", "r2")).not.toBeNull();
    } finally {
      await cleanup();
    }
  });

  it("a document Elasticsearch refuses is reported by id; the rest of the batch is written", async () => {
    const { store, cleanup } = await open();
    try {
      await store.put("state", [{ id: "s1", shape: { a: 1 } }]);
      const err = await store.put("state", [{ id: "s2", shape: "a string where an object is mapped" }, { id: "s3", shape: { a: 2 } }]).catch((e) => e);
      expect(err).toBeInstanceOf(StoreRejectError);
      expect((err as StoreRejectError).rejected).toEqual([expect.objectContaining({ index: 0, id: "s2", code: "doc_refused" })]);
      expect((err as StoreRejectError).result).toEqual({ created: 1, existing: 0 });
      expect(await store.get("state", "s3")).not.toBeNull();
    } finally {
      await cleanup();
    }
  });

  it("bounds the number of time-based indices", async () => {
    const { store, cleanup } = await open({ maxTimeIndices: 2 });
    try {
      const err = await store.put("events", [ev("t1", "2026-01-01T00:00:00Z"), ev("t2", "2026-01-02T00:00:00Z"), ev("t3", "2031-07-04T00:00:00Z")]).catch((e) => e);
      expect((err as StoreRejectError).rejected).toEqual([expect.objectContaining({ index: 2, id: "t3", code: "doc_too_many_indices" })]);
    } finally {
      await cleanup();
    }
  });

  it("works with one index for everything (time_index_interval none)", async () => {
    const { store, cleanup } = await open({ timeIndexInterval: "none" });
    try {
      await store.put("events", [ev("o1", "2026-01-01T00:00:00Z"), ev("o2", "2027-01-01T00:00:00Z", { host: { name: "x" } })]);
      await store.refresh("events");
      expect(await store.count("events", { query: parseQuery("host.name:x") })).toBe(1);
      const names = Object.keys(await store.client.indices.get({ index: `${(store as unknown as { prefix: string }).prefix}events-*` }));
      expect(names.map((x) => x.slice(-10))).toEqual(["events-all"]);
    } finally {
      await cleanup();
    }
  });
});

describe("elasticsearch store: unreachable node", () => {
  it("names the address after retrying with backoff", async () => {
    const store = new ElasticsearchStore({ ...options(), node: "http://127.0.0.1:9", maxRetries: 2, backoffMs: 10, maxBackoffMs: 50, requestTimeoutMs: 2000 });
    const t0 = Date.now();
    const err = await store.init().catch((e) => e);
    expect(err).toBeInstanceOf(SigilError);
    expect((err as SigilError).code).toBe("store_unreachable");
    expect((err as SigilError).message).toContain("http://127.0.0.1:9");
    expect((err as SigilError).message).toContain("3 attempts");
    expect(Date.now() - t0).toBeLessThan(10_000);
    const h = await store.health();
    expect(h.ok).toBe(false);
    expect(h.detail).toContain("127.0.0.1:9");
    await store.close();
  });
});
