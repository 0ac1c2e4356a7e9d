// The real agent process against a real HTTPS ingest endpoint (TLS 1.3, mTLS): crash safety,
// offline buffering (encrypted on disk), refusal of a wrong certificate or a revoked token, and the
// buffer-full policies. Every test checks that every line arrives exactly once by id.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createDevCerts, type DevCertFiles } from "../../platform/security/certs.ts";
import { TestIngestServer } from "./support/ingest-server.ts";
import { AgentProcess, agentSetup, lineText, readStatusFile, until } from "./support/agent-process.ts";

const TOKEN = "sgl_0123456789ab_test-token-secret-value-1";
let certs: DevCertFiles;
let otherCa: DevCertFiles;
const running: AgentProcess[] = [];
const servers: TestIngestServer[] = [];

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-agent-certs-"));
  certs = await createDevCerts(path.join(dir, "a"), { clientName: "agent-web-1" });
  otherCa = await createDevCerts(path.join(dir, "b"));
});

afterAll(async () => {
  for (const a of running) await a.stop();
  for (const s of servers) await s.stop();
});

async function server(opts: { requireClientCert?: boolean; start?: boolean } = {}): Promise<TestIngestServer> {
  const s = new TestIngestServer({ cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert, requireClientCert: opts.requireClientCert ?? true, tokens: [TOKEN] });
  servers.push(s);
  if (opts.start !== false) await s.start();
  return s;
}

function agent(config: string): AgentProcess {
  const a = new AgentProcess(config);
  running.push(a);
  return a;
}

const tls = () => ({ ca_file: certs.caCert, cert_file: certs.clientCert, key_file: certs.clientKey });

/** Appends lines [from, to) to a file, in chunks, yielding between chunks. */
async function writeLines(file: string, from: number, to: number, chunk = 2000): Promise<void> {
  for (let i = from; i < to; i += chunk) {
    let s = "";
    for (let j = i; j < Math.min(to, i + chunk); j++) s += lineText(j) + "\n";
    fs.appendFileSync(file, s);
    await new Promise((r) => setImmediate(r));
  }
}

function expectExactlyOnce(s: TestIngestServer, n: number): void {
  const msgs = s.messages();
  const uniq = new Set(msgs);
  // No line under two ids (that would be a duplicate in the store) and none missing.
  expect(msgs.length).toBe(uniq.size);
  expect(uniq.size).toBe(n);
  for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 500))) expect(uniq.has(lineText(i))).toBe(true);
  expect(uniq.has(lineText(n - 1))).toBe(true);
}

describe("agent delivery", () => {
  it("kill -9 in the middle of a stream, restart: every line arrives exactly once by id (mTLS)", async () => {
    const s = await server();
    const setup = agentSetup(s.url, TOKEN, () => ({ output: { url: s.url, tls: tls() } }));
    const file = path.join(setup.logs, "app.log");
    const N = 40_000;
    let a = agent(setup.config);
    const writing = writeLines(file, 0, N, 500);
    await until(() => s.byOrigin.size > 5000, 30_000, "first lines to arrive");
    await a.kill9();
    const atKill = s.byOrigin.size;
    await writing;
    expect(atKill).toBeLessThan(N);
    a = agent(setup.config);
    await until(() => s.byOrigin.size >= N, 45_000, `all ${N} lines (have ${s.byOrigin.size})`);
    await new Promise((r) => setTimeout(r, 300));
    expectExactlyOnce(s, N);
    // The client certificate was presented (mTLS) and redelivery, if any, kept the same ids.
    expect(s.clientNames[0]).toBe("agent-web-1");
    expect(s.received).toBeGreaterThanOrEqual(N);
    expect(await a.stop()).toBe(0);
  });

  it("ingest down for a while: lines are buffered encrypted on disk and all arrive when it returns", async () => {
    const s = await server({ start: false });
    await s.start();
    const port = s.port;
    await s.stop();
    const setup = agentSetup(s.url, TOKEN, () => ({ output: { url: `https://127.0.0.1:${port}/v1/ingest`, tls: tls() } }));
    const file = path.join(setup.logs, "app.log");
    const a = agent(setup.config);
    const N = 20_000;
    await writeLines(file, 0, N);
    await until(() => (readStatusFile(setup.statusFile)?.buffer?.lines ?? 0) >= N, 30_000, "lines buffered");
    const st = readStatusFile(setup.statusFile)!;
    expect(st.link).toBe("down");
    expect(st.last_error.code).toBe("agent_ingest_unreachable");
    expect(st.files[0]).toMatchObject({ lag_bytes: 0 }); // safe on disk, so the checkpoint moved
    // The bytes on disk are ciphertext: no line text, no JSON keys.
    const segs = fs.readdirSync(setup.queueDir).filter((n) => n.endsWith(".q"));
    expect(segs.length).toBeGreaterThan(0);
    for (const f of segs) {
      const raw = fs.readFileSync(path.join(setup.queueDir, f));
      expect(raw.includes(Buffer.from("lorem ipsum"))).toBe(false);
      expect(raw.includes(Buffer.from('"message"'))).toBe(false);
    }
    await s.start();
    await until(() => s.byOrigin.size >= N, 30_000, `all ${N} lines after ingest returned (have ${s.byOrigin.size})`);
    await until(() => readStatusFile(setup.statusFile)?.buffer?.batches === 0, 10_000, "buffer empty");
    expectExactlyOnce(s, N);
    const msgs = a.messages();
    for (const m of ["link to ingest is down", "buffering batches to disk until ingest takes them again", "circuit breaker open; pausing sends to ingest", "circuit breaker half-open; sending one probe batch", "circuit breaker closed", "link to ingest is up", "draining the buffer to ingest", "buffer drained; sending directly again"])
      expect(msgs).toContain(m);
    expect(msgs.indexOf("link to ingest is up")).toBeGreaterThan(msgs.indexOf("link to ingest is down"));
    // Still delivering directly afterwards.
    await writeLines(file, N, N + 100);
    await until(() => s.byOrigin.size >= N + 100, 10_000, "lines after the drain");
    expect(await a.stop()).toBe(0);
  });

  it("the buffer survives kill -9: batches buffered before the crash arrive after restart", async () => {
    const s = await server();
    const port = s.port;
    await s.stop();
    const setup = agentSetup(s.url, TOKEN, () => ({ output: { url: `https://127.0.0.1:${port}/v1/ingest`, tls: tls() } }));
    const file = path.join(setup.logs, "app.log");
    let a = agent(setup.config);
    const N = 10_000;
    await writeLines(file, 0, N);
    await until(() => (readStatusFile(setup.statusFile)?.buffer?.lines ?? 0) >= N, 30_000, "lines buffered");
    await a.kill9();
    await s.start();
    a = agent(setup.config);
    await until(() => s.byOrigin.size >= N, 30_000, `all lines after the restart (have ${s.byOrigin.size})`);
    expectExactlyOnce(s, N);
    expect(a.messages()).toContain("buffer holds batches from an earlier run; they will be sent first");
    expect(await a.stop()).toBe(0);
  });

  it("wrong server certificate: refuses with a clear error and keeps buffering", async () => {
    const s = await server();
    const setup = agentSetup(s.url, TOKEN, () => ({ output: { url: s.url, tls: { ...tls(), ca_file: otherCa.caCert } } }));
    const a = agent(setup.config);
    await writeLines(path.join(setup.logs, "app.log"), 0, 3000);
    await until(() => (readStatusFile(setup.statusFile)?.buffer?.lines ?? 0) >= 3000, 20_000, "lines buffered");
    const st = readStatusFile(setup.statusFile)!;
    expect(st.last_error.code).toBe("agent_tls_verify_failed");
    expect(st.link).toBe("down");
    expect(s.batches).toBe(0);
    const down = a.logs.find((l) => l.msg === "link to ingest is down");
    expect(down?.code).toBe("agent_tls_verify_failed");
    expect(await a.stop()).toBe(0);
  });

  it("revoked token: refuses with a clear error, keeps buffering, and resumes with a rotated token", async () => {
    const s = await server();
    const setup = agentSetup(s.url, TOKEN, () => ({ output: { url: s.url, tls: tls() } }));
    const file = path.join(setup.logs, "app.log");
    const a = agent(setup.config);
    await writeLines(file, 0, 1000);
    await until(() => s.byOrigin.size >= 1000, 20_000, "first lines");
    s.tokens.delete(TOKEN); // revoked
    await writeLines(file, 1000, 3000);
    await until(() => (readStatusFile(setup.statusFile)?.buffer?.lines ?? 0) >= 2000, 20_000, "lines buffered after revocation");
    const st = readStatusFile(setup.statusFile)!;
    expect(st.last_error.code).toBe("agent_token_rejected");
    expect(st.last_error.message).toContain("401");
    // The operator issues a new token and writes it to the token file: the agent picks it up.
    const fresh = "sgl_ba9876543210_rotated-token-secret-value";
    s.tokens.add(fresh);
    fs.writeFileSync(setup.tokenFile, fresh + "\n");
    await until(() => s.byOrigin.size >= 3000, 20_000, "buffered lines after the token rotation");
    expectExactlyOnce(s, 3000);
    expect(await a.stop()).toBe(0);
  });

  it("buffer full, policy block: reading pauses, nothing is lost, everything arrives later", async () => {
    const s = await server();
    const port = s.port;
    await s.stop();
    const setup = agentSetup(s.url, TOKEN, () => ({
      output: { url: `https://127.0.0.1:${port}/v1/ingest`, tls: tls(), batch: { max_lines: 100, max_bytes: 8192 } },
      buffer: { max_bytes: 65536, when_full: "block" },
    }));
    const file = path.join(setup.logs, "app.log");
    const a = agent(setup.config);
    const N = 12_000; // ~1 MB of lines; the buffer holds 64 KiB of compressed batches
    await writeLines(file, 0, N);
    await until(() => readStatusFile(setup.statusFile)?.buffer?.full === true, 20_000, "buffer full");
    const st = readStatusFile(setup.statusFile)!;
    expect(st.buffer.bytes).toBeLessThanOrEqual(65536);
    expect(st.buffer.dropped_lines).toBe(0);
    expect(st.files[0].lag_bytes).toBeGreaterThan(0); // the rest waits in the file
    await s.start();
    await until(() => s.byOrigin.size >= N, 40_000, `all lines (have ${s.byOrigin.size})`);
    expectExactlyOnce(s, N);
    expect(await a.stop()).toBe(0);
  });

  it("buffer full, policy drop_oldest: stays in bounds, drops the oldest and counts every dropped line", async () => {
    const s = await server();
    const port = s.port;
    await s.stop();
    const setup = agentSetup(s.url, TOKEN, () => ({
      output: { url: `https://127.0.0.1:${port}/v1/ingest`, tls: tls(), batch: { max_lines: 100, max_bytes: 8192 } },
      buffer: { max_bytes: 65536, when_full: "drop_oldest" },
    }));
    const file = path.join(setup.logs, "app.log");
    const a = agent(setup.config);
    const N = 20_000;
    await writeLines(file, 0, N);
    // Everything gets read (nothing blocks); the buffer keeps only the newest batches.
    await until(() => readStatusFile(setup.statusFile)?.files?.[0]?.lag_bytes === 0 && readStatusFile(setup.statusFile)?.buffer?.dropped_lines > 0, 30_000, "all read, some dropped");
    const st = readStatusFile(setup.statusFile)!;
    expect(st.buffer.bytes).toBeLessThanOrEqual(65536);
    await s.start();
    await until(() => readStatusFile(setup.statusFile)?.buffer?.batches === 0 && readStatusFile(setup.statusFile)?.link === "up", 30_000, "buffer drained");
    const end = readStatusFile(setup.statusFile)!;
    const got = s.messages();
    expect(new Set(got).size).toBe(got.length);
    // Every line is either delivered or counted as dropped.
    expect(got.length + end.buffer.dropped_lines).toBe(N);
    expect(got).toContain(lineText(N - 1));
    expect(a.logs.some((l) => l.msg === "buffer is full; dropped its oldest batches (policy drop_oldest)")).toBe(true);
    expect(await a.stop()).toBe(0);
  });
});
