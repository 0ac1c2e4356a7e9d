// The bus contract: one suite every Bus implementation passes, the in-process bus in the unit project
// (platform/bus/contract-memory.test.ts) and Kafka in the integration project (test/bus/kafka.test.ts).
// It pins down what the rest of Sigil relies on: keyed ordering, key → partition, batches, groups,
// commit only after processing, resume, exact rebalance hooks, lag, topic creation, prefix isolation.

import { afterAll, describe, expect, it } from "vitest";
import { partitionFor } from "../../platform/bus/partitioner.ts";
import type { Batch, Bus, Consumer, ConsumerOptions, TopicName, TopicPartition } from "../../platform/bus/types.ts";

export interface BusUnderTest {
  bus: Bus;
  /** Partition count of a topic as the implementation really created it. */
  partitionCount(topic: TopicName): Promise<number>;
}

export interface ContractTarget {
  name: string;
  /** A bus on fresh topics: a new unique prefix per call, or `prefix` when given. */
  make(opts: { partitions: number; prefix?: string }): Promise<BusUnderTest>;
  /** Upper bound for waits (group joins and rebalances are slow on a real broker). */
  timeoutMs: number;
  cleanup?(): Promise<void>;
}

export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tp = (t: TopicPartition) => `${t.topic}/${t.partition}`;

/** Records who owns which partition according to the hooks, and every violation of exclusivity. */
class Ownership {
  readonly owners = new Map<string, string>();
  readonly violations: string[] = [];
  readonly revokedBy = new Map<string, TopicPartition[]>();

  hooks(member: string): Pick<ConsumerOptions, "onAssigned" | "onRevoked"> {
    return {
      onAssigned: async (parts) => {
        for (const p of parts) {
          const cur = this.owners.get(tp(p));
          if (cur !== undefined && cur !== member) this.violations.push(`${member} was assigned ${tp(p)} while ${cur} still held it`);
          this.owners.set(tp(p), member);
        }
      },
      onRevoked: async (parts) => {
        this.revokedBy.set(member, [...(this.revokedBy.get(member) ?? []), ...parts]);
        for (const p of parts) {
          const cur = this.owners.get(tp(p));
          if (cur !== member) this.violations.push(`${member} had ${tp(p)} revoked but the owner was ${cur}`);
          this.owners.delete(tp(p));
        }
      },
    };
  }

  checkBatch(member: string, b: Batch): void {
    const cur = this.owners.get(tp(b));
    if (cur !== member) this.violations.push(`${member} got a batch of ${tp(b)} owned by ${cur}`);
  }

  heldBy(member: string): string[] {
    return [...this.owners.entries()].filter(([, m]) => m === member).map(([k]) => k);
  }
}

export function busContract(target: ContractTarget): void {
  const T = target.timeoutMs;
  const opened: { close(): Promise<void> }[] = [];
  const track = <C extends { close(): Promise<void> }>(c: C): C => {
    opened.push(c);
    return c;
  };
  const make = async (partitions: number, prefix?: string) => {
    const b = await target.make({ partitions, prefix });
    track(b.bus);
    return b;
  };

  describe(`bus contract: ${target.name}`, () => {
    afterAll(async () => {
      for (const c of opened.reverse()) await c.close().catch(() => {});
      await target.cleanup?.();
    });

    it("creates every topic with the configured partition count", async () => {
      const { bus, partitionCount } = await make(5);
      await bus.ensureTopics();
      await bus.ensureTopics(); // idempotent
      for (const t of ["events", "signals", "alerts", "dlq"] as TopicName[]) {
        expect(await partitionCount(t)).toBe(5);
        expect(await bus.partitionCount(t)).toBe(5);
      }
      expect((await bus.health()).ok).toBe(true);
    });

    it("routes a key to partitionFor(key) and keeps per-key order, across several sends", async () => {
      const { bus } = await make(4);
      const prod = track(await bus.producer());
      const keys = Array.from({ length: 12 }, (_, i) => `host-${i}`);
      let n = 0;
      for (let round = 0; round < 5; round++) {
        await prod.send("events", Array.from({ length: 40 }, () => ({ key: keys[n % keys.length], value: JSON.stringify({ n: n++ }) })));
      }
      const seen: { key: string; n: number; partition: number; offset: bigint }[] = [];
      const c = track(await bus.consumer({ groupId: "order", topics: ["events"] }));
      await c.run(async (b) => {
        for (const m of b.messages) seen.push({ key: m.key!, n: (JSON.parse(m.value.toString()) as { n: number }).n, partition: m.partition, offset: BigInt(m.offset) });
      });
      await until(() => new Set(seen.map((s) => s.n)).size === 200, T, "200 messages");
      for (const s of seen) expect(s.partition).toBe(partitionFor(s.key, 4));
      for (const k of keys) {
        const ns = seen.filter((s) => s.key === k).map((s) => s.n);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
      for (let p = 0; p < 4; p++) {
        const offs = seen.filter((s) => s.partition === p).map((s) => s.offset);
        expect(offs).toEqual([...offs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      }
    });

    it("delivers batches bounded by maxBatchSize, carrying key, value, headers and timestamp", async () => {
      const { bus } = await make(1);
      const prod = track(await bus.producer());
      const ts = Date.UTC(2024, 0, 2, 3, 4, 5);
      await prod.send("signals", Array.from({ length: 300 }, (_, i) => ({ key: "k", value: Buffer.from(`v${i}`), headers: { "x-sigil": `h${i}` }, timestamp: ts + i })));
      const sizes: number[] = [];
      const got: string[] = [];
      let first: Batch["messages"][number] | null = null;
      const c = track(await bus.consumer({ groupId: "batches", topics: ["signals"], maxBatchSize: 64 }));
      await c.run(async (b) => {
        expect(b.topic).toBe("signals");
        sizes.push(b.messages.length);
        first ??= b.messages[0];
        got.push(...b.messages.map((m) => m.value.toString()));
      });
      await until(() => got.length >= 300, T, "300 messages");
      expect(Math.max(...sizes)).toBeLessThanOrEqual(64);
      expect(Math.max(...sizes)).toBeGreaterThan(1);
      expect(got.slice(0, 300)).toEqual(Array.from({ length: 300 }, (_, i) => `v${i}`));
      expect(first!.key).toBe("k");
      expect(first!.headers["x-sigil"]).toBe("h0");
      expect(first!.timestamp).toBe(ts);
      expect(first!.offset).toMatch(/^\d+$/);
    });

    it("tells a reader whose batch ends at the partition's end that it has read everything written so far", async () => {
      const { bus } = await make(1);
      const prod = track(await bus.producer());
      await prod.send("signals", Array.from({ length: 10 }, (_, i) => ({ key: "k", value: `v${i}` })));
      const ends: { last: bigint; end: bigint }[] = [];
      const c = track(await bus.consumer({ groupId: "ends", topics: ["signals"], maxBatchSize: 4 }));
      await c.run(async (b) => {
        ends.push({ last: BigInt(b.messages[b.messages.length - 1].offset), end: BigInt(b.end!) });
      });
      await until(() => ends.reduce((n, e) => Math.max(n, Number(e.last) + 1), 0) >= 10, T, "10 messages");
      for (const e of ends) expect(e.end).toBeGreaterThan(e.last);
      expect(ends.at(-1)!.end).toBe(ends.at(-1)!.last + 1n);
    });

    it("splits partitions between the members of a group, with exact rebalance hooks", async () => {
      const { bus } = await make(4);
      const own = new Ownership();
      const handled = new Map<string, number>();
      const member = async (name: string) => {
        const c = track(await bus.consumer({ groupId: "split", topics: ["events"], ...own.hooks(name) }));
        await c.run(async (b) => {
          own.checkBatch(name, b);
          handled.set(name, (handled.get(name) ?? 0) + b.messages.length);
        });
        return c;
      };
      const a = await member("a");
      await until(() => a.assignment().length === 4, T, "a to hold all 4 partitions");
      const b = await member("b");
      await until(() => a.assignment().length === 2 && b.assignment().length === 2, T, "a 2/2 split");
      const held = [...a.assignment(), ...b.assignment()].map(tp);
      expect(new Set(held).size).toBe(4);
      expect(own.heldBy("a").sort()).toEqual(a.assignment().map(tp).sort());
      const prod = track(await bus.producer());
      await prod.send("events", Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: String(i) })));
      await until(() => (handled.get("a") ?? 0) + (handled.get("b") ?? 0) >= 100, T, "100 messages across a and b");
      expect(handled.get("a")).toBeGreaterThan(0);
      expect(handled.get("b")).toBeGreaterThan(0);
      await a.close();
      expect(own.revokedBy.get("a")?.length).toBeGreaterThan(0);
      await until(() => b.assignment().length === 4, T, "b to take over all partitions");
      await prod.send("events", Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: String(i) })));
      await until(() => (handled.get("b") ?? 0) + (handled.get("a") ?? 0) >= 120, T, "20 more messages");
      expect(own.heldBy("b").length).toBe(4);
      await b.close();
      expect(own.owners.size).toBe(0);
      expect(own.violations).toEqual([]);
    });

    it("exclusive: one member holds every partition, a joining member waits, and takes over all of them when the holder leaves", async () => {
      const { bus } = await make(3);
      const own = new Ownership();
      const handled = new Map<string, string[]>();
      const resumed: string[] = [];
      const t0 = Date.now();
      const timeline: string[] = [];
      const note = (what: string) => timeline.push(`${Date.now() - t0}ms ${what}`);
      const member = async (name: string) => {
        const hooks = own.hooks(name);
        const c = track(
          await bus.consumer({
            groupId: "exclusive",
            topics: ["signals"],
            exclusive: true,
            onAssigned: async (parts, info) => {
              note(`${name} assigned ${parts.map((p) => p.partition).join(",")} resumed=${info.resumed}`);
              resumed.push(`${name}:${info.resumed}`);
              await hooks.onAssigned!(parts, info);
            },
            onRevoked: async (parts) => {
              note(`${name} revoked ${parts.map((p) => p.partition).join(",")}`);
              await hooks.onRevoked!(parts);
            },
          }),
        );
        await c.run(async (b) => {
          note(`${name} batch p${b.partition} offsets ${b.messages[0]?.offset}-${b.messages[b.messages.length - 1]?.offset}`);
          own.checkBatch(name, b);
          for (const m of b.messages) handled.set(m.value.toString(), [...(handled.get(m.value.toString()) ?? []), name]);
        });
        return c;
      };
      const a = await member("a");
      await until(() => a.assignment().length === 3, T, "a to hold all 3 partitions");
      const b = await member("b");
      // on Kafka the join makes the group rebalance (a hands everything back, then gets it all again)
      if (bus.kind === "kafka") await until(() => (own.revokedBy.get("a")?.length ?? 0) > 0 && a.assignment().length === 3, T, "the rebalance for b's join");
      else await new Promise((r) => setTimeout(r, 300));
      expect(a.assignment().length).toBe(3);
      expect(b.assignment()).toEqual([]);
      // a's first assignment is not a resumption; on Kafka a gets everything back after b's join, as
      // resumed when the group went straight to the next generation (a busy broker may take two)
      expect(resumed[0]).toBe("a:false");
      expect(resumed.every((r) => r.startsWith("a:")), resumed.join(" ")).toBe(true);
      const prod = track(await bus.producer());
      await prod.send("signals", Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `first-${i}` })));
      await until(() => handled.size >= 30, T, "30 messages");
      // a handled each exactly once: b's join did not take anything from a, and a commits every batch
      // before it rejoins (this failed under load on Kafka when b's sync cleared a's committed offsets)
      const firstBy = [...handled.entries()].filter(([, who]) => who.length !== 1 || who[0] !== "a");
      expect(firstBy, `${JSON.stringify(firstBy)}\n${timeline.join("\n")}`).toEqual([]);
      await a.close();
      await until(() => b.assignment().length === 3, T, "b to take over all 3 partitions");
      expect(own.heldBy("b").length).toBe(3);
      // b never held them: never a resumption, whatever the generations
      expect(resumed[resumed.length - 1]).toBe("b:false");
      await prod.send("signals", Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `second-${i}` })));
      await until(() => handled.size >= 50, T, "20 more messages");
      const second = [...handled.entries()].filter(([v]) => v.startsWith("second-"));
      expect(second.length).toBe(20);
      expect(second.filter(([, who]) => who.some((w) => w !== "b")), `${JSON.stringify(second)}\n${timeline.join("\n")}`).toEqual([]);
      // nothing handled twice: the hand-over resumed from a's committed offsets
      expect([...handled.entries()].filter(([, who]) => who.length > 1), timeline.join("\n")).toEqual([]);
      await b.close();
      expect(own.violations).toEqual([]);
    });

    it("handles one partition's batches one at a time and in order, and several partitions at once with concurrency", async () => {
      const { bus } = await make(4);
      const prod = track(await bus.producer());
      for (let round = 0; round < 4; round++) {
        await prod.send("events", Array.from({ length: 40 }, (_, i) => ({ key: `host-${i % 16}`, value: `${round}-${i}` })));
      }
      const inFlight = new Map<number, number>();
      let mostPerPartition = 0;
      let mostPartitions = 0;
      const offsets = new Map<number, bigint[]>();
      let total = 0;
      const c = track(await bus.consumer({ groupId: "concurrency", topics: ["events"], concurrency: 4, maxBatchSize: 10 }));
      await c.run(async (b) => {
        const n = (inFlight.get(b.partition) ?? 0) + 1;
        inFlight.set(b.partition, n);
        mostPerPartition = Math.max(mostPerPartition, n);
        mostPartitions = Math.max(mostPartitions, [...inFlight.values()].filter((v) => v > 0).length);
        await new Promise((r) => setTimeout(r, 25));
        const seen = offsets.get(b.partition) ?? [];
        for (const m of b.messages) seen.push(BigInt(m.offset));
        offsets.set(b.partition, seen);
        total += b.messages.length;
        inFlight.set(b.partition, n - 1);
      });
      await until(() => total >= 160, T, "160 messages");
      // no second batch of a partition while one is in flight; every offset once, in order (no redelivery
      // without a rebalance or a failed handler)
      expect(mostPerPartition).toBe(1);
      expect(offsets.size).toBeGreaterThan(1);
      for (const [p, seen] of offsets) expect(seen, `partition ${p}`).toEqual(seen.map((_, i) => BigInt(i)));
      expect(total).toBe(160);
      // Kafka hands several partitions' batches out at once (the in-process bus handles one batch at a time)
      if (bus.kind === "kafka") expect(mostPartitions).toBeGreaterThan(1);
      await c.close();
    });

    it("moves a partition only after its in-flight batch finished and was committed", async () => {
      const { bus } = await make(2);
      const prod = track(await bus.producer());
      const own = new Ownership();
      const seen = new Map<string, string[]>();
      const events: string[] = [];
      let slowStarted = false;
      const member = async (name: string, slowMs: number) => {
        const hooks = own.hooks(name);
        const c = track(
          await bus.consumer({
            groupId: "handover",
            topics: ["events"],
            onAssigned: async (parts, info) => {
              events.push(`${name}:assigned:${parts.map(tp).join(",")}`);
              await hooks.onAssigned!(parts, info);
            },
            onRevoked: async (parts) => {
              events.push(`${name}:revoked:${parts.map(tp).join(",")}`);
              await hooks.onRevoked!(parts);
            },
          }),
        );
        await c.run(async (b) => {
          own.checkBatch(name, b);
          if (slowMs) {
            slowStarted = true;
            events.push(`${name}:batch-start`);
            await new Promise((r) => setTimeout(r, slowMs));
            events.push(`${name}:batch-end`);
          }
          for (const m of b.messages) seen.set(m.value.toString(), [...(seen.get(m.value.toString()) ?? []), name]);
        });
        return c;
      };
      const a = await member("a", 1500);
      await until(() => a.assignment().length === 2, T, "a to hold both partitions");
      await prod.send("events", Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: `m${i}` })));
      await until(() => slowStarted, T, "a slow batch in a");
      const b = await member("b", 0);
      await until(() => a.assignment().length === 1 && b.assignment().length === 1, T, "a 1/1 split");
      await until(() => seen.size === 40, T, "all 40 messages");
      // a is never revoked while a batch is in flight (a member may also be revoked and reassigned before
      // its first batch, e.g. when Kafka rejoins on fresh metadata), and b's arrival revoked a after the slow
      // batch ended; no message was handled twice (the batch was committed before the hand-over).
      const ofA = events.filter((e) => e.startsWith("a:"));
      ofA.forEach((e, i) => {
        if (e === "a:batch-start") expect(ofA.slice(i + 1).find((x) => x === "a:batch-end" || x.startsWith("a:revoked")), events.join(" ")).toBe("a:batch-end");
      });
      expect(ofA.slice(ofA.indexOf("a:batch-end")).some((e) => e.startsWith("a:revoked")), events.join(" ")).toBe(true);
      expect([...seen.values()].filter((who) => who.length > 1)).toEqual([]);
      expect(own.violations).toEqual([]);
    });

    it("redelivers a batch whose handler failed, and commits only after the handler resolved", async () => {
      const { bus } = await make(2);
      const prod = track(await bus.producer());
      await prod.send("alerts", Array.from({ length: 10 }, (_, i) => ({ key: "chain-1", value: String(i) })));
      // Member 1 fails every batch, then closes: nothing may be committed.
      let failures = 0;
      const c1 = track(await bus.consumer({ groupId: "commit", topics: ["alerts"] }));
      await c1.run(async () => {
        failures++;
        throw new Error("handler failed on purpose");
      });
      await until(() => failures >= 2, T, "two failed attempts (redelivery)");
      await c1.close();
      // Member 2 of the same group gets every message again, fails once more, then succeeds.
      const got: string[] = [];
      let attempts = 0;
      const c2 = track(await bus.consumer({ groupId: "commit", topics: ["alerts"] }));
      await c2.run(async (b) => {
        attempts++;
        if (attempts === 1) throw new Error("fail once");
        got.push(...b.messages.map((m) => m.value.toString()));
      });
      await until(() => got.length >= 10, T, "the 10 messages after redelivery");
      expect(got.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
      await until(async () => (await c2.lag()).reduce((s, l) => s + l.lag, 0) === 0, T, "lag 0 after the commit");
      await c2.close();
    });

    it("commits a taken batch once it is durable, in order, and redelivers from a taken batch whose durable failed", async () => {
      const { bus } = await make(1);
      const prod = track(await bus.producer());
      await prod.send("events", Array.from({ length: 30 }, (_, i) => ({ key: "k", value: `m${i}` })));
      const taken: { first: string; resolve: () => void; reject: (e: Error) => void }[] = [];
      const c = track(await bus.consumer({ groupId: "taken", topics: ["events"], maxBatchSize: 10 }));
      await c.run(async (b) => {
        let resolve!: () => void;
        let reject!: (e: Error) => void;
        const durable = new Promise<void>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        taken.push({ first: b.messages[0].value.toString(), resolve, reject });
        return { durable };
      });
      const lag = async () => (await c.lag()).reduce((s, l) => s + l.lag, 0);
      await until(() => taken.length >= 1, T, "the first batch taken");
      await new Promise((r) => setTimeout(r, 300));
      expect(await lag()).toBe(30); // taken, not durable: nothing committed
      // Kafka goes on with the next batches while one waits for its durable; the in-process bus reads the
      // next batch only once the last is durable
      if (target.name === "kafka") expect(taken.length).toBeGreaterThanOrEqual(2);
      if (taken.length >= 2) {
        // a bus that took the next batch already (Kafka does): its durable alone commits nothing
        taken[1].resolve();
        await new Promise((r) => setTimeout(r, 500));
        expect(await lag()).toBe(30);
      }
      taken[0].resolve();
      await until(() => taken.length >= 2, T, "the second batch taken");
      taken[1].resolve();
      await until(async () => (await lag()) === 10, T, "the first two batches committed");
      await until(() => taken.length >= 3, T, "the third batch taken");
      expect(taken[2].first).toBe("m20");
      taken[2].reject(new Error("the store is down (on purpose)"));
      await until(() => taken.length >= 4, T, "the failed batch redelivered");
      expect(taken[3].first).toBe("m20");
      taken[3].resolve();
      await until(async () => (await lag()) === 0, T, "everything committed after the redelivery");
      expect(taken.map((t) => t.first)).toEqual(["m0", "m10", "m20", "m20"]);
      await c.close();
    });

    it("holds at most maxTakenMessages taken: past it, a batch waits for its own durable before the next", async () => {
      const { bus } = await make(1);
      const prod = track(await bus.producer());
      await prod.send("events", Array.from({ length: 60 }, (_, i) => ({ key: "k", value: `m${i}` })));
      const taken: { first: string; resolve: () => void }[] = [];
      const c = track(await bus.consumer({ groupId: "taken-bound", topics: ["events"], maxBatchSize: 10, maxTakenMessages: 25 }));
      await c.run(async (b) => {
        let resolve!: () => void;
        const durable = new Promise<void>((res) => (resolve = res));
        taken.push({ first: b.messages[0].value.toString(), resolve });
        return { durable };
      });
      await until(() => taken.length >= 1, T, "the first batch taken");
      await new Promise((r) => setTimeout(r, 1_500));
      // 10 + 10 + 10 > 25: the third batch is the last taken until one of them is durable (Kafka); the
      // in-process bus reads the next batch only once the last is durable
      expect(taken.length).toBe(target.name === "kafka" ? 3 : 1);
      for (let i = 0; taken.some((t) => t.first === "m50") === false; i++) {
        await until(() => taken.length > i, T, `batch ${i} taken`);
        taken[i].resolve();
      }
      for (const t of taken) t.resolve();
      await until(async () => (await c.lag()).reduce((s, l) => s + l.lag, 0) === 0, T, "everything committed");
      expect(taken.map((t) => t.first)).toEqual(["m0", "m10", "m20", "m30", "m40", "m50"]);
      await c.close();
    });

    it("close waits for a taken batch to be durable and commits it", async () => {
      const { bus } = await make(1);
      const prod = track(await bus.producer());
      await prod.send("events", Array.from({ length: 5 }, (_, i) => ({ key: "h", value: `a${i}` })));
      let durableAt = 0;
      let called = false;
      const c1 = track(await bus.consumer({ groupId: "taken-close", topics: ["events"] }));
      await c1.run(async () => {
        called = true;
        return { durable: new Promise<void>((r) => setTimeout(() => ((durableAt = Date.now()), r()), 300)) };
      });
      await until(() => called, T, "the batch taken");
      await c1.close(); // must wait for the durable and commit
      expect(durableAt).toBeGreaterThan(0);
      await prod.send("events", [{ key: "h", value: "b0" }]);
      const second: string[] = [];
      const c2 = track(await bus.consumer({ groupId: "taken-close", topics: ["events"] }));
      await c2.run(async (b) => void second.push(...b.messages.map((m) => m.value.toString())));
      await until(() => second.length >= 1, T, "the new message");
      expect(second).toEqual(["b0"]);
      await c2.close();
    });

    it("close finishes and commits the in-flight batch, and a new member resumes from the committed offset", async () => {
      const { bus } = await make(1);
      const prod = track(await bus.producer());
      await prod.send("events", Array.from({ length: 5 }, (_, i) => ({ key: "h", value: `a${i}` })));
      const first: string[] = [];
      let inHandler = false;
      const c1 = track(await bus.consumer({ groupId: "resume", topics: ["events"] }));
      await c1.run(async (b) => {
        inHandler = true;
        await new Promise((r) => setTimeout(r, 300));
        first.push(...b.messages.map((m) => m.value.toString()));
      });
      await until(() => inHandler, T, "the first batch to be in the handler");
      await c1.close(); // must wait for the handler and commit
      expect(first).toEqual(["a0", "a1", "a2", "a3", "a4"]);
      await prod.send("events", Array.from({ length: 3 }, (_, i) => ({ key: "h", value: `b${i}` })));
      const second: string[] = [];
      const c2 = track(await bus.consumer({ groupId: "resume", topics: ["events"] }));
      await c2.run(async (b) => void second.push(...b.messages.map((m) => m.value.toString())));
      await until(() => second.length >= 3, T, "the 3 new messages");
      expect(second).toEqual(["b0", "b1", "b2"]);
      await c2.close();
    });

    it("starts a new group at the end when fromBeginning is false", async () => {
      const { bus } = await make(1);
      const prod = track(await bus.producer());
      await prod.send("dlq", [{ key: "syslog", value: "old" }]);
      const got: string[] = [];
      const c = track(await bus.consumer({ groupId: "latest", topics: ["dlq"], fromBeginning: false }));
      await c.run(async (b) => void got.push(...b.messages.map((m) => m.value.toString())));
      await until(() => c.assignment().length === 1, T, "assignment");
      // Where "the end" is gets fixed when the member first positions itself; keep producing until it reads.
      await until(
        async () => {
          await prod.send("dlq", [{ key: "syslog", value: "new" }]);
          await new Promise((r) => setTimeout(r, 100));
          return got.length >= 1;
        },
        T,
        "a new message",
      );
      expect(got.length).toBeGreaterThan(0);
      expect(got.every((v) => v === "new")).toBe(true);
    });

    it("reports lag per assigned partition", async () => {
      const { bus } = await make(3);
      const prod = track(await bus.producer());
      await prod.send("signals", Array.from({ length: 20 }, (_, i) => ({ key: "one-key", value: String(i) })));
      const p = partitionFor("one-key", 3);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let calls = 0;
      const c: Consumer = track(await bus.consumer({ groupId: "lag", topics: ["signals"] }));
      await c.run(async () => {
        calls++;
        await gate;
      });
      await until(() => calls > 0, T, "the handler to be called");
      const lag = await c.lag();
      expect(lag.map((l) => l.partition).sort()).toEqual([0, 1, 2]);
      expect(lag.find((l) => l.partition === p)!.lag).toBe(20);
      expect(lag.filter((l) => l.partition !== p).every((l) => l.lag === 0)).toBe(true);
      release();
      await until(async () => (await c.lag()).every((l) => l.lag === 0), T, "lag to drop to 0");
    });

    it("isolates runs by topic prefix: same logical topic and group, different prefixes, no crosstalk", async () => {
      const one = await make(2);
      const two = await make(2);
      expect(one.bus.topicName("events")).not.toBe(two.bus.topicName("events"));
      expect(one.bus.topicName("events").endsWith("sigil.events")).toBe(true);
      await (track(await one.bus.producer())).send("events", [{ key: "x", value: "from-one" }]);
      await (track(await two.bus.producer())).send("events", [{ key: "x", value: "from-two" }]);
      const got: string[] = [];
      const c = track(await two.bus.consumer({ groupId: "iso", topics: ["events"] }));
      await c.run(async (b) => void got.push(...b.messages.map((m) => m.value.toString())));
      await until(() => got.length >= 1, T, "the message of bus two");
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual(["from-two"]);
    });
  });
}
