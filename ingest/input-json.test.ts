// The one JSON-stream splitter (ingest/input.ts readRecords) as `sigil normalize`, ingest, `sigil
// replay` and `sigil detect` use it: NDJSON, concatenated pretty-printed objects, arrays split into
// elements, each record with the line where it starts; and the SigmaHQ regression event files.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readRecords, type InputBatch } from "./input.ts";
import { readInputRecords, type InputRecord } from "../cli/commands/detect-input.ts";
import { mergeInputs, type InputRejection, type TimedEvent } from "../cli/replay/inputs.ts";
import { main } from "../cli/main.ts";
import { testContext } from "../cli/commands/test-context.ts";
import { SHARED_DATA_MISSING, sharedDataDir } from "../test/support/shared-data.ts";

async function read(text: string, opts: { chunk?: number; maxDocumentBytes?: number } = {}): Promise<InputBatch> {
  const buf = Buffer.from(text);
  const size = opts.chunk ?? buf.length;
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  const out: InputBatch = { records: [], overlong: [] };
  const tooLarge: NonNullable<InputBatch["documentTooLarge"]>[] = [];
  for await (const b of readRecords(Readable.from(chunks), { source: "t", path: "/data/x.json", maxDocumentBytes: opts.maxDocumentBytes })) {
    out.records.push(...b.records);
    out.overlong.push(...b.overlong);
    if (b.documentTooLarge) tooLarge.push(b.documentTooLarge);
    if (b.unterminated) out.unterminated = b.unterminated;
  }
  return Object.assign(out, { tooLarge });
}

/** Line numbers (1-based) and byte offsets of the lines of `text` that satisfy `pred`, computed independently of the reader. */
function linesWhere(text: string, pred: (line: string) => boolean): { line: number; offset: number }[] {
  const out: { line: number; offset: number }[] = [];
  let offset = 0;
  text.split("\n").forEach((l, i) => {
    if (pred(l.replace(/\r$/, ""))) out.push({ line: i + 1, offset });
    offset += Buffer.byteLength(l) + 1;
  });
  return out;
}

const pretty = (o: unknown) => JSON.stringify(o, null, 2);

describe("JSON stream splitting", () => {
  it("reads concatenated pretty-printed objects one record each, with the line and offset where each starts", async () => {
    const objs = [{ a: 1, s: "}{ not structure" }, { b: { c: [1, 2, { d: "]" }] } }, { e: 'quote \\" and } brace' }];
    const text = objs.map(pretty).join("\n") + "\n";
    for (const chunk of [7, 64, 1 << 20]) {
      const r = await read(text, { chunk });
      expect(r.records.map((x) => JSON.parse(x.data))).toEqual(objs);
      const starts = linesWhere(text, (l) => l === "{");
      expect(r.records.map((x) => [x.line, x.offset])).toEqual(starts.map((s) => [s.line, s.offset]));
      expect(new Set(r.records.map((x) => x.origin)).size).toBe(3);
    }
  });

  it("keeps NDJSON and raw log lines as lines, and mixes them with multi-line values", async () => {
    const text = ['{"a":1}', "[Mon Dec 26 16:15:55 2016] [notice] apache line", "{", '  "b": 2', "}", "Jun 14 15:16:01 host sshd[1]: x", '{"c": 3}'].join("\n");
    const r = await read(text);
    expect(r.records.map((x) => [x.line, x.data])).toEqual([
      [1, '{"a":1}'],
      [2, "[Mon Dec 26 16:15:55 2016] [notice] apache line"],
      [3, '{\n  "b": 2\n}'],
      [6, "Jun 14 15:16:01 host sshd[1]: x"],
      [7, '{"c": 3}'],
    ]);
  });

  it("splits values that close and open on one line (}{ and }, {)", async () => {
    const text = '{\n "a": 1\n}{\n "b": 2\n}, {"c": 3}\n{"d":\n 4}\n';
    const r = await read(text);
    expect(r.records.map((x) => [x.line, JSON.parse(x.data)])).toEqual([
      [1, { a: 1 }],
      [3, { b: 2 }],
      [5, { c: 3 }],
      [6, { d: 4 }],
    ]);
    expect(r.records[1].offset).toBe(text.indexOf("}{") + 1);
  });

  it("splits a top-level array into elements, each with the line where it starts", async () => {
    const els = [{ a: 1 }, { b: [1, { c: 2 }] }, "text", 7];
    const text = "[\n" + els.map((e) => pretty(e).replace(/^/gm, "  ")).join(",\n") + "\n]\n";
    const r = await read(text, { chunk: 5 });
    expect(r.records.map((x) => JSON.parse(x.data))).toEqual(els);
    const starts = linesWhere(text, (l) => /^ {2}\S/.test(l) && !/^ {2}[}\]]/.test(l));
    expect(r.records.map((x) => x.line)).toEqual(starts.map((s) => s.line));
    expect(r.records.map((x) => x.origin)).toEqual(["x.json@0#0", "x.json@0#1", "x.json@0#2", "x.json@0#3"]);
    const oneLine = await read('[{"a":1},{"b":2}]\n');
    expect(oneLine.records.map((x) => [x.line, x.data])).toEqual([
      [1, '{"a":1}'],
      [1, '{"b":2}'],
    ]);
  });

  it("rejects an oversized value with its start line and goes on with the next one", async () => {
    const big = pretty({ big: "x".repeat(500) });
    const text = `${big}\n${pretty({ ok: true })}\n`;
    const r = (await read(text, { maxDocumentBytes: 200 })) as InputBatch & { tooLarge: { record: { line?: number }; bytes: number }[] };
    expect(r.tooLarge.map((t) => t.record.line)).toEqual([1]);
    expect(r.tooLarge[0].bytes).toBe(Buffer.byteLength(big));
    expect(r.records.map((x) => [x.line, JSON.parse(x.data)])).toEqual([[4, { ok: true }]]);
  });

  it("keeps a value the input ends inside as one record, flagged unterminated", async () => {
    const r = await read('{"a": 1}\n{\n  "b": [1,\n');
    expect(r.records.map((x) => x.line)).toEqual([1, 2]);
    expect(r.unterminated?.line).toBe(2);
    expect(r.unterminated).toBe(r.records[1]);
  });

  it("gives sigil detect the same records, compacted onto one line", async () => {
    const text = `${pretty({ a: 1 })}\n${pretty({ b: "two\\nlines" })}\nraw line\n`;
    const recs: InputRecord[] = [];
    for await (const r of readInputRecords(Readable.from([text]))) recs.push(r);
    expect(recs.map((r) => [r.index, r.line, r.text])).toEqual([
      [1, 1, '{"a":1}'],
      [2, 4, '{"b":"two\\\\nlines"}'],
      [3, 7, "raw line"],
    ]);
  });
});

const DATA = sharedDataDir();

interface RegressionCase {
  rule_path: string;
  event_file: string;
  event_count: number;
  match_count: number | null;
}

describe.skipIf(!DATA)(`SigmaHQ regression event files${DATA ? "" : ` (${SHARED_DATA_MISSING})`}`, () => {
  const dir = path.join(DATA ?? "", "sigma-regression");
  const cases = DATA
    ? fs
        .readFileSync(path.join(dir, "cases.jsonl"), "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as RegressionCase)
        .filter((c) => c.event_file.endsWith(".json"))
    : [];

  it("reads every event of every file, each at the line where its object starts", async () => {
    expect(cases.length).toBeGreaterThan(50);
    let events = 0;
    for (const c of cases) {
      const file = path.join(dir, c.event_file);
      const text = fs.readFileSync(file, "utf8");
      const r = await read(text, { chunk: 4096 });
      expect(r.records.length, c.event_file).toBe(c.event_count);
      const starts = linesWhere(text, (l) => l === "{");
      expect(r.records.map((x) => [x.line, x.offset]), c.event_file).toEqual(starts.map((s) => [s.line, s.offset]));
      for (const x of r.records) expect(Object.keys(JSON.parse(x.data) as object), c.event_file).toContain("Event");
      events += r.records.length;
    }
    expect(events).toBeGreaterThan(cases.length);
  });

  it("sigil normalize, sigil detect and the replay reader see every event of a multi-event file", async () => {
    const multi = cases.filter((c) => c.event_count > 1 && c.match_count !== null);
    expect(multi.length).toBeGreaterThan(0);
    for (const c of multi) {
      const file = path.join(dir, c.event_file);
      const starts = linesWhere(fs.readFileSync(file, "utf8"), (l) => l === "{").map((s) => s.line);
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-json-split-"));
      try {
        const norm = testContext(tmp);
        expect(await main(["normalize", "--input", file], norm), norm.err()).toBe(0);
        const normalized = norm.out().trim().split("\n").map((l) => JSON.parse(l) as { event: { id: string } });
        expect(normalized.length, c.event_file).toBe(c.event_count);
        expect(new Set(normalized.map((e) => e.event.id)).size).toBe(c.event_count);

        const rule = path.join(DATA!, "sigmahq", c.rule_path);
        const det = testContext(tmp);
        expect(await main(["detect", "-q", "--rules", rule, "--input", file], det), det.err()).toBe(0);
        const matches = det.out().trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { line: number });
        expect(matches.length, c.event_file).toBeGreaterThanOrEqual(c.match_count!);
        // detect's "line" is the 1-based index of the input record (cli/commands/detect.ts)
        for (const m of matches) expect(m.line).toBeGreaterThanOrEqual(1);
        for (const m of matches) expect(m.line).toBeLessThanOrEqual(c.event_count);
        expect(new Set(matches.map((m) => m.line)).size).toBe(matches.length);

        const rejected: InputRejection[] = [];
        const timed: TimedEvent[] = [];
        for await (const batch of mergeInputs([file], { onReject: (x) => rejected.push(x) })) timed.push(...batch);
        expect(rejected).toEqual([]);
        expect(timed.map((t) => t.line).sort((a, b) => a - b)).toEqual(starts);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    }
  });
});
