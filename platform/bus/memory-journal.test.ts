// The in-process bus beyond the contract: its journal (kill -9 loses no acknowledged message or
// commit), back-pressure (bounded memory, sends wait, then fail clearly), retention, idle groups.
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { MemoryBus } from "./memory.ts";
import { SigilError } from "../errors.ts";
import { until } from "../../test/bus/contract.ts";

const quiet = pino({ level: "silent" });
const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bus-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const values = async (bus: MemoryBus, group: string, want: number) => {
  const got: string[] = [];
  const c = await bus.consumer({ groupId: group, topics: ["events"] });
  await c.run(async (b) => void got.push(...b.messages.map((m) => m.value.toString())));
  await until(() => got.length >= want, 5000, `${want} messages`);
  await new Promise((r) => setTimeout(r, 50));
  await c.close();
  return got;
};

describe("memory bus journal", () => {
  it("keeps every acknowledged message and commit across kill -9", async () => {
    const file = path.join(tmp(), "bus.db");
    const child = spawn(process.execPath, ["--import", "tsx", path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "journal-writer.ts"), file], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await until(() => /acked (\d+)/.test(out) && Number([...out.matchAll(/acked (\d+)/g)].pop()![1]) >= 500, 20_000, "500 acknowledged messages");
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const acked = Number([...out.matchAll(/acked (\d+)/g)].pop()![1]);
    expect(out).toContain("committed 50");

    const bus = new MemoryBus({ partitions: 3, journalPath: file, logger: quiet });
    // Group g committed the first 50 before the kill: it resumes after them, and sees every acknowledged one.
    const resumed = await values(bus, "g", acked - 50);
    const nums = resumed.map((v) => Number(v.slice(1)));
    expect(Math.min(...nums)).toBe(50);
    for (let n = 50; n < acked; n++) expect(nums).toContain(n);
    // A new group reads everything from the start, headers included.
    const all = await values(bus, "fresh", acked);
    expect(new Set(all).size).toBeGreaterThanOrEqual(acked);
    await bus.close();
  }, 30_000);

  it("continues offsets and commits after a clean restart, even when every message was dropped", async () => {
    const file = path.join(tmp(), "bus.db");
    const a = new MemoryBus({ partitions: 1, journalPath: file, retentionMessages: 0, logger: quiet });
    await (await a.producer()).send("events", Array.from({ length: 600 }, (_, i) => ({ key: "k", value: `a${i}` })));
    expect(await values(a, "g", 600)).toHaveLength(600);
    expect(a.size("events")).toBe(0); // committed and no retention: nothing kept
    await a.close();
    const b = new MemoryBus({ partitions: 1, journalPath: file, retentionMessages: 0, logger: quiet });
    await (await b.producer()).send("events", [{ key: "k", value: "b0" }]);
    const offsets: string[] = [];
    const c = await b.consumer({ groupId: "g", topics: ["events"] });
    await c.run(async (batch) => void offsets.push(...batch.messages.map((m) => `${m.offset}:${m.value.toString()}`)));
    await until(() => offsets.length === 1, 5000, "the new message");
    expect(offsets).toEqual(["600:b0"]);
    await b.close();
  });

  it("refuses a second bus on the same journal while the first is open", async () => {
    const file = path.join(tmp(), "bus.db");
    const first = new MemoryBus({ partitions: 2, journalPath: file, logger: quiet });
    let err: unknown;
    try {
      new MemoryBus({ partitions: 2, journalPath: file, logger: quiet });
    } catch (e) {
      err = e;
    }
    expect((err as SigilError).code).toBe("bus_journal_in_use");
    await first.close();
    const again = new MemoryBus({ partitions: 2, journalPath: file, logger: quiet });
    await again.close();
  });

  it("refuses a journal written with another partition count", async () => {
    const file = path.join(tmp(), "bus.db");
    await new MemoryBus({ partitions: 3, journalPath: file, logger: quiet }).close();
    let err: unknown;
    try {
      new MemoryBus({ partitions: 4, journalPath: file, logger: quiet });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SigilError);
    expect((err as SigilError).code).toBe("bus_journal_mismatch");
    expect((err as SigilError).location?.file).toBe(file);
  });
});

describe("memory bus bounds", () => {
  const big = (i: number) => ({ key: "k", value: Buffer.alloc(1000, i % 256) });

  it("makes senders wait while a consumer lags, keeps memory under the bound, and keeps send order", async () => {
    const bus = new MemoryBus({ partitions: 1, maxBufferedBytes: 20_000, retentionMessages: 0, logger: quiet });
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const got: number[] = [];
    let peak = 0;
    const c = await bus.consumer({ groupId: "slow", topics: ["events"], maxBatchSize: 5 });
    await c.run(async (b) => {
      await gate;
      got.push(...b.messages.map((m) => m.value[0]));
    });
    const prod = await bus.producer();
    const sends: Promise<void>[] = [];
    let resolved = 0;
    for (let i = 0; i < 60; i++) sends.push(prod.send("events", [big(i)]).then(() => void resolved++));
    await new Promise((r) => setTimeout(r, 200));
    peak = Math.max(peak, bus.bufferedBytes("events"));
    expect(resolved).toBeLessThan(60); // the rest wait for room
    expect(bus.bufferedBytes("events")).toBeLessThanOrEqual(20_000);
    release();
    gate = Promise.resolve();
    await Promise.all(sends);
    await until(() => got.length === 60, 5000, "all 60 messages");
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => i % 256));
    expect(peak).toBeLessThanOrEqual(20_000);
    await bus.close();
  });

  it("fails a send with bus_full naming the group when consumers do not catch up in time", async () => {
    const bus = new MemoryBus({ partitions: 1, maxBufferedBytes: 5000, sendTimeoutMs: 150, logger: quiet });
    const c = await bus.consumer({ groupId: "stuck-group", topics: ["events"] });
    await c.run(() => new Promise(() => {}));
    const prod = await bus.producer();
    for (let i = 0; i < 4; i++) await prod.send("events", [big(i)]);
    const err = await prod.send("events", [big(9), big(10)]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SigilError);
    expect((err as SigilError).code).toBe("bus_full");
    expect((err as SigilError).message).toContain("stuck-group");
    expect((err as SigilError).location?.key).toBe("bus.memory.max_buffered_bytes");
    // a single send larger than the whole bound can never fit
    const tooBig = await prod.send("signals", [{ key: "k", value: Buffer.alloc(10_000) }]).then(
      () => null,
      (e: unknown) => e,
    );
    expect((tooBig as SigilError).code).toBe("bus_message_too_large");
  });

  it("keeps retention_messages after every group committed, and drops more under pressure", async () => {
    const bus = new MemoryBus({ partitions: 1, retentionMessages: 10, maxBufferedBytes: 30_000, logger: quiet });
    const prod = await bus.producer();
    await prod.send("events", Array.from({ length: 25 }, (_, i) => big(i)));
    await values(bus, "g", 25);
    expect(bus.size("events")).toBe(10);
    await prod.send("events", Array.from({ length: 25 }, (_, i) => big(i))); // 35 × ~1.1 kB > 30 kB: retention yields
    expect(bus.bufferedBytes("events")).toBeLessThanOrEqual(30_000);
    expect(bus.size("events")).toBe(25);
    await bus.close();
  });

  it("lets an idle group (no members past its hold) stop pinning messages", async () => {
    const bus = new MemoryBus({ partitions: 1, maxBufferedBytes: 8000, sendTimeoutMs: 100, emptyGroupHoldMs: 0, retentionMessages: 0, logger: quiet });
    const prod = await bus.producer();
    await prod.send("events", [big(0)]);
    await values(bus, "gone", 1); // commits, then leaves: idle from now on
    for (let i = 0; i < 20; i++) await prod.send("events", [big(i)]); // would exceed 8 kB if "gone" pinned them
    expect(bus.bufferedBytes("events")).toBeLessThanOrEqual(8000);
    await bus.close();
  });
});
