import { describe, expect, it } from "vitest";
import { MemoryBus } from "../platform/bus/memory.ts";
import type { Batch, OutgoingMessage, Producer } from "../platform/bus/types.ts";
import { registry } from "../platform/telemetry/metrics.ts";
import type { EcsEvent } from "../schema/ecs.ts";
import { deadLetter, MAX_DEAD_LETTER_RAW_BYTES } from "./dead-letter.ts";
import { Publisher, Slab, eventKey } from "./publisher.ts";

const ev = (host?: string, service?: string): EcsEvent => ({ "@timestamp": "2024-10-31T10:00:00.000Z", event: { id: "0".repeat(32), kind: "event", category: [], type: ["info"], dataset: "x.y", module: "x" }, ...(host ? { host: { name: host } } : {}), ...(service ? { service: { name: service } } : {}) });

describe("publisher", () => {
  it("keys events by host, else service, stamps event.ingested and counts what it publishes", async () => {
    expect([eventKey(ev("h", "s")), eventKey(ev(undefined, "s")), eventKey(ev())]).toEqual(["h", "s", null]);
    const bus = new MemoryBus({ partitions: 1 });
    const p = new Publisher(await bus.producer(), { maxPending: 100, maxBatchEvents: 2 });
    await p.publish([ev("a"), ev("b"), ev(undefined, "svc")], [deadLetter({ code: "x_bad", reason: "bad", record: { data: "raw", source: "syslog-udp 1.2.3.4:5" } }, "syslog-udp")], "test");
    const got: Record<string, Array<{ key: string | null; value: Record<string, any> }>> = { events: [], dlq: [] };
    const c = await bus.consumer({ groupId: "g", topics: ["events", "dlq"] });
    void c.run(async (b: Batch) => {
      for (const m of b.messages) got[b.topic].push({ key: m.key, value: JSON.parse(m.value.toString()) });
    });
    for (let i = 0; i < 100 && got.events.length + got.dlq.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got.events.map((m) => m.key)).toEqual(["a", "b", "svc"]);
    expect(got.events[0].value.event.ingested).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(got.dlq[0]).toMatchObject({ key: "syslog-udp 1.2.3.4:5", value: { reason: { code: "x_bad" }, raw: "raw", raw_encoding: "utf8" } });
    const metrics = await registry.getSingleMetricAsString("sigil_ingest_rejected_total");
    expect(metrics).toContain('sigil_ingest_rejected_total{reason="x_bad",receiver="syslog-udp"} 1');
    await c.close();
    await bus.close();
  });

  it("bounds pending work: refuses beyond the bound, wakes waiters when room comes back", async () => {
    const bus = new MemoryBus();
    const p = new Publisher(await bus.producer(), { maxPending: 10, maxBatchEvents: 10 });
    expect(p.tryReserve(8)).toBe(true);
    expect(p.tryReserve(5)).toBe(false);
    p.reserve(5);
    let woke = false;
    const w = p.waitForRoom().then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(woke).toBe(false);
    p.release(13);
    await w;
    expect(woke).toBe(true);
    expect(p.tryReserve(50)).toBe(true); // a single batch larger than the bound passes when nothing is pending
    await bus.close();
  });
});

describe("slab", () => {
  it("keeps each string's exact UTF-8 bytes across slab boundaries, multi-byte text and strings larger than a slab", () => {
    const slab = new Slab(64);
    const inputs = ["ascii", "é".repeat(20), "😀 emoji ✓", "x".repeat(63), "y".repeat(200), "", "ü".repeat(31), "z"];
    const views = inputs.map((s) => slab.put(s));
    expect(views.map((v) => v.toString("utf8"))).toEqual(inputs);
    expect(views.map((v) => v.length)).toEqual(inputs.map((s) => Buffer.byteLength(s)));
  });

  it("adds a serialized last member to an object: the bytes parse to the object with that member, across slab boundaries", () => {
    const slab = new Slab(96);
    const agent = { id: "a1", type: "sigil-agent", version: "0.1.0", name: "tök\u2028 \"x\"" };
    const member = Buffer.from(`"agent":${JSON.stringify(agent)}}`);
    const objects: Record<string, unknown>[] = [{}, { a: 1 }, { message: "é".repeat(40), n: [1, { b: "😀" }] }, { s: "x".repeat(150) }, { "\u2028": "\ud800", __proto__x: null }, { t: "y".repeat(20) }];
    const views = objects.map((o) => slab.putWithMember(JSON.stringify(o), member));
    expect(views.map((v) => JSON.parse(v.toString("utf8")))).toEqual(objects.map((o) => ({ ...o, agent })));
    // a view is exactly its object's bytes, and later writes do not touch it
    expect(views.map((v) => v.toString("utf8"))).toEqual(objects.map((o) => JSON.stringify({ ...o, agent })));
  });
});

describe("slab reuse", () => {
  /** A producer that copies what it is sent (as the Kafka bus does) and settles each send when told. */
  function copyingProducer() {
    const sent: string[] = [];
    const calls: Array<{ topic: string; settle: (err?: Error) => void }> = [];
    const producer: Producer = {
      copiesOnSend: true,
      send(topic: string, messages: OutgoingMessage[]) {
        for (const m of messages) sent.push(Buffer.from(m.value as Buffer).toString("utf8"));
        return new Promise<void>((resolve, reject) => calls.push({ topic, settle: (err) => (err ? reject(err) : resolve()) }));
      },
      async close() {},
    };
    return { producer, sent, calls };
  }
  const tick = () => new Promise((r) => setTimeout(r, 0));

  it("reuses a full buffer only after every batch with views into it was released, and never overwrites a held view", () => {
    const slab = new Slab(64, true);
    // each view held as a batch holds its buffers
    const put = (t: string) => {
      const v = slab.put(t);
      slab.hold(slab.current);
      return { v, buf: slab.current };
    };
    const a = put("a".repeat(40));
    const b = put("b".repeat(40)); // does not fit: a new buffer, the first retired but held
    expect(b.buf).not.toBe(a.buf);
    const c = put("c".repeat(40)); // a third buffer: the pool is still empty (both are held)
    expect(slab.reused).toBe(0);
    slab.release(a.buf); // retired and free: into the pool
    const d = put("d".repeat(40));
    expect(slab.reused).toBe(1);
    expect(d.v.buffer).toBe(a.v.buffer); // the first buffer's memory again
    expect([b.v.toString(), c.v.toString(), d.v.toString()]).toEqual(["b", "c", "d"].map((x) => x.repeat(40)));
    // the buffer written to now is not pooled while in use, even when released by everyone holding it
    slab.release(d.buf);
    const e = put("e".repeat(10));
    expect(e.buf).toBe(d.buf);
    expect(d.v.toString()).toBe("d".repeat(40));
  });

  it("does not reuse buffers when the bus may keep the views (no copiesOnSend)", () => {
    const slab = new Slab(64, false);
    const views = Array.from({ length: 10 }, (_, i) => {
      const v = slab.put(String(i).repeat(40));
      slab.hold(slab.current);
      slab.release(slab.current);
      return v;
    });
    expect(slab.reused).toBe(0);
    expect(views.map((v) => v.toString())).toEqual(Array.from({ length: 10 }, (_, i) => String(i).repeat(40)));
  });

  it("a batch's views stay intact until both its sends settled, even when one failed first; later batches then reuse the memory", async () => {
    const { producer, sent, calls } = copyingProducer();
    const p = new Publisher(producer, { maxPending: 1_000_000, maxBatchEvents: 100_000 });
    // ~2.5 MB of events: several slab buffers
    const events = Array.from({ length: 2500 }, (_, i) => ({ ...ev(`h${i % 7}`), message: `m${i} ${"x".repeat(1000)}` }));
    const batch = p.batch("test");
    for (const e of events) batch.add(e);
    const views = batch.messages.map((m) => m.value as Buffer);
    const done = p.send(batch, [deadLetter({ code: "x_bad", reason: "bad", record: { data: "raw", source: "s" } }, "http")]).then(
      () => "ok",
      (err: Error) => err.message,
    );
    await tick();
    expect(calls.map((c) => c.topic)).toEqual(["events", "dlq"]);
    calls[0].settle(new Error("broker gone")); // the events send fails while the dead letters are still on their way
    await tick();
    let settled = false;
    void done.then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    // nothing may write into the failed batch's buffers before the other send settles
    const other = p.batch("test");
    for (const e of events.slice(0, 1500)) other.add({ ...e, message: "y".repeat(1000) });
    expect(views.map((v) => JSON.parse(v.toString()).message)).toEqual(events.map((e) => e.message));
    calls[1].settle();
    expect(await done).toBe("broker gone");
    // released: a new batch writes into the freed buffers, and what was sent was copied before
    const third = p.batch("test");
    for (const e of events) third.add({ ...e, message: "z".repeat(1000) });
    const reusedMemory = new Set(third.messages.map((m) => (m.value as Buffer).buffer));
    expect(views.some((v) => reusedMemory.has(v.buffer as ArrayBuffer))).toBe(true);
    expect(sent.slice(0, events.length).map((s) => JSON.parse(s).message)).toEqual(events.map((e) => e.message));
  });

  it("with the in-process bus, published events read back intact after many more batches", async () => {
    const bus = new MemoryBus({ partitions: 1 });
    const p = new Publisher(await bus.producer(), { maxPending: 1_000_000, maxBatchEvents: 100_000 });
    for (let k = 0; k < 6; k++) await p.publish(Array.from({ length: 500 }, (_, i) => ({ ...ev("h"), message: `${k}:${i}:${"q".repeat(1000)}` })), [], "test");
    const got: string[] = [];
    const c = await bus.consumer({ groupId: "g", topics: ["events"] });
    void c.run(async (b: Batch) => {
      for (const m of b.messages) got.push(JSON.parse(m.value.toString()).message);
    });
    for (let i = 0; i < 200 && got.length < 3000; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(Array.from({ length: 6 }, (_, k) => Array.from({ length: 500 }, (_, i) => `${k}:${i}:${"q".repeat(1000)}`)).flat());
    await c.close();
    await bus.close();
  });
});

describe("dead letters", () => {
  it("keep bytes that are not UTF-8 as base64 and cut very large records", () => {
    const bin = deadLetter({ code: "c", reason: "r", record: { data: "é", source: "s", bytes: Uint8Array.from([0xe9]), line: 3, offset: 10, origin: "o", peer: "p" } }, "http", { sender: "t" });
    expect(bin).toMatchObject({ raw: "6Q==", raw_encoding: "base64", raw_bytes: 1, line: 3, offset: 10, origin: "o", peer: "p", sender: "t" });
    const big = deadLetter({ code: "c", reason: "r", record: { data: "x".repeat(MAX_DEAD_LETTER_RAW_BYTES + 10), source: "s" } }, "http");
    expect(big.raw).toHaveLength(MAX_DEAD_LETTER_RAW_BYTES);
    expect(big).toMatchObject({ truncated: true, raw_bytes: MAX_DEAD_LETTER_RAW_BYTES + 10 });
  });
});
