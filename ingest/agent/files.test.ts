// The file input against real files on disk: identity, rotation, truncation, deletion, restart.
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { agentConfigSchema, type AgentConfig } from "./config.ts";
import { Batcher } from "./batch.ts";
import { CheckpointStore } from "./checkpoints.ts";
import { FileTailer } from "./files.ts";
import { agentMetrics } from "./metrics.ts";

interface Rec {
  message: string;
  log: { file: { path: string }; offset: number };
  sigil: { origin: string; truncated?: boolean };
}

const silent = pino({ level: "silent" });
const open: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.stop();
});

function config(dir: string, input: Record<string, unknown> = {}, files: Record<string, unknown> = {}): AgentConfig {
  return agentConfigSchema.parse({
    data_dir: dir,
    inputs: [{ type: "file", paths: [path.join(dir, "logs", "*.log")], start_at: "beginning", ...input }],
    output: { token: { env: "T" } },
    buffer: { enabled: false },
    files: { scan_interval_ms: 40, poll_interval_ms: 10, close_inactive_ms: 200, ...files },
  });
}

async function tailer(dir: string, cfg: AgentConfig, opts: { settle?: boolean } = {}) {
  const records: Rec[] = [];
  const checkpoints = new CheckpointStore(path.join(dir, "checkpoints.json"), "a1");
  await checkpoints.load();
  const batcher = new Batcher({ maxLines: 50, maxBytes: 1 << 20, flushMs: 10, compression: "none", compressionLevel: 1 }, (b) => {
    for (const l of b.body.toString().split("\n")) if (l) records.push(JSON.parse(l));
    if (opts.settle !== false) for (const s of b.sources) s.settle(b.seq);
  }, (e) => {
    throw e;
  });
  const t = new FileTailer({
    config: cfg,
    checkpoints,
    batcher,
    statics: () => ({ hostName: "h", agentId: "a1", agentVersion: "0", service: null, tags: [], format: null }),
    capacity: async () => {},
    log: silent,
    metrics: agentMetrics(),
    firstRun: checkpoints.all().length === 0,
  });
  await t.start();
  const handle = {
    records,
    t,
    checkpoints,
    async stop() {
      await t.stop();
      await batcher.drained();
      batcher.close();
      await checkpoints.close();
    },
  };
  open.push(handle);
  return handle;
}

function setup(): { dir: string; logs: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-files-"));
  const logs = path.join(dir, "logs");
  fs.mkdirSync(logs);
  return { dir, logs };
}

const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `line ${String(from + i).padStart(6, "0")} ${"x".repeat(40)}\n`).join("");

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every expected line exactly once (by message), with unique origins. */
function expectExactlyOnce(records: Rec[], n: number): void {
  const msgs = records.map((r) => r.message);
  const want = lines(0, n).trimEnd().split("\n");
  expect(new Set(records.map((r) => r.sigil.origin)).size).toBe(records.length);
  expect(msgs.slice().sort()).toEqual(want.slice().sort());
}

describe("FileTailer", () => {
  it("reads new files from the start, picks up files created later, and keeps exact offsets", async () => {
    const { dir, logs } = setup();
    fs.writeFileSync(path.join(logs, "a.log"), lines(0, 10));
    const h = await tailer(dir, config(dir));
    await until(() => h.records.length === 10);
    fs.writeFileSync(path.join(logs, "b.log"), lines(10, 15));
    fs.writeFileSync(path.join(logs, "ignored.txt"), "nope\n");
    await until(() => h.records.length === 15);
    expectExactlyOnce(h.records, 15);
    const b = h.records.filter((r) => r.log.file.path.endsWith("b.log"));
    expect(b.map((r) => r.log.offset)).toEqual([0, 53, 106, 159, 212]);
    expect(b[0].sigil.origin).toMatch(/^[0-9a-f]{24}:0$/);
  });

  it("start_at end skips what files held at the very first start, not what is written later", async () => {
    const { dir, logs } = setup();
    fs.writeFileSync(path.join(logs, "a.log"), lines(0, 5));
    const h = await tailer(dir, config(dir, { start_at: "end" }));
    await new Promise((r) => setTimeout(r, 100));
    fs.appendFileSync(path.join(logs, "a.log"), lines(5, 8));
    fs.writeFileSync(path.join(logs, "new.log"), lines(8, 10));
    await until(() => h.records.length === 5);
    expect(h.records.map((r) => r.message).sort()).toEqual(lines(5, 10).trimEnd().split("\n"));
  });

  it("resumes at the exact byte after a restart and keeps the stream id", async () => {
    const { dir, logs } = setup();
    const f = path.join(logs, "a.log");
    fs.writeFileSync(f, lines(0, 10));
    let h = await tailer(dir, config(dir));
    await until(() => h.records.length === 10);
    const origin = h.records[0].sigil.origin.split(":")[0];
    await h.stop();
    fs.appendFileSync(f, lines(10, 20) + "partial");
    h = await tailer(dir, config(dir));
    await until(() => h.records.length === 10);
    expect(h.records.map((r) => r.message)).toEqual(lines(10, 20).trimEnd().split("\n"));
    expect(h.records[0].sigil.origin.split(":")[0]).toBe(origin);
    expect(h.checkpoints.all()[0].offset).toBe(Buffer.byteLength(lines(0, 20)));
  });

  it("does not advance a checkpoint past records that are not safe", async () => {
    const { dir, logs } = setup();
    fs.writeFileSync(path.join(logs, "a.log"), lines(0, 10));
    const h = await tailer(dir, config(dir), { settle: false });
    await until(() => h.records.length === 10);
    await h.stop();
    const h2 = await tailer(dir, config(dir));
    // Nothing was acknowledged, so everything is read again, with the same origins.
    await until(() => h2.records.length === 10);
    expect(h2.records.map((r) => r.sigil.origin)).toEqual(h.records.map((r) => r.sigil.origin));
  });

  it("rename rotation: reads the renamed file to its end (even what is written after the rename) and the new file whole", async () => {
    const { dir, logs } = setup();
    const f = path.join(logs, "app.log");
    const cfg = config(dir, { paths: [f] });
    const fd = fs.openSync(f, "a");
    fs.writeSync(fd, lines(0, 100));
    const h = await tailer(dir, cfg);
    await until(() => h.records.length >= 100);
    fs.writeSync(fd, lines(100, 150));
    fs.renameSync(f, path.join(logs, "app.log.1"));
    // The writer keeps writing to the old file for a moment before it reopens.
    fs.writeSync(fd, lines(150, 200));
    fs.closeSync(fd);
    fs.writeFileSync(f, lines(200, 300));
    await until(() => h.records.length >= 300);
    await new Promise((r) => setTimeout(r, 300));
    expectExactlyOnce(h.records, 300);
  });

  it("rename rotation followed when the rotated name also matches the glob", async () => {
    const { dir, logs } = setup();
    const cfg = config(dir, { paths: [path.join(logs, "app.log*")] });
    const f = path.join(logs, "app.log");
    fs.writeFileSync(f, lines(0, 50));
    const h = await tailer(dir, cfg);
    await until(() => h.records.length >= 50);
    fs.renameSync(f, f + ".1");
    fs.appendFileSync(f + ".1", lines(50, 60));
    fs.writeFileSync(f, lines(60, 100));
    await until(() => h.records.length >= 100);
    await new Promise((r) => setTimeout(r, 200));
    expectExactlyOnce(h.records, 100);
    // The stream follows its file to the new name (records read after the next scan carry it).
    expect(h.t.status().map((s) => s.path).sort()).toEqual([f, f + ".1"]);
  });

  it("copy-truncate: the unread rest comes from the rotated copy, nothing is read twice", async () => {
    const { dir, logs } = setup();
    const f = path.join(logs, "app.log");
    // The copy matches the glob too: it must not be read as a new file.
    const cfg = config(dir, { paths: [path.join(logs, "app.log*")] });
    fs.writeFileSync(f, lines(0, 100));
    const h = await tailer(dir, cfg);
    await until(() => h.records.length >= 100);
    // Written and rotated before the agent reads it: only the copy has lines 100..199.
    fs.appendFileSync(f, lines(100, 200));
    fs.copyFileSync(f, f + ".1");
    fs.truncateSync(f, 0);
    fs.appendFileSync(f, lines(200, 250));
    await until(() => h.records.length >= 250);
    await new Promise((r) => setTimeout(r, 300));
    expectExactlyOnce(h.records, 250);
  });

  it("truncation without a copy starts the file over as a new stream", async () => {
    const { dir, logs } = setup();
    const f = path.join(logs, "app.log");
    fs.writeFileSync(f, lines(0, 20));
    const h = await tailer(dir, config(dir, { paths: [f] }));
    await until(() => h.records.length >= 20);
    fs.truncateSync(f, 0);
    await new Promise((r) => setTimeout(r, 100));
    fs.appendFileSync(f, lines(20, 25));
    await until(() => h.records.length >= 25);
    await new Promise((r) => setTimeout(r, 100));
    expectExactlyOnce(h.records, 25);
    const a = h.records[0].sigil.origin.split(":")[0];
    const b = h.records[24].sigil.origin.split(":")[0];
    expect(b).not.toBe(a);
    expect(h.records[20].log.offset).toBe(0);
  });

  it("a deleted file is read to its end, then closed", async () => {
    const { dir, logs } = setup();
    const f = path.join(logs, "app.log");
    const fd = fs.openSync(f, "a");
    fs.writeSync(fd, lines(0, 10));
    const h = await tailer(dir, config(dir, { paths: [f] }));
    await until(() => h.records.length >= 10);
    fs.unlinkSync(f);
    fs.writeSync(fd, lines(10, 20));
    fs.closeSync(fd);
    await until(() => h.records.length >= 20);
    await until(() => h.t.openCount === 0, 3000);
    expectExactlyOnce(h.records, 20);
  });

  it("finishes a file renamed away while the agent was stopped", async () => {
    const { dir, logs } = setup();
    const f = path.join(logs, "app.log");
    const cfg = config(dir, { paths: [f] });
    fs.writeFileSync(f, lines(0, 10));
    let h = await tailer(dir, cfg);
    await until(() => h.records.length >= 10);
    await h.stop();
    fs.appendFileSync(f, lines(10, 20));
    fs.renameSync(f, path.join(logs, "app.log.1"));
    fs.writeFileSync(f, lines(20, 30));
    h = await tailer(dir, cfg);
    await until(() => h.records.length >= 20);
    await new Promise((r) => setTimeout(r, 100));
    expect(h.records.map((r) => r.message).sort()).toEqual(lines(10, 30).trimEnd().split("\n"));
  });

  it("a file created and renamed away between two scans is still read whole (folder watch)", async () => {
    const { dir, logs } = setup();
    const f = path.join(logs, "app.log");
    // Scans are 10 s apart: only the folder watch can see this file under its watched name.
    const h = await tailer(dir, config(dir, { paths: [f] }, { scan_interval_ms: 10_000 }));
    fs.writeFileSync(f, lines(0, 40));
    await new Promise((r) => setTimeout(r, 30));
    fs.renameSync(f, path.join(logs, "app.log.1"));
    await until(() => h.records.length >= 40);
    expectExactlyOnce(h.records, 40);
  });

  it("reports status per file with lag", async () => {
    const { dir, logs } = setup();
    fs.writeFileSync(path.join(logs, "a.log"), lines(0, 10));
    const h = await tailer(dir, config(dir));
    await until(() => h.records.length === 10);
    await until(() => h.t.status()[0]?.offset === Buffer.byteLength(lines(0, 10)));
    expect(h.t.status()[0]).toMatchObject({ state: "reading", lag_bytes: 0, size: Buffer.byteLength(lines(0, 10)) });
  });
});
