// `sigil search` against an embedded store in a temp data directory: documents, count, histogram,
// terms, paging with --all, and bad input (query errors with their column, bad flags) exiting 2.
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { main } from "../main.ts";
import type { CommandContext } from "../command.ts";
import { EmbeddedStore } from "../../platform/store/embedded.ts";
import { parseInterval } from "./search.ts";

function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (err += d));
  const ctx: CommandContext = { stdout, stderr, stdin: new PassThrough(), env, cwd: process.cwd(), signal: new AbortController().signal };
  return main(argv, ctx).then((code) => ({ code, out, err }));
}

describe("sigil search", () => {
  it("searches, counts, buckets and ranks the configured store", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-search-"));
    try {
      const store = new EmbeddedStore({ file: path.join(dir, "store.db"), queryWorkers: 0 });
      await store.init();
      const t0 = Date.UTC(2026, 0, 1);
      await store.put(
        "events",
        Array.from({ length: 250 }, (_, i) => ({ "@timestamp": new Date(t0 + i * 60_000).toISOString(), event: { id: `e${i}`, kind: "event", dataset: "t" }, host: { name: `h${i % 3}` }, message: i % 10 === 0 ? "Failed password" : "ok" })),
      );
      await store.close();
      const env = { SIGIL_DATA_DIR: dir, SIGIL_LOG_LEVEL: "silent", SIGIL_STORE__EMBEDDED__QUERY_WORKERS: "0" };

      const r = await run(["search", '"failed password"', "host.name:h0", "--size", "3"], env);
      expect(r.code).toBe(0);
      const docs = r.out.trim().split("\n").map((l) => JSON.parse(l));
      expect(docs.map((d) => d.event.id)).toEqual(["e240", "e210", "e180"]);
      expect(r.err).toContain("9 matches");

      const all = await run(["search", "--all", "--sort", "@timestamp:asc"], env);
      expect(all.out.trim().split("\n").length).toBe(250);

      expect(JSON.parse((await run(["search", "--count", "host.name:h1"], env)).out)).toEqual({ count: 83 });
      const h = (await run(["search", "--histogram", "1h", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T03:00:00Z"], env)).out.trim().split("\n").map((l) => JSON.parse(l));
      expect(h).toEqual([
        { time: "2026-01-01T00:00:00.000Z", count: 60 },
        { time: "2026-01-01T01:00:00.000Z", count: 60 },
        { time: "2026-01-01T02:00:00.000Z", count: 60 },
      ]);
      const terms = (await run(["search", "--terms", "host.name", "--size", "2"], env)).out.trim().split("\n").map((l) => JSON.parse(l));
      expect(terms).toEqual([
        { key: "h0", count: 84 },
        { key: "h1", count: 83 },
      ]);

      const bad = await run(["search", "host.name:(a OR b"], env);
      expect(bad.code).toBe(2);
      expect(bad.err).toContain("query_syntax");
      expect(bad.err).toContain("column 11");
      expect((await run(["search", "--collection", "nope"], env)).code).toBe(2);
      expect((await run(["search", "--count", "--terms", "x"], env)).code).toBe(2);
      expect((await run(["search", "--histogram", "soon"], env)).code).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads intervals", () => {
    expect(parseInterval("5m")).toBe(300_000);
    expect(parseInterval("250ms")).toBe(250);
    expect(parseInterval("60000")).toBe(60_000);
    expect(() => parseInterval("0s")).toThrow();
  });
});
