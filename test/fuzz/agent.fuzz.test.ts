// Fuzz: the agent's own listener (metrics, status, health; token-guarded), in a real `sigil agent`
// process: random methods, paths, tokens and raw bytes get a 2xx or a JSON 4xx (503 only from /readyz),
// never a crash, /metrics and /status never without the token, and the agent keeps shipping. The
// budget is SIGIL_FUZZ_RUNS.

import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDevCerts } from "../../platform/security/certs.ts";
import { TestIngestServer } from "../agent/support/ingest-server.ts";
import { AgentProcess, agentSetup, lineText, readStatusFile, until } from "../agent/support/agent-process.ts";
import { anyString, fuzzParams, fuzzTimeout, uriPart } from "./support/budget.ts";

const TOKEN = "sgl_0123456789ab_fuzz-agent-token-secret-1";
const METRICS_TOKEN = "agent-metrics-secret-42";
let server: TestIngestServer;
let agent: AgentProcess;
let addr = "";
let logs = "";
let statusFile = "";

beforeAll(async () => {
  const certs = await createDevCerts(fs.mkdtempSync(path.join(os.tmpdir(), "sigil-fuzz-agent-certs-")));
  server = new TestIngestServer({ cert: certs.serverCert, key: certs.serverKey, tokens: [TOKEN] });
  await server.start();
  const tokenFile = path.join(os.tmpdir(), `fuzz-agent-metrics-${process.pid}`);
  fs.writeFileSync(tokenFile, METRICS_TOKEN + "\n");
  const setup = agentSetup(server.url, TOKEN, () => ({ output: { tls: { ca_file: certs.caCert } }, metrics: { token: { file: tokenFile } } }));
  logs = setup.logs;
  statusFile = setup.statusFile;
  fs.writeFileSync(path.join(logs, "a.log"), lineText(0, "fz") + "\n");
  agent = new AgentProcess(setup.config);
  await until(() => typeof readStatusFile(statusFile)?.metrics_address === "string", 30_000, "the agent's metrics address");
  addr = readStatusFile(statusFile)!.metrics_address as string;
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await server?.stop();
});

describe("fuzz: the agent's metrics and status listener", () => {
  it(
    "answers random requests with 2xx or a JSON 4xx, never serving metrics or status without the token",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS"),
          fc.oneof(fc.constantFrom("/metrics", "/status", "/healthz", "/readyz", "/metrics?x", "/../status", "//metrics", "/"), anyString(60).map((s) => "/" + uriPart(s))),
          fc.oneof(fc.constant(undefined), fc.constantFrom(`Bearer ${METRICS_TOKEN}`, `Bearer ${METRICS_TOKEN} `, "Bearer", `Bearer ${"x".repeat(3000)}`), fc.string({ maxLength: 40 })),
          async (method, p, auth) => {
            const headers: Record<string, string> = {};
            if (auth !== undefined && /^[\t\x20-\x7e]*$/.test(auth)) headers.authorization = auth;
            const res = await fetch(addr + p, { method, headers, signal: AbortSignal.timeout(10_000) });
            const text = await res.text();
            const what = `${method} ${p} → ${res.status} ${text.slice(0, 200)}`;
            expect(res.status, what).toBeLessThan(500);
            if (res.status >= 400) expect((JSON.parse(text) as { error: { code: string } }).error.code, what).toMatch(/^[a-z_]+$/);
            // HTTP drops a header value's surrounding spaces and tabs (RFC 9110 5.5): "Bearer <token> " is the token
            if (res.status === 200) expect(headers.authorization?.replace(/^[\t ]+|[\t ]+$/g, ""), what).toBe(`Bearer ${METRICS_TOKEN}`);
          },
        ),
        fuzzParams(),
      );
    },
    fuzzTimeout(100),
  );

  it("survives raw random bytes on its socket and keeps shipping", async () => {
    const port = Number(new URL(addr).port);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)), async (bytes) => {
        const got = await new Promise<string>((resolve) => {
          let out = "";
          const s = net.connect(port, "127.0.0.1", () => s.end(bytes));
          s.on("data", (d) => (out += d.toString("latin1")));
          s.on("close", () => resolve(out));
          s.on("error", () => resolve(out));
          s.setTimeout(3_000, () => s.destroy());
        });
        expect(got).not.toMatch(/^HTTP\/1\.1 5/);
      }),
      fuzzParams(0.5),
    );
    const before = server.byOrigin.size;
    fs.appendFileSync(path.join(logs, "a.log"), lineText(1, "fz-after") + "\n");
    await until(() => server.byOrigin.size > before, 20_000, "the line written after the fuzzing to be shipped");
    expect(agent.child.exitCode).toBeNull();
  });
});
