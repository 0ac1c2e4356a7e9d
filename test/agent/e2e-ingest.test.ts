// The agent against the real `sigil ingest` over TLS with a client certificate (mTLS) and a real
// agent token, publishing to the real Kafka broker: kill -9 the agent mid-stream and restart it,
// then read sigil.events back: every line is there exactly once by event id, and ingest's
// deduplication by origin makes the redelivered lines the same events.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { KafkaBus } from "../../platform/bus/kafka.ts";
import { busSchema } from "../../platform/config/sections/bus.ts";
import type { Consumer, IncomingMessage } from "../../platform/bus/types.ts";
import { createDevCerts, type DevCertFiles } from "../../platform/security/certs.ts";
import { runSigil, startRole, type StartedRole } from "../support/role-process.ts";
import { AgentProcess, agentSetup, readStatusFile, until } from "./support/agent-process.ts";

const prefix = `it-agent-${randomBytes(4).toString("hex")}.`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-agent-e2e-"));
let certs: DevCertFiles;
let ingest: StartedRole;
let url = "";
let token = "";
let bus: KafkaBus;
let consumer: Consumer;
/** event.id → message, from sigil.events (what the store would index by id). */
const events = new Map<string, string>();
let published = 0;
const agents: AgentProcess[] = [];

const env = (): NodeJS.ProcessEnv => ({ ...process.env, SIGIL_CONFIG: path.join(dir, "sigil.yml"), SIGIL_LOG_LEVEL: "info" });
const jsonLine = (i: number) => JSON.stringify({ time: "2026-11-21T05:00:00.000Z", level: "info", msg: `line ${String(i).padStart(8, "0")} lorem ipsum dolor sit amet`, service: "shop" });

beforeAll(async () => {
  certs = await createDevCerts(path.join(dir, "certs"), { clientName: "agent-e2e" });
  const brokers = (process.env.SIGIL_TEST_KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
  fs.writeFileSync(
    path.join(dir, "sigil.yml"),
    stringify({
      data_dir: path.join(dir, "data"),
      bus: { type: "kafka", topic_prefix: prefix, partitions: 2, kafka: { brokers } },
      store: { type: "embedded" },
      telemetry: { metrics: { port: 0 } },
      ingest: {
        http: { port: 0, tls: { enabled: true, cert_file: certs.serverCert, key_file: certs.serverKey, ca_file: certs.caCert, client_auth: "required" } },
        otlp: { enabled: false },
        syslog: { udp: { enabled: false }, tcp: { enabled: false } },
      },
    }),
  );
  token = (JSON.parse(runSigil(["tokens", "create", "--name", "agent-e2e", "--json"], env())) as { token: string }).token;
  ingest = await startRole({ role: "ingest", env: env(), ready: /sigil ingest: http listening on (\S+)/, timeoutMs: 60_000 });
  url = ingest.match[1];
  bus = await KafkaBus.connect(busSchema.parse({ type: "kafka", topic_prefix: prefix, kafka: { brokers } }));
  consumer = await bus.consumer({ groupId: `${prefix}reader`, topics: ["events"], fromBeginning: true });
  void consumer.run(async (batch) => {
    for (const m of batch.messages as IncomingMessage[]) {
      const v = JSON.parse(m.value.toString("utf8")) as { event: { id: string }; message: string };
      published++;
      events.set(v.event.id, v.message);
    }
  });
}, 120_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  await consumer?.close();
  await bus?.close();
  await ingest?.stop("SIGTERM", 30_000);
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("agent → sigil ingest (mTLS) → Kafka", () => {
  it("kill -9 mid-stream and restart: every line is in sigil.events exactly once by event id", async () => {
    const endpoint = `${url.replace(/^http:/, "https:")}/v1/ingest`;
    expect(endpoint.startsWith("https://")).toBe(true);
    const setup = agentSetup(endpoint, token, (s) => ({
      inputs: [{ type: "file", paths: [path.join(s.logs, "*.log")], start_at: "beginning", format: "app-json", service: "shop" }],
      output: { url: endpoint, tls: { ca_file: certs.caCert, cert_file: certs.clientCert, key_file: certs.clientKey }, batch: { max_lines: 500 } },
    }));
    const file = path.join(setup.logs, "app.log");
    const N = 20_000;
    let a = new AgentProcess(setup.config);
    agents.push(a);
    for (let i = 0; i < N; i += 1000) {
      fs.appendFileSync(file, Array.from({ length: 1000 }, (_, j) => jsonLine(i + j)).join("\n") + "\n");
      if (i === 10_000) {
        await until(() => published > 2000, 30_000, "the first events on the bus");
        await a.kill9();
        a = new AgentProcess(setup.config);
        agents.push(a);
      }
    }
    await until(() => events.size >= N, 60_000, `${N} events (have ${events.size})`);
    await new Promise((r) => setTimeout(r, 1000));
    const msgs = [...events.values()];
    expect(events.size).toBe(N);
    expect(new Set(msgs).size).toBe(N);
    expect(msgs).toContain(`line ${String(N - 1).padStart(8, "0")} lorem ipsum dolor sit amet`);
    const st = readStatusFile(setup.statusFile)!;
    expect(st.link).toBe("up");
    expect(st.last_error).toBeNull();
    expect(await a.stop()).toBe(0);
  });
});
