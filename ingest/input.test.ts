import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { maybeGunzip, opensJsonDocument, readRecords, type InputBatch } from "./input.ts";

async function read(data: Buffer | string, opts: { maxLineBytes?: number; chunk?: number } = {}): Promise<InputBatch> {
  const buf = typeof data === "string" ? Buffer.from(data) : data;
  const size = opts.chunk ?? buf.length;
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  const out: InputBatch = { records: [], overlong: [] };
  for await (const b of readRecords(Readable.from(chunks), { source: "t", path: "/var/log/x.log", maxLineBytes: opts.maxLineBytes })) {
    out.records.push(...b.records);
    out.overlong.push(...b.overlong);
    if (b.documentTooLarge) out.documentTooLarge = b.documentTooLarge;
  }
  return out;
}

describe("input reader", () => {
  it("splits lines with numbers and byte offsets, drops CRLF, a BOM and blank lines, across chunk boundaries", async () => {
    const r = await read("\ufeffone\r\n\r\ntwo é\nthree", { chunk: 3 });
    expect(r.records.map((x) => [x.data, x.line, x.offset])).toEqual([
      ["one", 1, 0],
      ["two é", 3, 10],
      ["three", 4, 17],
    ]);
    expect(r.records[0]).toMatchObject({ path: "/var/log/x.log", origin: "x.log@0" });
  });

  it("keeps bytes that are not UTF-8 (decoded as Latin-1 for parsing)", async () => {
    const r = await read(Buffer.concat([Buffer.from("caf"), Buffer.from([0xe9]), Buffer.from("\nok\n")]));
    expect(r.records[0].data).toBe("café");
    expect(Buffer.from(r.records[0].bytes!)).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect(r.records[1].bytes).toBeUndefined();
  });

  it("cuts overlong lines, reports their size and goes on with the next line", async () => {
    const r = await read(`short\n${"x".repeat(300)}\nafter\n`, { maxLineBytes: 100, chunk: 64 });
    expect(r.records.map((x) => x.data)).toEqual(["short", "after"]);
    expect(r.overlong).toHaveLength(1);
    expect(r.overlong[0].bytes).toBe(300);
    expect(r.overlong[0].record.data).toHaveLength(100);
    expect(r.overlong[0].record.line).toBe(2);
  });

  it("reads a pretty-printed JSON document as one record and splits a top-level array", async () => {
    const doc = await read('{\n  "resourceSpans": []\n}\n');
    expect(doc.records).toHaveLength(1);
    expect(JSON.parse(doc.records[0].data)).toEqual({ resourceSpans: [] });
    const arr = await read('[\n {"a": 1},\n {"b": 2}\n]\n');
    expect(arr.records.map((x) => x.data)).toEqual(['{"a":1}', '{"b":2}']);
    expect(arr.records.map((x) => x.origin)).toEqual(["x.log@0#0", "x.log@0#1"]);
    expect(opensJsonDocument("[Mon Dec 26 16:15:55 2016] [notice] x")).toBe(false);
    expect(opensJsonDocument('{"a": 1}')).toBe(false);
    expect(opensJsonDocument('{"Records": [')).toBe(true);
  });

  it("gunzips input that starts with the gzip magic", async () => {
    const s = await maybeGunzip(Readable.from([gzipSync(Buffer.from("a\nb\n"))]));
    const out: string[] = [];
    for await (const b of readRecords(s, { source: "t" })) out.push(...b.records.map((r) => r.data));
    expect(out).toEqual(["a", "b"]);
  });
});
