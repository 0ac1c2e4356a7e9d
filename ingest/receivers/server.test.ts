import http from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BodyPool, HttpError, readBody } from "./server.ts";

/** A loopback server whose handler reads each body with readBody into the pool and reports it. */
let server: http.Server;
let url = "";
const pool = new BodyPool(1 << 20, 2);
const LIMIT = 300_000;
/** The bodies as read (copies), and the pooled buffers they were read into. */
const seen: Array<{ text: string; memory: ArrayBufferLike | null; error?: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    readBody(req, LIMIT, pool).then(
      (body) => {
        seen.push({ text: body.toString("utf8"), memory: body.buffer });
        pool.give(body);
        res.end("ok");
      },
      (err: HttpError) => {
        seen.push({ text: "", memory: null, error: err.code });
        res.statusCode = err.status;
        res.end(err.code);
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function post(body: Buffer, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { method: "POST", body: new Uint8Array(body), headers });
  await res.text();
  return res.status;
}

describe("readBody with a body pool", () => {
  it("reads identity and gzip bodies of many chunks exactly, growing an inflated body past its first buffer, and reuses given-back buffers", async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `{"message":"line ${i} ${"é".repeat(i % 7)}"}`).join("\n");
    const big = Buffer.from(lines); // ~100 KB: several socket chunks
    expect(await post(big)).toBe(200);
    // gzip: ~100 KB inflated from a few KB (more than four times the declared length: the buffer grows)
    expect(await post(gzipSync(big), { "content-encoding": "gzip" })).toBe(200);
    expect(await post(Buffer.from("small"))).toBe(200);
    expect(seen.slice(-3).map((s) => s.text)).toEqual([lines, lines, "small"]);
    expect(pool.reused).toBeGreaterThan(0);
    // a later body was read into memory an earlier one gave back
    const memories = seen.slice(-3).map((s) => s.memory);
    expect(new Set(memories).size).toBeLessThan(3);
  });

  it("gives the buffer back when a body is over the limit after decompression, and still reads the next body right", async () => {
    const before = pool.reused;
    const bomb = gzipSync(Buffer.alloc(LIMIT + 10, 120));
    expect(await post(bomb, { "content-encoding": "gzip" })).toBe(413);
    expect(seen[seen.length - 1].error).toBe("body_too_large");
    expect(await post(Buffer.from("after"))).toBe(200);
    expect(seen[seen.length - 1].text).toBe("after");
    expect(pool.reused).toBeGreaterThan(before);
  });

  it("keeps at most `keep` buffers and hands out fresh ones when none is large enough; bodies above maxBytes are not pooled", () => {
    const p = new BodyPool(1 << 20, 2);
    const a = p.take(70_000);
    const b = p.take(100);
    const c = p.take(2 << 20); // larger than maxBytes: its own buffer
    expect([a.length, b.length, c.length]).toEqual([128 * 1024, 64 * 1024, 2 << 20]);
    p.give(a);
    p.give(b);
    p.give(c); // not the pool's: ignored
    p.give(Buffer.alloc(10)); // not the pool's: ignored
    const d = p.take(100_000);
    expect(d.buffer).toBe(a.buffer);
    const e = p.take(1000);
    expect(e.buffer).toBe(b.buffer);
    expect(p.take(1000).buffer).not.toBe(b.buffer); // the pool is empty now
    expect(p.reused).toBe(2);
  });
});
