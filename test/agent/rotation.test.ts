// Rotation and truncation while a separate process writes at full speed: the real agent must read
// every line exactly once (by id) across rename+create, copy-truncate and truncation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createDevCerts, type DevCertFiles } from "../../platform/security/certs.ts";
import { TestIngestServer } from "./support/ingest-server.ts";
import { AgentProcess, agentSetup, lineText, until } from "./support/agent-process.ts";

// A rotated file must live under its watched name for at least one scan (100 ms here) to be seen:
// the writers run at 50,000 lines/s and rotate every 20,000 lines (every 0.4 s).
const RATE = 50_000;
import { PROJECT_ROOT } from "../support/shared-data.ts";

const TOKEN = "sgl_0123456789ab_test-token-secret-value-1";
let certs: DevCertFiles;
const running: AgentProcess[] = [];
const servers: TestIngestServer[] = [];

beforeAll(async () => {
  certs = await createDevCerts(fs.mkdtempSync(path.join(os.tmpdir(), "sigil-agent-certs-")));
});
afterAll(async () => {
  for (const a of running) await a.stop();
  for (const s of servers) await s.stop();
});

/** A separate process writing at `rate` lines/s (0: as fast as it can), rotating every `every` lines. */
function writer(file: string, from: number, to: number, mode: "rename" | "copytruncate" | "none", every: number, rate = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(PROJECT_ROOT, "test/agent/support/log-writer.mjs"), file, String(from), String(to), mode, String(every), String(rate)], { stdio: "inherit" });
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
  });
}

async function start(glob: string, srv: TestIngestServer) {
  const setup = agentSetup(srv.url, TOKEN, (s) => ({
    inputs: [{ type: "file", paths: [path.join(s.logs, glob)], start_at: "beginning" }],
    output: { url: srv.url, tls: { ca_file: certs.caCert } },
  }));
  const a = new AgentProcess(setup.config);
  running.push(a);
  await until(() => a.messages().includes("agent started"), 20_000, "the agent to start");
  return { setup, a };
}

/** Waits for n records; on timeout shows what the agent reported. */
async function waitFor(srv: TestIngestServer, a: AgentProcess, statusFile: string, n: number, ms = 40_000): Promise<void> {
  try {
    await until(() => srv.byOrigin.size >= n, ms, `${n} lines (have ${srv.byOrigin.size})`);
  } catch (err) {
    console.error(fs.readFileSync(statusFile, "utf8"), a.logs.slice(-30).map((l) => JSON.stringify(l)).join("\n"));
    throw err;
  }
}

function expectRange(s: TestIngestServer, from: number, to: number): void {
  const msgs = s.messages();
  expect(msgs.length).toBe(new Set(msgs).size); // no line under two ids
  const want = new Set<string>();
  for (let i = from; i < to; i++) want.add(lineText(i));
  const got = new Set(msgs);
  const missing = [...want].filter((m) => !got.has(m)).length;
  expect(missing).toBe(0);
  expect(msgs.length).toBe(to - from);
}

describe("rotation and truncation at full speed", () => {
  it("rename + create (the rotated name is not watched; the old file is read to its end)", async () => {
    const server = new TestIngestServer({ cert: certs.serverCert, key: certs.serverKey, tokens: [TOKEN] });
    servers.push(server);
    await server.start();
    const { setup, a } = await start("app.log", server);
    const N = 100_000;
    await writer(path.join(setup.logs, "app.log"), 0, N, "rename", 20_000, RATE);
    await waitFor(server, a, setup.statusFile, N);
    await new Promise((r) => setTimeout(r, 500));
    expectRange(server, 0, N);
    expect(await a.stop()).toBe(0);
  });

  it("copy-truncate (the copies match the glob too and must not be read again)", async () => {
    const server = new TestIngestServer({ cert: certs.serverCert, key: certs.serverKey, tokens: [TOKEN] });
    servers.push(server);
    await server.start();
    const { setup, a } = await start("app.log*", server);
    const N = 100_000;
    await writer(path.join(setup.logs, "app.log"), 0, N, "copytruncate", 20_000, RATE);
    await waitFor(server, a, setup.statusFile, N);
    await new Promise((r) => setTimeout(r, 1500)); // longer than the copy-suspicion window
    expectRange(server, 0, N);
    expect(a.messages()).toContain("file was truncated (copy-truncate); reading the rest from its rotated copy");
    expect(await a.stop()).toBe(0);
  });

  it("truncation in place, refilled past the old offset at full speed", async () => {
    const server = new TestIngestServer({ cert: certs.serverCert, key: certs.serverKey, tokens: [TOKEN] });
    servers.push(server);
    await server.start();
    const { setup, a } = await start("app.log", server);
    const f = path.join(setup.logs, "app.log");
    let n = 0;
    for (const size of [10_000, 20_000, 40_000]) {
      await writer(f, n, n + size, "none", 0);
      n += size;
      await waitFor(server, a, setup.statusFile, n);
      fs.truncateSync(f, 0);
    }
    await new Promise((r) => setTimeout(r, 300));
    expectRange(server, 0, n);
    expect(await a.stop()).toBe(0);
  });
});
