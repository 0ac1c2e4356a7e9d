// The ingest publish path against the real Kafka broker with each codec: the publisher's group commit
// (many receiver batches in one send), the fast produce request encoder and LZ4 frames are accepted by
// the broker (which checks every batch's CRC and decompresses it) and read back by the bus consumer with
// every event once, per key in order; a send larger than one request is split by partition bytes.

import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { KafkaBus } from "../../platform/bus/kafka.ts";
import { fastProducePath } from "../../platform/bus/kafka-produce.ts";
import { busSchema } from "../../platform/config/sections/bus.ts";
import type { IncomingMessage } from "../../platform/bus/types.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { Publisher } from "../../ingest/publisher.ts";

const brokers = (process.env.SIGIL_TEST_KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
const buses: KafkaBus[] = [];

afterAll(async () => {
  for (const b of buses) await b.close();
}, 60_000);

const event = (host: string, seq: number, pad: string): EcsEvent => ({
  "@timestamp": new Date(1_732_000_000_000 + seq).toISOString(),
  event: { id: randomBytes(16).toString("hex"), kind: "event", category: ["host"], type: ["info"], dataset: "test.publish", module: "test", sequence: seq },
  host: { name: host },
  message: `${pad} ünïcödé ✓ ${seq}`,
});

describe.each(["lz4", "gzip", "none"] as const)("publishing to real Kafka with %s", (compression) => {
  it("delivers concurrent receiver batches once each, in order per key, split across requests by partition bytes", async () => {
    expect(fastProducePath).toBe(true);
    const prefix = `it-publish-${compression}-${randomBytes(3).toString("hex")}.`;
    // a small request bound so the 6,000 events need several produce requests
    const bus = await KafkaBus.connect(busSchema.parse({ type: "kafka", topic_prefix: prefix, partitions: 3, kafka: { brokers, compression, max_request_bytes: 200_000 } }));
    buses.push(bus);
    await bus.ensureTopics();
    const publisher = new Publisher(await bus.producer(), { maxPending: 100_000, maxBatchEvents: 20_000 });
    const hosts = ["web-1", "web-2", "db-1", "api-7", "cache"];
    const pad = "x".repeat(300);
    let seq = 0;
    const batches = Array.from({ length: 12 }, () => Array.from({ length: 500 }, () => event(hosts[seq % hosts.length], seq++, pad)));
    const started = Date.now();
    await Promise.all(batches.map((b) => publisher.publish(b, [], "test")));
    expect(Date.now() - started).toBeLessThan(60_000);

    const got: Array<{ key: string | null; seq: number; message: string }> = [];
    const consumer = await bus.consumer({ groupId: "reader", topics: ["events"], fromBeginning: true });
    void consumer.run(async (batch) => {
      for (const m of batch.messages as IncomingMessage[]) {
        const v = JSON.parse(m.value.toString("utf8")) as EcsEvent;
        got.push({ key: m.key, seq: v.event.sequence as number, message: v.message as string });
      }
    });
    const deadline = Date.now() + 60_000;
    while (got.length < seq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.close();
    expect(got.length).toBe(seq);
    expect(new Set(got.map((g) => g.seq)).size).toBe(seq);
    for (const h of hosts) {
      const mine = got.filter((g) => g.key === h).map((g) => g.seq);
      expect(mine.length).toBe(seq / hosts.length);
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
    expect(got.find((g) => g.seq === 4321)!.message).toBe(`${pad} ünïcödé ✓ 4321`);
  }, 120_000);
});
