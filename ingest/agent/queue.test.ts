import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { DiskQueue, SEGMENT_HEADER, parseKey, type QueueItem } from "./queue.ts";
import { SigilError } from "../../platform/errors.ts";

const key = randomBytes(32);
const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-queue-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const id = (n: number) => n.toString(16).padStart(32, "0");
const body = (n: number, size = 100) => Buffer.from(`{"message":"secret line number ${n}"}\n`.padEnd(size, "."));

async function drain(q: DiskQueue): Promise<QueueItem[]> {
  const out: QueueItem[] = [];
  for (;;) {
    const it = await q.peek();
    if (!it) return out;
    out.push(it);
    await q.ack(it);
  }
}

describe("DiskQueue", () => {
  it("keeps batches in order, encrypted on disk, across a restart", async () => {
    const dir = tmp();
    let q = await DiskQueue.open({ dir, key, maxBytes: 1 << 20 });
    for (let i = 0; i < 20; i++) await q.append(id(i), body(i), i + 1);
    expect(q.stats()).toMatchObject({ batches: 20, lines: 210 });
    const first = await q.peek();
    await q.ack(first!);
    await q.close();

    // The bytes on disk are not plaintext.
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith(".q"))) {
      const raw = fs.readFileSync(path.join(dir, f));
      expect(raw.includes(Buffer.from("secret line"))).toBe(false);
    }

    q = await DiskQueue.open({ dir, key, maxBytes: 1 << 20 });
    expect(q.stats()).toMatchObject({ batches: 19, lines: 209 });
    const items = await drain(q);
    expect(items.map((i) => i.id)).toEqual(Array.from({ length: 19 }, (_, i) => id(i + 1)));
    expect(items[0].body.toString()).toContain("secret line number 1");
    expect(q.stats().batches).toBe(0);
    expect(q.empty).toBe(true);
    await q.close();
  });

  it("peek returns the same batch until it is acknowledged", async () => {
    const q = await DiskQueue.open({ dir: tmp(), key, maxBytes: 1 << 20 });
    await q.append(id(1), body(1), 1);
    await q.append(id(2), body(2), 1);
    const a = await q.peek();
    const b = await q.peek();
    expect(b).toBe(a);
    await q.ack(a!);
    expect((await q.peek())!.id).toBe(id(2));
    await q.close();
  });

  it("cuts off a torn frame at the end after a crash and keeps every whole batch", async () => {
    const dir = tmp();
    const q = await DiskQueue.open({ dir, key, maxBytes: 1 << 20 });
    for (let i = 0; i < 5; i++) await q.append(id(i), body(i), 1);
    await q.close();
    const seg = path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith(".q"))!);
    const whole = fs.statSync(seg).size;
    // Simulate kill -9 in the middle of the sixth write: a partial frame at the end.
    const q2 = await DiskQueue.open({ dir: tmp(), key, maxBytes: 1 << 20 });
    await q2.append(id(99), body(99), 1);
    await q2.close();
    const other = fs.readdirSync(dirs[1]).find((n) => n.endsWith(".q"))!;
    const frame = fs.readFileSync(path.join(dirs[1], other)).subarray(SEGMENT_HEADER);
    fs.appendFileSync(seg, frame.subarray(0, frame.length - 7));
    const q3 = await DiskQueue.open({ dir, key, maxBytes: 1 << 20 });
    expect(fs.statSync(seg).size).toBe(whole);
    expect(q3.stats().corruptFrames).toBe(1);
    expect((await drain(q3)).map((i) => i.id)).toEqual([0, 1, 2, 3, 4].map(id));
    await q3.close();
  });

  it("never sends a frame that fails authentication (bit flip), and counts it", async () => {
    const dir = tmp();
    const q = await DiskQueue.open({ dir, key, maxBytes: 1 << 20, segmentBytes: 64 * 1024 });
    for (let i = 0; i < 3; i++) await q.append(id(i), body(i), 1);
    await q.close();
    const seg = path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith(".q"))!);
    const raw = fs.readFileSync(seg);
    raw[raw.length - 30] ^= 0xff; // inside the last frame's ciphertext
    fs.writeFileSync(seg, raw);
    const q2 = await DiskQueue.open({ dir, key, maxBytes: 1 << 20 });
    const got = await drain(q2);
    expect(got.map((i) => i.id)).toEqual([id(0), id(1)]);
    expect(q2.stats().corruptFrames).toBe(1);
    await q2.close();
  });

  it("refuses a queue written with another key, with a clear code", async () => {
    const dir = tmp();
    const q = await DiskQueue.open({ dir, key, maxBytes: 1 << 20 });
    await q.append(id(1), body(1), 1);
    await q.close();
    const err = await DiskQueue.open({ dir, key: randomBytes(32), maxBytes: 1 << 20 }).catch((e) => e);
    expect(err).toBeInstanceOf(SigilError);
    expect(err.code).toBe("agent_buffer_key_mismatch");
  });

  it("policy block: an append waits while the queue is full and completes when it drains", async () => {
    const q = await DiskQueue.open({ dir: tmp(), key, maxBytes: 64 * 1024, segmentBytes: 8 * 1024 });
    let appended = 0;
    for (; appended < 200; appended++) {
      const p = q.append(id(appended), body(appended, 1000), 1);
      // Wait for the append to land or for the queue to say it is blocked, however slow the disk is (a
      // fixed deadline here mistook a slow fsync under load for a blocked append).
      let settled = false;
      void p.then(() => (settled = true), () => (settled = true));
      while (!settled && !q.stats().blocked) await new Promise((res) => setTimeout(res, 1));
      if (settled) {
        await p; // a failed append fails the test here
        continue;
      }
      expect(q.stats().bytes).toBeLessThanOrEqual(64 * 1024);
      // Blocked means waiting for room, which only an ack (or close) makes: it does not land by itself.
      await new Promise((res) => setTimeout(res, 50));
      expect(settled).toBe(false);
      expect(q.stats().blocked).toBe(true);
      // Draining frees whole segments; the waiting append then lands.
      for (let i = 0; i < 20; i++) {
        const it = await q.peek();
        await q.ack(it!);
      }
      await p;
      expect(q.stats().blocked).toBe(false);
      break;
    }
    expect(appended).toBeGreaterThan(10);
    expect(appended).toBeLessThan(200);
    const ids = (await drain(q)).map((i) => i.id);
    expect(ids[0]).toBe(id(20));
    expect(ids[ids.length - 1]).toBe(id(appended));
    expect(q.stats().droppedBatches).toBe(0);
    await q.close();
  });

  it("policy drop_oldest: never exceeds its size, drops whole oldest segments and counts the lines", async () => {
    const dropped: number[] = [];
    const q = await DiskQueue.open({ dir: tmp(), key, maxBytes: 64 * 1024, segmentBytes: 8 * 1024, whenFull: "drop_oldest", onDrop: (_b, l) => dropped.push(l) });
    for (let i = 0; i < 200; i++) {
      await q.append(id(i), body(i, 1000), 2);
      expect(q.stats().bytes).toBeLessThanOrEqual(64 * 1024);
    }
    const st = q.stats();
    expect(st.droppedLines).toBe(dropped.reduce((a, b) => a + b, 0));
    expect(st.droppedLines + st.lines).toBe(400);
    const ids = (await drain(q)).map((i) => parseInt(i.id, 16));
    // What is left is the newest, in order.
    expect(ids[ids.length - 1]).toBe(199);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids.length * 2).toBe(st.lines);
    await q.close();
  });

  it("parses keys as hex or base64 and rejects anything else", () => {
    const k = randomBytes(32);
    expect(parseKey(k.toString("hex")).equals(k)).toBe(true);
    expect(parseKey(k.toString("base64")).equals(k)).toBe(true);
    expect(() => parseKey("short")).toThrow(expect.objectContaining({ code: "agent_buffer_key_invalid" }));
  });
});
