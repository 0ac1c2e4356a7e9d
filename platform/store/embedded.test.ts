// The store contract against the embedded store (SQLite in a temp directory, in-process and through
// a reader worker), plus what only the embedded store has: durability across kill -9, reopening,
// retention and size bounds, index use, and clear errors when the file cannot be opened.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { corpus, runStoreContract } from "../../test/store/contract.ts";
import { SigilError } from "../errors.ts";
import { createSchema, openDb, QueryEngine, SCHEMA_VERSION } from "./embedded-db.ts";
import { storeSchema } from "../config/sections/store.ts";
import { createStore, openStore } from "./create.ts";
import { EmbeddedStore, type EmbeddedOptions } from "./embedded.ts";
import { parseQuery } from "./query.ts";
import { NO_ARRAYS, compileWhere } from "./sql.ts";
import type { Doc } from "./types.ts";

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-store-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function factory(opts: Partial<EmbeddedOptions> = {}) {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-store-"));
    const store = new EmbeddedStore({ file: path.join(dir, "store.db"), queryWorkers: 0, synchronous: "normal", ...opts });
    await store.init();
    return {
      store,
      cleanup: async () => {
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

runStoreContract("embedded", factory());
runStoreContract("embedded (reader worker)", factory({ queryWorkers: 1 }));

const ev = (id: string, at: number, extra: Record<string, unknown> = {}): Doc => ({ "@timestamp": new Date(at).toISOString(), event: { id, kind: "event", dataset: "t" }, ...extra }) as Doc;

describe("embedded store: durability", () => {
  it("every acknowledged put survives kill -9 of the writing process", async () => {
    const file = path.join(tempDir(), "store.db");
    const script = fileURLToPath(new URL("./testdata/kill-writer.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script, file], { stdio: ["ignore", "pipe", "pipe"] });
    let acked = -1;
    let buf = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        buf += chunk.toString();
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const l of lines) {
          const m = /^ack (\d+)$/.exec(l);
          if (m) acked = Number(m[1]);
        }
        // kill right after an acknowledgement, while the next batch is being written
        if (acked >= 20 && child.exitCode === null && !child.killed) child.kill("SIGKILL");
      });
      child.on("exit", (_code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`writer exited without being killed (${_code})`))));
      child.on("error", reject);
    });
    expect(acked).toBeGreaterThanOrEqual(20);
    const store = new EmbeddedStore({ file, queryWorkers: 0 });
    await store.init();
    try {
      const n = await store.count("events", {});
      // every acknowledged batch is there; the batch in flight is all or nothing
      expect(n === (acked + 1) * 100 || n === (acked + 2) * 100).toBe(true);
      const last = await store.getMany("events", Array.from({ length: 100 }, (_, i) => `b${acked}-${i}`));
      expect(last.length).toBe(100);
      expect(await store.count("events", { query: parseQuery(`batch${acked}`) })).toBe(100);
    } finally {
      await store.close();
    }
    const db = new Database(file, { readonly: true });
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    db.close();
  }, 60_000);

  it("keeps everything across close and reopen, including where arrays of objects are", async () => {
    const file = path.join(tempDir(), "store.db");
    const a = new EmbeddedStore({ file, queryWorkers: 0 });
    await a.init();
    await a.put("signals", [{ "@timestamp": "2026-01-01T00:00:00Z", event: { id: "s1", kind: "signal" }, signal: { events: [{ id: "x1" }, { id: "x2" }] } }]);
    await a.close();
    const b = new EmbeddedStore({ file, queryWorkers: 1 });
    await b.init();
    expect(await b.count("signals", { query: parseQuery("signal.events.id:x2") })).toBe(1);
    await b.close();
  });
});

describe("embedded store: retention and size bounds", () => {
  const DAY = 86_400_000;
  const NOW = Date.UTC(2026, 5, 1);

  it("deletes events and signals past their retention, from the tables and the free-text index", async () => {
    const store = new EmbeddedStore({ file: path.join(tempDir(), "s.db"), queryWorkers: 0, retentionDays: { events: 7, signals: 30 }, now: () => NOW });
    await store.init();
    const docs = Array.from({ length: 12_000 }, (_, i) => ev(`e${i}`, NOW - (i % 10) * DAY - 1000, { message: `word${i % 10}` }));
    await store.put("events", docs);
    await store.put("signals", [ev("s-old", NOW - 40 * DAY), ev("s-new", NOW - 10 * DAY)]);
    const r = await store.enforceRetention();
    // ages 7, 8, 9 days (rounded down, minus a second) are past 7 days
    expect(r.deleted.events).toBe(3600);
    expect(r.deleted.signals).toBe(1);
    expect(await store.count("events", {})).toBe(8400);
    expect(await store.count("events", { query: parseQuery("word8") })).toBe(0);
    expect(await store.count("events", { query: parseQuery("word6") })).toBe(1200);
    expect(await store.get("signals", "s-new")).not.toBeNull();
    await store.close();
  });

  it("deletes the oldest events while the database is over its size bound", async () => {
    const store = new EmbeddedStore({ file: path.join(tempDir(), "s.db"), queryWorkers: 0, maxBytes: 2 * 1024 * 1024 });
    await store.init();
    const pad = "p".repeat(400);
    for (let b = 0; b < 10; b++) await store.put("events", Array.from({ length: 1000 }, (_, i) => ev(`e${b}-${i}`, NOW + b * 1000 + i, { pad })));
    const r = await store.enforceRetention();
    expect(r.bytesBefore).toBeGreaterThan(2 * 1024 * 1024);
    expect(r.bytesAfter).toBeLessThanOrEqual(2 * 1024 * 1024);
    const left = await store.count("events", {});
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(10_000);
    // the newest survive, the oldest went first
    expect(await store.get("events", "e9-999")).not.toBeNull();
    expect(await store.get("events", "e0-0")).toBeNull();
    await store.close();
  });
});

describe("embedded store: fuzzed queries", () => {
  it("any text the parser accepts runs as SQL; anything else fails with a SigilError", async () => {
    const store = new EmbeddedStore({ file: path.join(tempDir(), "s.db"), queryWorkers: 0 });
    await store.init();
    await store.put("events", corpus().filter((d) => (d["host"] as { name?: string } | undefined)?.name !== "huge-host"));
    const alphabet = fc.constantFrom(..."ab:*?\"\\()[]{}<>=!-+ &|TO AND OR NOT . _@ 1 0 é 中 host.name user.name event.category dns.answers.name @timestamp now-1h / ".split(" "));
    let ran = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(alphabet, { maxLength: 14 }).map((a) => a.join(" ")), async (text) => {
        let q;
        try {
          q = parseQuery(text);
        } catch (e) {
          expect(e).toBeInstanceOf(SigilError);
          return;
        }
        try {
          const r = await store.search("events", { query: q, size: 5 });
          expect(r.hits.length).toBeLessThanOrEqual(5);
          ran++;
        } catch (e) {
          expect(e).toBeInstanceOf(SigilError);
        }
      }),
      { numRuns: 400 },
    );
    expect(ran).toBeGreaterThan(50);
    await store.close();
  });
});

describe("createStore", () => {
  it("builds the embedded store under the data directory by default, and Elasticsearch when configured", async () => {
    const dir = tempDir();
    const store = await openStore(storeSchema.parse({}), dir);
    expect(store.kind).toBe("embedded");
    expect(fs.existsSync(path.join(dir, "store.db"))).toBe(true);
    await store.close();
    const es = await createStore(storeSchema.parse({ type: "elasticsearch", elasticsearch: { node: "http://127.0.0.1:9" } }), dir);
    expect(es.kind).toBe("elasticsearch");
    await es.close();
  });
});

describe("embedded store: plans and errors", () => {
  it("uses the expression index for hot fields and the time index for time ranges", () => {
    const db = openDb(":memory:");
    createSchema(db);
    const plan = (q: string, extra = "") => {
      const ctx = { collection: "events" as const, arrays: NO_ARRAYS, params: [] as unknown[], now: Date.now(), alias: 0 };
      const where = compileWhere(parseQuery(q), ctx);
      const rows = db.prepare(`EXPLAIN QUERY PLAN SELECT 1 FROM "c_events" AS d WHERE ${where}${extra}`).all(...ctx.params) as Array<{ detail: string }>;
      return rows.map((r) => r.detail).join(" | ");
    };
    expect(plan("host.name:web-01")).toMatch(/c_events_f_host_name/);
    expect(plan("user.name:adm*")).toMatch(/c_events_f_user_name/);
    expect(plan("@timestamp:>=2026-01-01")).toMatch(/c_events_ts/);
    expect(plan("mimikatz")).toMatch(/c_events_fts|VIRTUAL TABLE/);
    db.close();
  });

  it("refuses a database written by a newer schema", async () => {
    const file = path.join(tempDir(), "s.db");
    const db = openDb(file);
    createSchema(db);
    db.prepare(`UPDATE sigil_meta SET value = ? WHERE key = 'schema_version'`).run(String(SCHEMA_VERSION + 1));
    db.close();
    const store = new EmbeddedStore({ file, queryWorkers: 0 });
    await expect(store.init()).rejects.toMatchObject({ code: "store_schema_newer" });
  });

  it("names the file when it cannot be opened", async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "not-a-dir"), "x");
    const store = new EmbeddedStore({ file: path.join(dir, "not-a-dir", "s.db"), queryWorkers: 0 });
    const err = await store.init().catch((e) => e);
    expect(err).toBeInstanceOf(SigilError);
    expect(String((err as Error).message)).toContain("not-a-dir");
  });

  it("fails cleanly once closed", async () => {
    const store = new EmbeddedStore({ file: path.join(tempDir(), "s.db"), queryWorkers: 1 });
    await store.init();
    await store.close();
    await expect(store.search("events", {})).rejects.toMatchObject({ code: "store_closed" });
    expect((await store.health()).ok).toBe(false);
  });

  it("the query engine reads documents as written by another connection", async () => {
    const file = path.join(tempDir(), "s.db");
    const store = new EmbeddedStore({ file, queryWorkers: 0 });
    await store.init();
    await store.put("events", [ev("x", Date.UTC(2026, 0, 1), { host: { name: "h" } })]);
    const reader = new QueryEngine(openDb(file, { readonly: true }));
    expect(reader.count("events", { query: parseQuery("host.name:h") })).toBe(1);
    await store.close();
  });
});
