// The bus contract suite against a real Kafka broker (started by the integration global setup),
// plus what only Kafka has: unreachable brokers, and a consumer process killed mid-batch.
import { afterAll, describe, expect, it } from "vitest";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import kafkajs from "kafkajs";
import { pino } from "pino";
import { busSchema } from "../../platform/config/sections/bus.ts";
import { KafkaBus } from "../../platform/bus/kafka.ts";
import { SigilError } from "../../platform/errors.ts";
import { registry } from "../../platform/telemetry/metrics.ts";
import { testIsolation } from "../support/services.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { busContract, until } from "./contract.ts";

const iso = testIsolation(import.meta.url);
let n = 0;

/** Bus config as the roles get it, tuned for fast rebalances on a test broker. */
export function kafkaTestConfig(partitions: number, prefix: string, brokers = iso.kafkaBrokers) {
  return busSchema.parse({
    type: "kafka",
    partitions,
    topic_prefix: prefix,
    kafka: { brokers, session_timeout_ms: 6000, heartbeat_interval_ms: 500, max_wait_ms: 100, startup_timeout_ms: 10_000, retry_max_ms: 2000 },
  });
}

const admin = new kafkajs.Kafka({ brokers: iso.kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING }).admin();

busContract({
  name: "kafka",
  timeoutMs: 30_000,
  make: async ({ partitions, prefix }) => {
    const bus = await KafkaBus.connect(kafkaTestConfig(partitions, prefix ?? `${iso.prefix}${n++}-`), { logger: pino({ level: "error" }) });
    return {
      bus,
      partitionCount: async (topic) => {
        await admin.connect();
        const meta = await admin.fetchTopicMetadata({ topics: [bus.topicName(topic)] });
        return meta.topics[0].partitions.length;
      },
    };
  },
  cleanup: async () => {
    await admin.disconnect();
    await iso.cleanup();
  },
});

describe("kafka bus: faults", () => {
  afterAll(async () => {
    await iso.cleanup();
  });

  it("names the broker address when Kafka is unreachable, after retrying with backoff", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (s: string) => void lines.push(s) });
    const cfg = kafkaTestConfig(1, `${iso.prefix}unreachable-`, ["127.0.0.1:1"]);
    cfg.kafka.startup_timeout_ms = 2500;
    cfg.kafka.connection_timeout_ms = 500;
    const t0 = Date.now();
    const err = await KafkaBus.connect(cfg, { logger: log }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SigilError);
    expect((err as SigilError).code).toBe("bus_unreachable");
    expect((err as SigilError).location?.address).toBe("127.0.0.1:1");
    expect((err as SigilError).message).toContain("127.0.0.1:1");
    expect((err as SigilError).hint).toMatch(/bus\.kafka\.brokers/);
    const retries = lines.filter((l) => l.includes("retrying")).map((l) => JSON.parse(l) as { retry_in_ms: number; attempt: number });
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0].attempt).toBe(1);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("after a failed send the next goes out under a new producer id, and nothing after it is lost", async () => {
    // A failed send may have been written by the broker (the answer lost as it went down); kafkajs would
    // give the next batch the same sequence numbers and the broker would drop it as a duplicate. Here the
    // failure is a batch the broker refuses as too large; the renewal is the same either way.
    const cfg = kafkaTestConfig(1, `${iso.prefix}renew-`);
    cfg.kafka.max_request_bytes = 8 * 1024 * 1024;
    const bus = await KafkaBus.connect(cfg, { logger: pino({ level: "error" }) });
    const renewals = async () => (await registry.getSingleMetric("sigil_bus_producer_renewals_total")?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
    try {
      const producer = await bus.producer();
      const before = await renewals();
      await producer.send("events", [{ key: "k", value: "first" }]);
      const huge = randomBytes(3 * 1024 * 1024).toString("base64"); // incompressible, over the broker's message.max.bytes
      await expect(producer.send("events", [{ key: "k", value: huge }])).rejects.toBeInstanceOf(SigilError);
      // two sends queued right behind the failure, with as many records as the failed batch: both arrive
      const [a, b] = [producer.send("events", [{ key: "k", value: "second" }]), producer.send("events", [{ key: "k", value: "third" }])];
      await Promise.all([a, b]);
      expect(await renewals()).toBe(before + 1);
      const got: string[] = [];
      const consumer = await bus.consumer({ groupId: "renew-reader", topics: ["events"] });
      await consumer.run(async (batch) => {
        for (const m of batch.messages) got.push(m.value.toString("utf8"));
      });
      await until(() => got.length >= 3, 20_000, "the three accepted messages");
      await consumer.close();
      expect(got).toEqual(["first", "second", "third"]);
      await producer.close();
    } finally {
      await bus.close();
    }
  }, 60_000);

  it("sends made while one is in flight share the next produce request; a message the broker refuses fails only its own sender", async () => {
    const cfg = kafkaTestConfig(1, `${iso.prefix}group-commit-`);
    cfg.kafka.max_request_bytes = 8 * 1024 * 1024;
    const bus = await KafkaBus.connect(cfg, { logger: pino({ level: "error" }) });
    const requests = async () => (await registry.getSingleMetric("sigil_bus_produce_requests_total")?.get())?.values.filter((v) => v.labels["topic"] === "signals").reduce((a, v) => a + v.value, 0) ?? 0;
    try {
      const producer = await bus.producer();
      await producer.send("signals", [{ key: "k", value: "warm-up" }]);
      const before = await requests();
      // one send in flight, ten more made meanwhile by other callers: two requests, not eleven
      const sends = [producer.send("signals", [{ key: "k", value: "s0" }])];
      for (let i = 1; i <= 10; i++) sends.push(producer.send("signals", [{ key: "k", value: `s${i}` }]));
      await Promise.all(sends);
      expect(await requests()).toBe(before + 2);
      // a refused message travelling with two others: its sender fails, theirs arrive
      const huge = randomBytes(3 * 1024 * 1024).toString("base64");
      const first = producer.send("signals", [{ key: "k", value: "t0" }]);
      const bad = producer.send("signals", [{ key: "k", value: huge }]);
      const ok = [producer.send("signals", [{ key: "k", value: "t1" }]), producer.send("signals", [{ key: "k", value: "t2" }])];
      await first;
      await expect(bad).rejects.toBeInstanceOf(SigilError);
      await Promise.all(ok);
      const got: string[] = [];
      const consumer = await bus.consumer({ groupId: "group-commit-reader", topics: ["signals"] });
      await consumer.run(async (batch) => {
        for (const m of batch.messages) got.push(m.value.toString("utf8"));
      });
      await until(() => got.length >= 15, 20_000, "the accepted messages");
      await consumer.close();
      expect(got).toEqual(["warm-up", ...Array.from({ length: 11 }, (_, i) => `s${i}`), "t0", "t1", "t2"]);
      await producer.close();
    } finally {
      await bus.close();
    }
  }, 60_000);

  it("a member whose rejoin fails joins again instead of skipping the batches kafkajs still fetches", async () => {
    // After Kafka restarts, a member is told its coordinator moved and rejoins, and that JoinGroup can fail
    // ("the coordinator is loading"). The member had already released its partitions, while kafkajs goes on
    // fetching for the assignment the reloaded group still has. The member must join again, not skip those
    // batches (it used to skip them: detection stalled for good after a Kafka restart).
    const require = createRequire(import.meta.url);
    const proto = (require("kafkajs/src/consumer/consumerGroup.js") as { prototype: Record<string | symbol, unknown> }).prototype;
    const joinSym = Object.getOwnPropertySymbols(proto).find((k) => String(k) === "Symbol(private:ConsumerGroup:join)");
    expect(joinSym, "kafkajs' private join method").toBeDefined();
    const origJoin = proto[joinSym!] as (this: object) => Promise<void>;
    const origBeat = proto.heartbeat as (this: object, a: unknown) => Promise<void>;
    let fault: "none" | "beat" | "join" = "none";
    let failedJoins = 0;
    proto.heartbeat = async function (this: object, a: unknown) {
      if (fault === "beat") {
        fault = "join";
        throw Object.assign(new Error("This is not the correct coordinator for this group"), { name: "KafkaJSProtocolError", type: "NOT_COORDINATOR_FOR_GROUP", retriable: true });
      }
      return origBeat.call(this, a);
    };
    proto[joinSym!] = async function (this: object) {
      if (fault === "join") {
        fault = "none";
        failedJoins++;
        throw Object.assign(new Error("The coordinator is loading and hence can't process requests for this group"), { name: "KafkaJSProtocolError", type: "COORDINATOR_LOAD_IN_PROGRESS", retriable: true });
      }
      return origJoin.call(this);
    };
    const bus = await KafkaBus.connect(kafkaTestConfig(2, `${iso.prefix}rejoin-`), { logger: pino({ level: "silent" }) });
    const got = new Set<string>();
    try {
      const prod = await bus.producer();
      const a = await bus.consumer({ groupId: "rejoin", topics: ["events"] });
      await a.run(async (b) => void b.messages.forEach((m) => got.add(m.value.toString())));
      await prod.send("events", Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `before-${i}` })));
      await until(() => got.size >= 20, 30_000, "the member to read the first 20");
      fault = "beat";
      await prod.send("events", Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `after-${i}` })));
      await until(() => failedJoins === 1, 30_000, "the member's rejoin to fail");
      await prod.send("events", Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `later-${i}` })));
      await until(() => got.size >= 60, 30_000, `every message sent after the failed join (have ${got.size - 40} of 20)`);
      await a.close();
      await prod.close();
    } finally {
      proto[joinSym!] = origJoin;
      proto.heartbeat = origBeat;
      await bus.close();
    }
  }, 120_000);

  it("members of one group in one process keep their own offsets: a member assigned nothing does not crash the holder", async () => {
    // kafkajs keeps one committed-offsets cache per client and group, and every member's sync clears it
    // down to its own assignment. Two members of one group on one client shared it: the joiner, assigned
    // nothing, emptied the holder's entries, the holder's next fetch failed on them (a TypeError), its
    // consumer crashed and left the group, and the joiner took over every partition (and handled again
    // what the holder had not committed). The exclusive contract test failed this way under load.
    // The member assigned nothing syncs after the leader (the holder): the order that broke the holder.
    const require = createRequire(import.meta.url);
    const proto = (require("kafkajs/src/consumer/consumerGroup.js") as { prototype: Record<string | symbol, unknown> }).prototype;
    const syncSym = Object.getOwnPropertySymbols(proto).find((k) => String(k) === "Symbol(private:ConsumerGroup:sync)");
    expect(syncSym, "kafkajs' private sync method").toBeDefined();
    type Group = { generationId: number; isLeader(): boolean };
    const origSync = proto[syncSym!] as (this: Group) => Promise<void>;
    let leaderSynced = -1;
    proto[syncSym!] = async function (this: Group) {
      if (!this.isLeader()) {
        const generation = this.generationId;
        await until(() => leaderSynced >= generation, 5000, "the leader's sync").catch(() => {});
      }
      await origSync.call(this);
      if (this.isLeader()) leaderSynced = this.generationId;
    };
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (s: string) => void lines.push(s) });
    const bus = await KafkaBus.connect(kafkaTestConfig(2, `${iso.prefix}own-offsets-`), { logger: log });
    const handled: string[] = [];
    let aAssigned = 0;
    try {
      const prod = await bus.producer();
      const member = async (name: string) => {
        const c = await bus.consumer({
          groupId: "own-offsets",
          topics: ["signals"],
          exclusive: true,
          onAssigned: async () => {
            if (name !== "a") return;
            // after b's join, a's first fetch comes once b has synced too
            if (++aAssigned > 1) await new Promise((r) => setTimeout(r, 1000));
          },
        });
        await c.run(async (batch) => void handled.push(...batch.messages.map((m) => `${name}:${m.value.toString()}`)));
        return c;
      };
      const a = await member("a");
      await until(() => a.assignment().length === 2, 30_000, "a to hold both partitions");
      await prod.send("signals", Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `first-${i}` })));
      await until(() => handled.length >= 10, 30_000, "a to handle the first 10");
      const b = await member("b");
      // (without the fix, b holds everything soon after: a crashed and left the group)
      await until(() => (aAssigned >= 2 && a.assignment().length === 2) || b.assignment().length > 0, 30_000, "the rebalance for b's join");
      await prod.send("signals", Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `second-${i}` })));
      await until(() => handled.length >= 20, 30_000, "20 messages handled");
      const errors = lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
      expect(errors, errors.join("\n")).toEqual([]);
      expect(handled.filter((h) => !h.startsWith("a:")), handled.join(" ")).toEqual([]);
      expect(new Set(handled).size).toBe(handled.length);
      expect(b.assignment()).toEqual([]);
      expect(a.assignment().length).toBe(2);
      await b.close();
      await a.close();
      await prod.close();
    } finally {
      proto[syncSym!] = origSync;
      await bus.close();
    }
  }, 120_000);

  it("redelivers to the group what a member killed with SIGKILL mid-batch had received", async () => {
    const prefix = `${iso.prefix}kill-`;
    const bus = await KafkaBus.connect(kafkaTestConfig(1, prefix), { logger: pino({ level: "error" }) });
    try {
      const prod = await bus.producer();
      await prod.send("events", Array.from({ length: 10 }, (_, i) => ({ key: "h", value: `v${i}` })));
      const child = spawn(process.execPath, ["--import", "tsx", path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "kafka-member.ts"), iso.kafkaBrokers.join(","), prefix, "killed"], {
        stdio: ["ignore", "pipe", "inherit"],
        cwd: PROJECT_ROOT,
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      await until(() => /batch 0-9/.test(out), 60_000, "the child to receive the batch");
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      // The dead member's session expires (6 s); the group then gives the partition to the next member,
      // starting from the last committed offset: nothing was committed, so all 10 come again.
      const got: string[] = [];
      const c = await bus.consumer({ groupId: "killed", topics: ["events"] });
      await c.run(async (b) => void got.push(...b.messages.map((m) => m.value.toString())));
      await until(() => got.length >= 10, 60_000, "redelivery of the 10 messages");
      expect(got.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
      await c.close();
      await prod.close();
    } finally {
      await bus.close();
    }
  });
});
