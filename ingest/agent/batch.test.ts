import { describe, expect, it } from "vitest";
import zlib from "node:zlib";
import { AckTracker, Batcher, RecordEncoder, type SealedBatch } from "./batch.ts";

const st = { hostName: "web-1", agentId: "agent-7", agentVersion: "0.1.0", service: "billing", tags: ["prod"], format: "nginx-access" };

describe("RecordEncoder", () => {
  it("writes one JSON record per line with path, offset, host, agent and origin", () => {
    const e = new RecordEncoder(st, "file", "abc123", "/var/log/app.log");
    e.setCreated("2026-11-21T10:00:00.000Z");
    const r = JSON.parse(e.encode('say "hi"\u0001', 42, false));
    expect(r).toEqual({
      message: 'say "hi"\u0001',
      log: { file: { path: "/var/log/app.log" }, offset: 42 },
      event: { created: "2026-11-21T10:00:00.000Z" },
      input: { type: "file" },
      host: { name: "web-1" },
      agent: { id: "agent-7", type: "sigil-agent", version: "0.1.0" },
      service: { name: "billing" },
      tags: ["prod"],
      sigil: { origin: "abc123:42", format: "nginx-access" },
    });
    e.setPath('/var/log/"odd".log');
    const t = JSON.parse(e.encode("x", 7, true));
    expect(t.log.file.path).toBe('/var/log/"odd".log');
    expect(t.sigil).toEqual({ origin: "abc123:7", format: "nginx-access", truncated: true });
  });

  it("stdin records carry no file path", () => {
    const e = new RecordEncoder({ ...st, service: null, tags: [], format: null }, "stdin", "stdin-r1", null);
    const r = JSON.parse(e.encode("x", 0, false));
    expect(r.log).toEqual({ offset: 0 });
    expect(r.input.type).toBe("stdin");
    expect(r.service).toBeUndefined();
    expect(r.sigil).toEqual({ origin: "stdin-r1:0" });
  });
});

describe("AckTracker", () => {
  it("advances only over a prefix of safe batches, whatever order they settle in", () => {
    const seen: number[] = [];
    const a = new AckTracker(100, (o) => seen.push(o));
    a.note(0, 110);
    a.note(0, 120);
    a.note(1, 130);
    a.note(2, 140);
    a.settle(1);
    expect(a.committed).toBe(100);
    a.settle(0);
    expect(a.committed).toBe(130);
    a.settle(2);
    expect(a.committed).toBe(140);
    expect(seen).toEqual([130, 140]);
    expect(a.unsettled).toBe(0);
  });
});

describe("Batcher", () => {
  it("seals by lines, by bytes and by time, gzips, and lists the sources", async () => {
    const out: SealedBatch[] = [];
    const b = new Batcher({ maxLines: 3, maxBytes: 1 << 20, flushMs: 50, compression: "gzip", compressionLevel: 1 }, (x) => out.push(x), (e) => { throw e; });
    const src = new AckTracker(0);
    for (let i = 0; i < 4; i++) b.add(`{"n":${i}}`, src, (i + 1) * 10);
    await b.drained();
    // drained() seals the fourth record too.
    expect(out.map((x) => x.lines)).toEqual([3, 1]);
    expect(zlib.gunzipSync(out[0].body).toString()).toBe('{"n":0}\n{"n":1}\n{"n":2}\n');
    expect(out[0].encoding).toBe("gzip");
    expect(out[0].id).toMatch(/^[0-9a-f]{32}$/);
    expect(out[0].sources).toEqual([src]);

    const bytes: SealedBatch[] = [];
    const b2 = new Batcher({ maxLines: 1000, maxBytes: 4096, flushMs: 10_000, compression: "none", compressionLevel: 1 }, (x) => bytes.push(x), () => {});
    for (let i = 0; i < 100; i++) b2.add("x".repeat(100), src, i);
    expect(bytes.length).toBeGreaterThanOrEqual(2);
    for (const x of bytes) expect(x.rawBytes).toBeLessThanOrEqual(4096);
    b2.close();

    const timed: SealedBatch[] = [];
    const b3 = new Batcher({ maxLines: 1000, maxBytes: 1 << 20, flushMs: 30, compression: "none", compressionLevel: 1 }, (x) => timed.push(x), () => {});
    b3.add("a", src, 1);
    expect(timed).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(timed).toHaveLength(1);
  });
});
