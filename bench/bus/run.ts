// bench/bus: throughput of the bus implementations end to end (send in batches → consume with a
// group → commit). Prints one JSON object: per variant messages/s, MB/s and peak RSS. Variants: the
// in-process bus without journal, with journal (synchronous=normal and =full), and Kafka when a
// broker answers at --kafka (default 127.0.0.1:19092; `sigil services up` starts one).
// Run: npx tsx bench/bus/run.ts [--messages N] [--size BYTES] [--batch N] [--kafka host:port|none]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { MemoryBus } from "../../platform/bus/memory.ts";
import { busSchema } from "../../platform/config/sections/bus.ts";
import type { Bus } from "../../platform/bus/types.ts";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const N = Number(arg("messages", "200000"));
const SIZE = Number(arg("size", "600"));
const BATCH = Number(arg("batch", "500"));
const KAFKA = arg("kafka", "127.0.0.1:19092");
const quiet = pino({ level: "silent" });

let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

/** Event-like JSON payloads of about SIZE bytes, keyed by host. */
function payloads(n: number): { key: string; value: Buffer }[] {
  const pad = "x".repeat(Math.max(0, SIZE - 160));
  return Array.from({ length: Math.min(n, 10_000) }, (_, i) => ({
    key: `host-${i % 64}`,
    value: Buffer.from(JSON.stringify({ "@timestamp": new Date(1_700_000_000_000 + i).toISOString(), event: { id: `e${i}`, kind: "event" }, host: { name: `host-${i % 64}` }, message: pad })),
  }));
}

async function run(bus: Bus, n: number): Promise<{ messages: number; seconds: number; messages_per_s: number; mb_per_s: number; send_seconds: number }> {
  await bus.ensureTopics();
  const pool = payloads(n);
  const prod = await bus.producer();
  let consumed = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const c = await bus.consumer({ groupId: "bench", topics: ["events"], maxBatchSize: 1000 });
  await c.run(async (b) => {
    consumed += b.messages.length;
    if (consumed >= n) done();
  });
  const t0 = performance.now();
  let bytes = 0;
  for (let sent = 0; sent < n; sent += BATCH) {
    const batch = [];
    for (let i = 0; i < Math.min(BATCH, n - sent); i++) {
      const p = pool[(sent + i) % pool.length];
      batch.push(p);
      bytes += p.value.length;
    }
    await prod.send("events", batch);
  }
  const tSend = performance.now();
  await finished;
  const t1 = performance.now();
  await c.close();
  await prod.close();
  await bus.close();
  const seconds = (t1 - t0) / 1000;
  return { messages: n, seconds: +seconds.toFixed(3), messages_per_s: Math.round(n / seconds), mb_per_s: +(bytes / 1e6 / seconds).toFixed(1), send_seconds: +((tSend - t0) / 1000).toFixed(3) };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bench-bus-"));
const results: Record<string, unknown> = {};
try {
  results.memory = await run(new MemoryBus({ partitions: 6, logger: quiet }), N);
  results.memory_journal_normal = await run(new MemoryBus({ partitions: 6, logger: quiet, journalPath: path.join(dir, "normal.db"), journalSync: "normal" }), N);
  results.memory_journal_full = await run(new MemoryBus({ partitions: 6, logger: quiet, journalPath: path.join(dir, "full.db"), journalSync: "full" }), Math.min(N, 50_000));
  if (KAFKA !== "none") {
    const { KafkaBus } = await import("../../platform/bus/kafka.ts");
    const cfg = busSchema.parse({ type: "kafka", partitions: 6, topic_prefix: `bench-${process.pid}-${Date.now()}-`, kafka: { brokers: [KAFKA], startup_timeout_ms: 2000 } });
    try {
      const bus = await KafkaBus.connect(cfg, { logger: quiet });
      results.kafka = await run(bus, N);
      // leave no bench topics behind on the dev broker
      const kafkajs = (await import("kafkajs")).default;
      const admin = new kafkajs.Kafka({ brokers: [KAFKA], logLevel: kafkajs.logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.deleteTopics({ topics: (await admin.listTopics()).filter((t) => t.startsWith(cfg.topic_prefix)) });
      await admin.disconnect();
    } catch (err) {
      results.kafka = { skipped: `no broker at ${KAFKA}: ${(err as Error).message}` };
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
  clearInterval(sampler);
}

process.stdout.write(
  JSON.stringify({
    bench: "bus",
    message_bytes: SIZE,
    send_batch: BATCH,
    cpus: os.cpus().length,
    load_avg_1m: +os.loadavg()[0].toFixed(2),
    node: process.version,
    results,
    peak_rss_mb: Math.round(peakRss / 1e6),
  }) + "\n",
);
