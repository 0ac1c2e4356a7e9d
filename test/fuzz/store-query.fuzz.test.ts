// Fuzz: the console's query language end to end, on both real stores: random and mutated query strings
// are parsed (platform/store/query.ts) and every one that parses is run as a search, a histogram and a
// terms aggregation against the embedded SQLite store and the real Elasticsearch node, over events with
// hostile field names and values. A query either fails to parse with a query_* code and a column, or
// runs; no store throws anything but a SigilError with a code that is not an outage (the console answers
// those 503).
// platform/store/query.test.ts fuzzes the parser alone. The budget is SIGIL_FUZZ_RUNS.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeSchema } from "../../platform/config/sections/store.ts";
import { SigilError } from "../../platform/errors.ts";
import { ElasticsearchStore, elasticsearchOptionsFromConfig } from "../../platform/store/elasticsearch.ts";
import { EmbeddedStore } from "../../platform/store/embedded.ts";
import { parseQuery } from "../../platform/store/query.ts";
import type { Doc, QueryNode, Store } from "../../platform/store/types.ts";
import { testIsolation } from "../support/services.ts";
import { fuzzParams, fuzzTimeout, HOSTILE_STRINGS } from "./support/budget.ts";

const iso = testIsolation(import.meta.url);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-fuzz-query-"));
let stores: [string, Store][] = [];

const FIELDS = ["host.name", "user.name", "source.ip", "event.code", "@timestamp", "message", "process.command_line", "url.original", "winlog.event_data.CommandLine", "__proto__", "constructor", "a.b.c.d.e", "_id", "_source", "event.id", "bytes"];
const VALUES = ["web-1", "bob", "10.0.0.5", "203.0.113.0/24", "4625", "now-1h", "2026-11-21", "*", "?", "a*b", '"a b"', "[1 TO 5]", "{a TO b}", ">=3", "<now", "/(a+)+$/", "\\*", "null", "true", "-1", "1e309", "中文", ...HOSTILE_STRINGS.filter((s) => s.length < 200).map((s) => JSON.stringify(s))];
const clause = fc.oneof(
  fc.tuple(fc.constantFrom(...FIELDS), fc.constantFrom(...VALUES)).map(([f, v]) => `${f}:${v}`),
  fc.constantFrom(...VALUES),
  fc.constantFrom("_exists_:user.name", "NOT", "AND", "OR", "(", ")", "-", "+"),
);
const query = fc.oneof(
  fc.array(clause, { minLength: 1, maxLength: 8 }).map((c) => c.join(" ")),
  fc.array(fc.constantFrom(..."ab:*?\"\\()[]{}<>=!-+ &|TOANDORNOT._@~^/'0123456789".split("")), { maxLength: 60 }).map((a) => a.join("")),
  fc.string({ maxLength: 80 }),
);

beforeAll(async () => {
  const embedded = new EmbeddedStore({ file: path.join(dir, "store.db"), queryWorkers: 0 });
  const cfg = storeSchema.parse({ type: "elasticsearch", elasticsearch: { node: iso.esUrl, index_prefix: iso.indexPrefix } });
  const es = new ElasticsearchStore({ ...elasticsearchOptionsFromConfig(cfg), retentionIntervalS: 0 });
  stores = [
    ["embedded", embedded],
    ["elasticsearch", es],
  ];
  const now = Date.now();
  const docs: Doc[] = Array.from({ length: 40 }, (_, i) => ({
    "@timestamp": new Date(now - i * 60_000).toISOString(),
    event: { id: `fz${i.toString(16).padStart(30, "0")}`, kind: "event", dataset: "fuzz", code: String(4620 + (i % 8)) },
    host: { name: `web-${i % 3}` },
    user: { name: ["bob", "alice", HOSTILE_STRINGS[0], "constructor"][i % 4] },
    source: { ip: `10.0.0.${i}` },
    message: `${HOSTILE_STRINGS[i % HOSTILE_STRINGS.length].slice(0, 500)} line ${i}`,
    process: { command_line: i % 5 === 0 ? "a".repeat(40) + "!" : `cmd /c echo ${i}` },
    bytes: i * 100,
  })) as Doc[];
  for (const [, s] of stores) {
    await s.init();
    await s.put("events", docs);
    await s.refresh();
  }
}, 120_000);

afterAll(async () => {
  for (const [name, s] of stores) {
    if (name === "elasticsearch") await (s as ElasticsearchStore).dropAll();
    await s.close();
  }
  await iso.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("fuzz: the query language on the embedded and Elasticsearch stores", () => {
  it(
    "every query parses or fails with a code and a column, and every parsed query runs on both stores or fails with a code",
    async () => {
      let ran = 0;
      await fc.assert(
        fc.asyncProperty(query, async (text) => {
          let q: QueryNode;
          try {
            q = parseQuery(text);
          } catch (err) {
            if (!(err instanceof SigilError)) throw err;
            expect(err.code).toMatch(/^query_/);
            return;
          }
          ran++;
          const range = { from: Date.now() - 86_400_000, to: Date.now() + 60_000 };
          for (const [name, s] of stores) {
            for (const op of ["search", "histogram", "terms"] as const) {
              try {
                if (op === "search") await s.search("events", { query: q, ...range, size: 5, sort: [{ field: "@timestamp", order: "desc" }] });
                else if (op === "histogram") await s.histogram("events", { query: q, ...range }, 3_600_000);
                else await s.terms("events", { query: q, ...range }, "host.name", 10);
              } catch (err) {
                expect(err, `${name} ${op} ${JSON.stringify(text)}: ${(err as Error).message}`).toBeInstanceOf(SigilError);
                expect((err as SigilError).code, `${name} ${op} ${JSON.stringify(text)}`).toMatch(/^[a-z][a-z0-9_]*$/);
                // a bad query is the user's error, never a store outage (which the console answers with 503)
                expect(["store_unavailable", "store_circuit_open", "internal"], `${name} ${op} ${JSON.stringify(text)}`).not.toContain((err as SigilError).code);
              }
            }
          }
        }),
        fuzzParams(),
      );
      expect(ran, "some queries parsed and ran").toBeGreaterThan(0);
    },
    fuzzTimeout(300),
  );
});
