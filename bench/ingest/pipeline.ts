// bench/ingest/pipeline: the HTTP receiver's per-event work in one process, without the network: agent
// NDJSON bodies (the same as bench/ingest/run.ts sends) read, normalized and serialized into a publish
// batch (normalizeBody), then encoded as Kafka produce requests (6 partitions, LZ4, the fast encoder)
// the way the Kafka bus does. CPU time of the whole process (every thread) per event, so changes to the
// hot path compare on a shared machine without a broker's or a client's CPU in the figure. Prints JSON.
//
//   npx tsx bench/ingest/pipeline.ts [--seconds 5] [--batch 2000] [--compression lz4|none] [--send-events 10000]

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { PerformanceObserver, constants as perfConstants } from "node:perf_hooks";
import path from "node:path";
import { parseArgs } from "node:util";
import "../../platform/bus/kafka.ts"; // installs the fast produce encoder and the LZ4 codec
import { produceRequestV3 } from "../../platform/bus/kafka-produce.ts";
import { partitionFor } from "../../platform/bus/partitioner.ts";
import type { OutgoingMessage, Producer } from "../../platform/bus/types.ts";
import { RecordEncoder } from "../../ingest/agent/batch.ts";
import { fixtureInputs } from "../../ingest/parsers/conformance.ts";
import { defaultParseContext } from "../../ingest/parsers/types.ts";
import { Publisher } from "../../ingest/publisher.ts";
import { FormatCache } from "../../ingest/receivers/batch.ts";
import { normalizeBody } from "../../ingest/receivers/http.ts";
import { PROJECT_ROOT, sharedDataDir } from "../../test/support/shared-data.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    batch: { type: "string", default: "2000" },
    compression: { type: "string", default: "lz4" },
    "send-events": { type: "string", default: "10000" },
  },
});
const batchLines = Number(values.batch);
const sendEvents = Number(values["send-events"]);
const compression = values.compression === "lz4" ? 3 : values.compression === "none" ? 0 : NaN;
if (!Number.isInteger(batchLines) || batchLines <= 0 || !Number.isInteger(sendEvents) || sendEvents <= 0 || Number.isNaN(compression)) {
  process.stderr.write("usage: pipeline.ts [--seconds 5] [--batch 2000] [--compression lz4|none] [--send-events 10000]\n");
  process.exit(2);
}

// the bodies bench/ingest/run.ts sends: real auth.log lines in the agent's wire encoding, 64 agents taking turns
const data = sharedDataDir();
const lines = data
  ? fs.readFileSync(path.join(data, "logs/sshd-auth/loghub/OpenSSH_2k.log"), "utf8").split("\n").filter((l) => l.trim()).map((l) => l.replace(/\r$/, ""))
  : fixtureInputs(path.join(PROJECT_ROOT, "ingest/parsers/sshd-auth/fixtures")).flatMap((f) => f.lines);
const agents = Array.from({ length: 64 }, (_, h) => ({
  encoder: new RecordEncoder({ hostName: `host-${h}`, agentId: randomBytes(8).toString("hex"), agentVersion: "0.1.0", service: null, tags: [], format: "sshd-auth" }, "file", randomBytes(8).toString("hex"), "/var/log/auth.log"),
  offset: 0,
  line: h * 31,
}));
let turn = 0;
const body = (): Buffer => {
  const agent = agents[turn++ % agents.length];
  const out: string[] = [];
  for (let i = 0; i < batchLines; i++) {
    if (i % 200 === 0) agent.encoder.setCreated(new Date().toISOString());
    const line = lines[agent.line++ % lines.length];
    out.push(agent.encoder.encode(line, agent.offset, false));
    agent.offset += Buffer.byteLength(line) + 1;
  }
  return Buffer.from(out.join("\n") + "\n");
};
const bodies = Array.from({ length: 64 }, body);

/** A producer that does the Kafka bus's CPU work for a send (grouping by key, the produce request with its compressed batches) and drops the bytes. */
let requestBytes = 0;
const producer: Producer = {
  async send(_topic: string, messages: OutgoingMessage[]): Promise<void> {
    const parts = new Map<number, OutgoingMessage[]>();
    let rr = 0;
    for (const m of messages) {
      const p = m.key === null ? rr++ % 6 : partitionFor(m.key, 6);
      const list = parts.get(p);
      if (list === undefined) parts.set(p, [m]);
      else list.push(m);
    }
    const req = produceRequestV3({
      acks: -1,
      timeout: 30_000,
      producerId: 1,
      producerEpoch: 0,
      compression,
      topicData: [{ topic: "sigil.events", partitions: [...parts].map(([partition, msgs]) => ({ partition, firstSequence: 0, messages: msgs as never })) }],
    });
    requestBytes += (await req.encode()).buf.length;
  },
  async close(): Promise<void> {},
};

const publisher = new Publisher(producer, { maxPending: 1_000_000, maxBatchEvents: sendEvents });
const ctx = defaultParseContext();
const cache = new FormatCache();
let events = 0;
let next = 0;
/** Four bodies at a time, as four concurrent clients (the publisher groups what waits into one send). */
async function round(): Promise<void> {
  const sends: Promise<void>[] = [];
  for (let c = 0; c < 4; c++) {
    const batch = publisher.batch("http");
    normalizeBody(bodies[next++ % bodies.length], { source: "http bench", peer: "127.0.0.1", maxLineBytes: 65536, format: "auto", sender: "bench" }, ctx, cache, batch);
    events += batch.size;
    sends.push(publisher.send(batch, []));
  }
  await Promise.all(sends);
}

/** CPU seconds of this process's main thread and of its other threads (V8's GC helpers, libuv's pool running LZ4), from /proc; empty elsewhere. */
function threadCpu(): { main: number; other_threads: number } | null {
  try {
    let main = 0;
    let other = 0;
    for (const tid of fs.readdirSync("/proc/self/task")) {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
      const s = (Number(f[11]) + Number(f[12])) / 100;
      if (tid === String(process.pid)) main += s;
      else other += s;
    }
    return { main, other_threads: other };
  } catch {
    return null;
  }
}

const seconds = Number(values.seconds);
const warm = performance.now() + 1500;
while (performance.now() < warm) await round();
events = 0;
requestBytes = 0;
// collections while measuring: scavenges come with every 16 MB allocated on the young heap (the
// events per scavenge show allocation per event, whatever the machine's load), mark-compacts with old
// heap growth and external (Buffer) memory
const gcs = { minor: 0, major: 0, minor_ms: 0, major_ms: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
      gcs.minor++;
      gcs.minor_ms += e.duration;
    } else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
      gcs.major++;
      gcs.major_ms += e.duration;
    }
  }
});
gcObserver.observe({ entryTypes: ["gc"] });
const threads0 = threadCpu();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
while (performance.now() - t0 < seconds * 1000) await round();
const dt = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;
const threads1 = threadCpu();
gcObserver.disconnect();
process.stdout.write(
  JSON.stringify({
    bench: "ingest-pipeline",
    machine: { cpus: os.cpus().length, node: process.version, load1: os.loadavg()[0] },
    compression: values.compression,
    events,
    events_per_cpu_s: Math.round(events / cpuS),
    events_per_s: Math.round(events / dt),
    cpu_s: Math.round(cpuS * 100) / 100,
    cpu_s_by_thread: threads0 && threads1 ? { main: Math.round((threads1.main - threads0.main) * 100) / 100, other_threads: Math.round((threads1.other_threads - threads0.other_threads) * 100) / 100 } : null,
    events_per_scavenge: Math.round(events / Math.max(1, gcs.minor)),
    events_per_mark_compact: Math.round(events / Math.max(1, gcs.major)),
    gc_ms: { scavenge: Math.round(gcs.minor_ms), mark_compact: Math.round(gcs.major_ms) },
    request_bytes_per_event: Math.round(requestBytes / Math.max(1, events)),
  }) + "\n",
);
