// The shipper's decisions with a scripted ingest client: direct sends, buffering and in-order
// draining, 413 splitting, 400 dead-lettering, and holding batches in memory when the buffer is off.
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { agentConfigSchema } from "./config.ts";
import { AckTracker, Batcher } from "./batch.ts";
import type { IngestClient, SendOutcome } from "./client.ts";
import { DeadLetter } from "./dead-letter.ts";
import { DiskQueue } from "./queue.ts";
import { agentMetrics } from "./metrics.ts";
import { Shipper } from "./shipper.ts";

const silent = pino({ level: "silent" });
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

type Script = (lines: string[], attempt: number) => SendOutcome;

/** A client that records what it was sent (decompressed) and answers from a script. */
function scripted(script: Script) {
  const sent: string[][] = [];
  let attempt = 0;
  const client = {
    endpoint: "https://ingest.test/v1/ingest",
    reloadToken: () => false,
    close: () => {},
    async send(body: Buffer, _id: string, _lines: number, encoding: string): Promise<SendOutcome> {
      const text = (encoding === "gzip" ? zlib.gunzipSync(body) : body).toString();
      const lines = text.split("\n").filter(Boolean);
      const r = script(lines, attempt++);
      if (r.ok) sent.push(lines);
      return r;
    },
  };
  return { client: client as unknown as IngestClient, sent };
}

const OK: SendOutcome = { ok: true, status: 200, duplicate: false };
const DOWN: SendOutcome = { ok: false, kind: "network", code: "agent_ingest_unreachable", message: "down" };

async function rig(script: Script, opts: { buffer?: boolean; maxLines?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-shipper-"));
  const cfg = agentConfigSchema.parse({
    inputs: [{ type: "stdin" }],
    output: { token: { env: "T" }, retry: { initial_ms: 5, max_ms: 20 }, breaker: { failure_threshold: 2, open_ms: 20, max_open_ms: 40 }, max_in_flight: 1 },
    buffer: { enabled: opts.buffer ?? true },
  });
  const queue = opts.buffer === false ? null : await DiskQueue.open({ dir: path.join(dir, "q"), key: randomBytes(32), maxBytes: 1 << 24 });
  const { client, sent } = scripted(script);
  const dl = new DeadLetter(path.join(dir, "dl"), null, silent);
  const shipper = new Shipper(cfg, client, queue, dl, silent, agentMetrics());
  shipper.start();
  const src = new AckTracker(0);
  const batcher = new Batcher({ maxLines: opts.maxLines ?? 10, maxBytes: 1 << 20, flushMs: 5, compression: "gzip", compressionLevel: 1 }, (b) => shipper.submit(b), (e) => {
    throw e;
  });
  cleanup.push(async () => {
    batcher.close();
    await shipper.stop(100);
    await queue?.close();
  });
  const add = (from: number, to: number) => {
    for (let i = from; i < to; i++) batcher.add(`{"n":${i}}`, src, i + 1);
    batcher.seal();
  };
  return { shipper, sent, src, add, dl, dir };
}

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const flat = (sent: string[][]) => sent.flat().map((l) => JSON.parse(l).n as number);

describe("Shipper", () => {
  it("sends directly while healthy and settles the sources", async () => {
    const r = await rig(() => OK);
    r.add(0, 25);
    await until(() => r.src.committed === 25);
    expect(flat(r.sent)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(r.shipper.status()).toMatchObject({ link: "up", breaker: "closed", shipped_lines: 25 });
  });

  it("buffers while ingest is down (checkpoints move once on disk) and drains in order when it returns", async () => {
    let up = false;
    const r = await rig(() => (up ? OK : DOWN));
    r.add(0, 50);
    // Safe on disk: the source's checkpoint advances although nothing was delivered.
    await until(() => r.src.committed === 50);
    expect(r.sent).toHaveLength(0);
    expect(r.shipper.status().buffer.lines).toBe(50);
    expect(r.shipper.status().last_error?.code).toBe("agent_ingest_unreachable");
    up = true;
    await until(() => r.shipper.status().buffer.batches === 0 && flat(r.sent).length === 50);
    expect(flat(r.sent)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    r.add(50, 60);
    await until(() => flat(r.sent).length === 60);
  });

  it("splits a batch ingest finds too large and dead-letters a single record it still refuses", async () => {
    const r = await rig((lines) => {
      // Record 7 is refused alone too; batches above 3 records are refused as too large.
      const tooLarge: SendOutcome = { ok: false, kind: "too_large", code: "agent_batch_too_large", message: "413" };
      return lines.some((l) => l.includes('"n":7')) || lines.length > 3 ? tooLarge : OK;
    });
    r.add(0, 10);
    await until(() => r.src.committed === 10);
    expect(flat(r.sent).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9]);
    expect(r.dl.count).toBe(1);
    const kept = fs.readdirSync(path.join(r.dir, "dl"));
    expect(kept.filter((f) => f.endsWith(".json"))).toHaveLength(1);
  });

  it("keeps a batch ingest rejects (400) in the dead-letter folder with the reason, and goes on", async () => {
    const r = await rig((lines, attempt) => (attempt === 0 ? { ok: false, kind: "rejected", status: 400, code: "agent_batch_rejected", message: "bad" } : OK));
    r.add(0, 10);
    r.add(10, 20);
    await until(() => r.src.committed === 20);
    expect(flat(r.sent)).toEqual(Array.from({ length: 10 }, (_, i) => i + 10));
    const meta = fs.readdirSync(path.join(r.dir, "dl")).filter((f) => f.endsWith(".json"));
    expect(JSON.parse(fs.readFileSync(path.join(r.dir, "dl", meta[0]), "utf8"))).toMatchObject({ lines: 10, code: "agent_batch_rejected", status: 400 });
  });

  it("without a disk buffer, holds batches in memory: not safe (no checkpoint) until delivered", async () => {
    let up = false;
    const r = await rig(() => (up ? OK : DOWN), { buffer: false });
    r.add(0, 10);
    await new Promise((res) => setTimeout(res, 100));
    expect(r.src.committed).toBe(0);
    expect(r.shipper.hasCapacity()).toBe(true);
    r.add(10, 80);
    await new Promise((res) => setTimeout(res, 50));
    // Readers are held back once enough unsafe batches wait.
    expect(r.shipper.hasCapacity()).toBe(false);
    up = true;
    await until(() => r.src.committed === 80);
    expect(flat(r.sent)).toEqual(Array.from({ length: 80 }, (_, i) => i));
  });
});
