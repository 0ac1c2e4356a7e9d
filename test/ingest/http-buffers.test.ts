// `sigil ingest` against the real Kafka broker with enough HTTP traffic that the receiver's reused
// buffers come round many times (the publish slab's megabyte buffers, the request body pool): every
// line posted, identity or gzip, from concurrent clients, is read back from sigil.events exactly once
// and byte for byte (a buffer reused while a batch still needed it would show as a wrong or broken event).

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { RecordEncoder } from "../../ingest/agent/batch.ts";
import { KafkaBus } from "../../platform/bus/kafka.ts";
import { busSchema } from "../../platform/config/sections/bus.ts";
import type { Consumer } from "../../platform/bus/types.ts";
import { runSigil, startRole, type StartedRole } from "../support/role-process.ts";

const prefix = `it-ingest-buffers-${randomBytes(4).toString("hex")}.`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-ingest-buffers-"));
const brokers = (process.env.SIGIL_TEST_KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
const env = { ...process.env, SIGIL_CONFIG: path.join(dir, "sigil.yml") };
let ingest: StartedRole;
let url = "";
let token = "";
let bus: KafkaBus;
let consumer: Consumer;
const messages = new Map<string, number>();
let received = 0;

beforeAll(async () => {
  fs.writeFileSync(
    path.join(dir, "sigil.yml"),
    stringify({
      data_dir: path.join(dir, "data"),
      bus: { type: "kafka", topic_prefix: prefix, partitions: 3, kafka: { brokers } },
      store: { type: "embedded" },
      telemetry: { metrics: { port: 0 } },
      ingest: { http: { port: 0 }, otlp: { enabled: false }, syslog: { udp: { enabled: false }, tcp: { enabled: false } } },
      security: { tokens: { rate_limit_eps: 0 } },
    }),
  );
  token = (JSON.parse(runSigil(["tokens", "create", "--name", "it-buffers", "--json"], env)) as { token: string }).token;
  ingest = await startRole({ role: "ingest", env, ready: /http listening on (\S+)/, timeoutMs: 60_000 });
  url = ingest.match[1];
  bus = await KafkaBus.connect(busSchema.parse({ type: "kafka", topic_prefix: prefix, kafka: { brokers } }));
  consumer = await bus.consumer({ groupId: `${prefix}reader`, topics: ["events"], fromBeginning: true });
  void consumer.run(async (batch) => {
    for (const m of batch.messages) {
      // event.original: the line as posted
      const e = JSON.parse(m.value.toString("utf8")) as { event: { original: string } };
      messages.set(e.event.original, (messages.get(e.event.original) ?? 0) + 1);
      received++;
    }
  });
}, 90_000);

afterAll(async () => {
  await consumer?.close();
  await bus?.close();
  await ingest?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

it("reads back every line of many concurrent identity and gzip bodies exactly once and intact while the buffers are reused", async () => {
  // 32 bodies of 500 records with ~700-byte lines (some multi-byte): ~16 MB of events, many slab buffers
  const bodies: Array<{ body: Buffer; gzip: boolean }> = [];
  const expected: string[] = [];
  for (let b = 0; b < 32; b++) {
    const encoder = new RecordEncoder({ hostName: `host-${b % 5}`, agentId: `agent-${b % 5}`, agentVersion: "0.1.0", service: null, tags: [], format: "sshd-auth" }, "file", `file-${b}`, "/var/log/auth.log");
    encoder.setCreated(new Date().toISOString());
    const out: string[] = [];
    let offset = 0;
    for (let i = 0; i < 500; i++) {
      const filler = (i % 3 === 0 ? "é€" : "x").repeat(200 + ((b * 7 + i) % 300));
      const line = `Dec 10 06:55:46 LabSZ sshd[${b}]: Invalid user u${b}-${i} from 10.0.${b}.${i % 250} ${filler}`;
      out.push(encoder.encode(line, offset, false));
      offset += Buffer.byteLength(line) + 1;
      expected.push(line);
    }
    const raw = Buffer.from(out.join("\n") + "\n");
    bodies.push({ body: b % 4 === 3 ? gzipSync(raw) : raw, gzip: b % 4 === 3 });
  }
  let next = 0;
  const client = async () => {
    while (next < bodies.length) {
      const { body, gzip } = bodies[next++];
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, "content-type": "application/x-ndjson", "x-sigil-batch-id": randomBytes(16).toString("hex"), "x-sigil-batch-time": String(Date.now()) };
      if (gzip) headers["content-encoding"] = "gzip";
      const res = await fetch(`${url}/v1/ingest`, { method: "POST", body: new Uint8Array(body), headers });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(((await res.json()) as { events: number }).events).toBe(500);
    }
  };
  await Promise.all([client(), client(), client(), client()]);
  const deadline = Date.now() + 60_000;
  while (received < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(received).toBe(expected.length);
  const wrong = expected.filter((m) => messages.get(m) !== 1);
  expect(wrong.slice(0, 3).map((m) => ({ line: m.slice(0, 80), times: messages.get(m) ?? 0 }))).toEqual([]);
  expect(messages.size).toBe(expected.length);
}, 120_000);
