// The Elasticsearch store's retry paths against a scripted HTTP peer (the real node cannot be made to
// answer 429 on demand): whole-request and per-item 429/5xx are retried with backoff, refused items
// are reported by id, and a node that keeps failing ends in a clear error naming its address.
// The store's behaviour against the real node is in test/store/elasticsearch.test.ts.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SigilError } from "../errors.ts";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { storeSchema } from "../config/sections/store.ts";
import { ElasticsearchStore, elasticsearchOptionsFromConfig, suffixRange, timeSuffix } from "./elasticsearch.ts";
import { StoreRejectError } from "./errors.ts";
import { toDsl } from "./es-query.ts";
import { parseQuery } from "./query.ts";

type Handler = (req: { method: string; url: string; body: string }) => { status: number; body: unknown };

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function fakeEs(bulk: Handler): Promise<{ url: string; bulkCalls: string[] }> {
  const bulkCalls: string[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const url = req.url ?? "";
      let out: { status: number; body: unknown };
      if (url === "/" || url.startsWith("/?")) out = { status: 405, body: { error: "Incorrect HTTP method for uri [/] and method [GET], allowed: [DELETE]", status: 405 } };
      else if (url.startsWith("/_nodes/_local")) out = { status: 200, body: { nodes: { n1: { version: "8.19.0" } } } };
      else if (url.startsWith("/_index_template/")) out = { status: 200, body: { acknowledged: true } };
      else if (url.startsWith("/_cat/indices")) out = { status: 200, body: [] };
      else if (url.startsWith("/_bulk")) {
        bulkCalls.push(body);
        out = bulk({ method: req.method ?? "", url, body });
      } else out = { status: 404, body: { error: "not scripted" } };
      res.writeHead(out.status, { "content-type": "application/json", "x-elastic-product": "Elasticsearch" });
      res.end(JSON.stringify(out.body));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bulkCalls };
}

const ev = (id: string) => ({ "@timestamp": "2026-01-01T00:00:00Z", event: { id, kind: "event", dataset: "t" } });
const item = (status: number, extra: object = {}) => ({ create: { _index: "x", status, ...extra } });

async function store(url: string, maxRetries = 4) {
  const s = new ElasticsearchStore({ node: url, indexPrefix: "t-", maxRetries, backoffMs: 5, maxBackoffMs: 20, retentionIntervalS: 0 });
  await s.init();
  return s;
}

describe("elasticsearch store: retries", () => {
  it("retries a whole bulk request refused with 429, then only the items refused with 429", async () => {
    let call = 0;
    const es = await fakeEs(() => {
      call++;
      if (call === 1) return { status: 429, body: { error: { type: "es_rejected_execution_exception", reason: "queue full" }, status: 429 } };
      if (call === 2) return { status: 200, body: { errors: true, items: [item(201), item(429, { error: { type: "es_rejected_execution_exception" } }), item(503)] } };
      return { status: 200, body: { errors: false, items: [item(201), item(409)] } };
    });
    const s = await store(es.url);
    expect(await s.put("events", [ev("a"), ev("b"), ev("c")])).toEqual({ created: 2, existing: 1 });
    expect(es.bulkCalls.length).toBe(3);
    // the third request carries only b and c
    expect(es.bulkCalls[2]).toContain('"_id":"b"');
    expect(es.bulkCalls[2]).toContain('"_id":"c"');
    expect(es.bulkCalls[2]).not.toContain('"_id":"a"');
    await s.close();
  });

  it("reports items Elasticsearch refuses by id and position, after writing the rest", async () => {
    const es = await fakeEs(() => ({ status: 200, body: { errors: true, items: [item(201), item(400, { error: { type: "document_parsing_exception", reason: "failed to parse field [x]" } })] } }));
    const s = await store(es.url);
    const err = await s.put("events", [ev("a"), ev("b")]).catch((e) => e);
    expect(err).toBeInstanceOf(StoreRejectError);
    expect((err as StoreRejectError).rejected).toEqual([{ index: 1, id: "b", code: "doc_refused", reason: expect.stringContaining("document_parsing_exception") }]);
    expect((err as StoreRejectError).result).toEqual({ created: 1, existing: 0 });
    await s.close();
  });

  it("gives up after max_retries with store_unavailable naming the node", async () => {
    const es = await fakeEs(() => ({ status: 503, body: { error: "unavailable" } }));
    const s = await store(es.url, 2);
    const err = await s.put("events", [ev("a")]).catch((e) => e);
    expect(err).toBeInstanceOf(SigilError);
    expect((err as SigilError).code).toBe("store_unavailable");
    expect((err as SigilError).message).toContain(es.url);
    expect(es.bulkCalls.length).toBe(3);
    await s.close();
  });

  it("splits bulk requests by document count and bytes", async () => {
    const es = await fakeEs(({ body }) => ({ status: 200, body: { errors: false, items: body.trim().split("\n").filter((_, i) => i % 2 === 0).map(() => item(201)) } }));
    const s = new ElasticsearchStore({ node: es.url, indexPrefix: "t-", bulkMaxDocs: 3, bulkMaxBytes: 1 << 20, retentionIntervalS: 0 });
    await s.init();
    expect(await s.put("events", Array.from({ length: 10 }, (_, i) => ev(`d${i}`)))).toEqual({ created: 10, existing: 0 });
    expect(es.bulkCalls.length).toBe(4);
    await s.close();
  });
});

describe("elasticsearch store: names and translation", () => {
  it("names time-based indices by day, ISO week and month, and reads the range back", () => {
    const t = Date.UTC(2026, 0, 7, 15); // a Wednesday
    expect(timeSuffix(t, "day")).toBe("2026.01.07");
    expect(timeSuffix(t, "week")).toBe("w2026.01.05");
    expect(timeSuffix(t, "month")).toBe("2026.01");
    expect(timeSuffix(t, "none")).toBe("all");
    expect(suffixRange("2026.01.07")).toEqual([Date.UTC(2026, 0, 7), Date.UTC(2026, 0, 8)]);
    expect(suffixRange("w2026.01.05")).toEqual([Date.UTC(2026, 0, 5), Date.UTC(2026, 0, 12)]);
    expect(suffixRange("2026.12")).toEqual([Date.UTC(2026, 11, 1), Date.UTC(2027, 0, 1)]);
    expect(suffixRange("all")).toBeNull();
  });

  it("translates each construct to the DSL it means", () => {
    const ctx = { collection: "events" as const, now: Date.UTC(2026, 0, 1), dynamicTypes: (f: string) => (f === "custom.n" ? [{ type: "double" }] : []) };
    expect(toDsl(parseQuery("host.name:Web-01"), ctx)).toEqual({ term: { "host.name": { value: "Web-01", case_insensitive: true } } });
    expect(toDsl(parseQuery("message:*fail*"), ctx)).toEqual({ wildcard: { "message.keyword": { value: "*fail*", case_insensitive: true } } });
    expect(toDsl(parseQuery("source.ip:10.0.0.0/8"), ctx)).toEqual({ term: { "source.ip": "10.0.0.0/8" } });
    expect(toDsl(parseQuery("custom.n:abc"), ctx)).toEqual({ match_none: {} });
    expect(toDsl(parseQuery('"failed password"'), ctx)).toEqual({ span_near: { clauses: [{ span_term: { sigil_fts: "failed" } }, { span_term: { sigil_fts: "password" } }], slop: 0, in_order: true } });
    expect(toDsl(parseQuery("@timestamp:2026-01-02"), ctx)).toEqual({ range: { "@timestamp": { gte: Date.UTC(2026, 0, 2), lte: Date.UTC(2026, 0, 3) - 1, format: "epoch_millis" } } });
    expect(toDsl(parseQuery("a:1 OR NOT b:2"), ctx)).toMatchObject({ bool: { should: [{}, { bool: { must_not: [{}] } }], minimum_should_match: 1 } });
  });

  it("queries each type separately where dynamic mappings conflict", () => {
    const ctx = { collection: "events" as const, now: 0, dynamicTypes: () => [{ type: "keyword", indices: ["i1"] }, { type: "double", indices: ["i2"] }] };
    expect(toDsl(parseQuery("x.y:5"), ctx)).toEqual({
      bool: {
        should: [
          { bool: { filter: [{ terms: { _index: ["i1"] } }, { term: { "x.y": { value: "5", case_insensitive: true } } }] } },
          { bool: { filter: [{ terms: { _index: ["i2"] } }, { term: { "x.y": 5 } }] } },
        ],
        minimum_should_match: 1,
      },
    });
  });
});

describe("elasticsearch store: credentials and TLS from config", () => {
  it("reads the password and CA from files, the API key from the environment, and turns TLS on for https", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-es-cfg-"));
    try {
      fs.writeFileSync(path.join(dir, "pw"), "s3cret\n");
      fs.writeFileSync(path.join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n");
      const basic = elasticsearchOptionsFromConfig(
        storeSchema.parse({ type: "elasticsearch", elasticsearch: { node: "https://es:9200", username: "sigil", password: { file: path.join(dir, "pw") }, tls: { ca_file: path.join(dir, "ca.pem") } } }),
      );
      expect(basic.auth).toEqual({ username: "sigil", password: "s3cret" });
      expect(basic.tls?.ca?.toString()).toContain("BEGIN CERTIFICATE");
      expect(basic.tls?.rejectUnauthorized).toBe(true);
      expect(basic.tls?.minVersion).toBe("TLSv1.3");
      const key = elasticsearchOptionsFromConfig(storeSchema.parse({ type: "elasticsearch", elasticsearch: { api_key: { env: "ES_KEY" } } }), { ES_KEY: "abc" });
      expect(key.auth).toEqual({ apiKey: "abc" });
      expect(key.tls).toBeUndefined();
      expect(() => elasticsearchOptionsFromConfig(storeSchema.parse({ type: "elasticsearch", elasticsearch: { username: "u" } }))).toThrow(expect.objectContaining({ code: "config_missing_secret" }));
      expect(() => elasticsearchOptionsFromConfig(storeSchema.parse({ type: "elasticsearch", elasticsearch: { tls: { enabled: true, ca_file: path.join(dir, "missing.pem") } } }))).toThrow(expect.objectContaining({ code: "config_file_unreadable" }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an index prefix Elasticsearch cannot use", () => {
    expect(() => storeSchema.parse({ elasticsearch: { index_prefix: "Bad Prefix" } })).toThrow();
  });
});
