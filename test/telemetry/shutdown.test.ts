// Graceful shutdown mid-stream, on real Kafka and Elasticsearch: while a client sends a steady stream
// through HTTP ingest, `sigil correlate` and then `sigil ingest` get SIGTERM, exit 0 after finishing
// their in-flight batches, and are started again. Afterwards every acknowledged event is stored exactly
// once and every canary in the stream became exactly one alert: nothing lost, nothing twice.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { testIsolation, type TestIsolation } from "../support/services.ts";
import { startRole, type StartedRole } from "../support/role-process.ts";
import { freePort, sigil, until } from "./support.ts";

let iso: TestIsolation;
let dir: string;
let env: NodeJS.ProcessEnv;
let token = "";
let ingestPort = 0;
const started: StartedRole[] = [];
const run = randomBytes(3).toString("hex");

async function start(role: "ingest" | "correlate"): Promise<StartedRole> {
  const r = await startRole({
    role,
    env: { ...env, SIGIL_TELEMETRY__METRICS__PORT: String(await freePort()), SIGIL_INGEST__HTTP__PORT: String(ingestPort) },
    // readiness of the listener: the ingest URL in its output, correlate's "running" line
    ready: role === "ingest" ? /http listening on/ : /correlate role running/,
    timeoutMs: 180_000,
  });
  started.push(r);
  return r;
}

beforeAll(async () => {
  iso = testIsolation(import.meta.url);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-shutdown-"));
  ingestPort = await freePort();
  fs.writeFileSync(
    path.join(dir, "sigil.yml"),
    stringify({
      data_dir: path.join(dir, "data"),
      bus: { type: "kafka", topic_prefix: iso.topicPrefix, partitions: 3, kafka: { brokers: iso.kafkaBrokers } },
      store: { type: "elasticsearch", elasticsearch: { node: iso.esUrl, index_prefix: iso.indexPrefix } },
      telemetry: { log_level: "info" },
      ingest: { timezone: "UTC", http: { port: 0 }, otlp: { enabled: false }, syslog: { udp: { enabled: false }, tcp: { enabled: false } } },
      security: { tokens: { rate_limit_eps: 0 } },
      correlate: { rules: [path.join(PROJECT_ROOT, "bench/e2e/rules")], watch_rules: false },
    }),
  );
  env = { ...process.env, SIGIL_CONFIG: path.join(dir, "sigil.yml") };
  delete env["SIGIL_LOG_LEVEL"];
  token = (JSON.parse(sigil(["tokens", "create", "--name", "shutdown-test", "--json"], env)) as { token: string }).token;
}, 300_000);

afterAll(async () => {
  for (const r of started) await r.stop("SIGKILL");
  await iso?.cleanup();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** One request body: `n` ordinary syslog lines and one canary (its own host), as agent records with unique origins. */
function body(batch: number, n: number): string {
  const t = new Date().toISOString();
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const msg = `<38>1 ${t} web-${i % 8} app 42 - - request ${batch}.${i} served`;
    lines.push(JSON.stringify({ message: msg, host: { name: `web-${i % 8}` }, sigil: { origin: `shutdown:${run}:${batch}:${i}`, format: "syslog-rfc5424" } }));
  }
  const canary = `<38>1 ${t} canary-${run}-${batch} sigil-canary 42 - - SIGIL-BENCH-CANARY ${batch}`;
  lines.push(JSON.stringify({ message: canary, host: { name: `canary-${run}-${batch}` }, sigil: { origin: `shutdown:${run}:${batch}:canary`, format: "syslog-rfc5424" } }));
  return lines.join("\n") + "\n";
}

describe("graceful shutdown", () => {
  it("SIGTERM mid-stream: each role exits 0 after its in-flight batches; restarted, nothing is lost or stored twice", async () => {
    let correlate = await start("correlate");
    let ingest = await start("ingest");
    const batches = 60;
    const perBatch = 100;
    let acked = 0;
    let retried = 0;
    const send = async (b: number) => {
      const payload = body(b, perBatch);
      const id = randomBytes(16).toString("hex");
      for (;;) {
        const status = await fetch(`http://127.0.0.1:${ingestPort}/v1/ingest`, {
          method: "POST",
          body: payload,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/x-ndjson", "x-sigil-batch-id": id, "x-sigil-batch-time": String(Date.now()) },
          signal: AbortSignal.timeout(30_000),
        }).then(
          async (r) => (await r.arrayBuffer(), r.status),
          () => 0,
        );
        // 409: this batch was accepted before (a retry after a cut connection)
        if (status === 200 || status === 409) return;
        retried++;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const stream = (async () => {
      const inFlight = new Set<Promise<void>>();
      for (let b = 0; b < batches; b++) {
        const p = send(b).then(() => void (acked += perBatch + 1));
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        if (inFlight.size >= 4) await Promise.race(inFlight);
        await new Promise((r) => setTimeout(r, 100));
      }
      await Promise.all(inFlight);
    })();

    // correlate is stopped while the stream flows through it
    await until("correlate busy", () => acked >= 15 * (perBatch + 1), 60_000);
    expect(await correlate.stop("SIGTERM")).toBe(0);
    expect(correlate.stderr()).toContain("shutting down: finishing in-flight batches");
    correlate = await start("correlate");

    // then ingest, with requests in flight
    await until("more of the stream", () => acked >= 35 * (perBatch + 1), 120_000);
    expect(await ingest.stop("SIGTERM")).toBe(0);
    ingest = await start("ingest");

    await stream;
    expect(acked).toBe(batches * (perBatch + 1));
    const count = async (what: string, query?: object) => {
      await fetch(`${iso.esUrl}/${iso.indexPrefix}${what}/_refresh`, { method: "POST" });
      const r = await fetch(`${iso.esUrl}/${iso.indexPrefix}${what}/_count`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(query ? { query } : {}) });
      return r.ok ? ((await r.json()) as { count: number }).count : -1;
    };
    // every acknowledged event, once (ids come from the origins: a retried batch is the same events)
    await until("every event stored", async () => (await count("events-*")) >= acked, 180_000);
    // every canary, one alert each
    await until("every canary's alert", async () => (await count("alerts", { prefix: { "entities.hosts": `canary-${run}-` } })) >= batches, 180_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await count("events-*")).toBe(acked);
    expect(await count("alerts", { prefix: { "entities.hosts": `canary-${run}-` } })).toBe(batches);
    // no alert counted a canary twice
    expect(await count("alerts", { bool: { filter: [{ prefix: { "entities.hosts": `canary-${run}-` } }, { range: { signal_count: { gt: 1 } } }] } })).toBe(0);
    expect(await count("alerts", { bool: { filter: [{ prefix: { "entities.hosts": `canary-${run}-` } }, { range: { duplicate_count: { gt: 0 } } }] } })).toBe(0);
    // the restarted roles stop cleanly too
    expect(await correlate.stop()).toBe(0);
    expect(await ingest.stop()).toBe(0);
    process.stderr.write(`shutdown test: ${acked} events, ${retried} requests retried across the ingest restart\n`);
  });
});
