// The agent's command line: stdin input (ends with its input), `sigil agent status`, the metrics
// listener (with its token), config errors with file and line, and a second agent on the same data.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createDevCerts, type DevCertFiles } from "../../platform/security/certs.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { TestIngestServer } from "./support/ingest-server.ts";
import { AgentProcess, agentSetup, lineText, readStatusFile, until } from "./support/agent-process.ts";

const BIN = path.join(PROJECT_ROOT, "bin", "sigil.js");
const TOKEN = "sgl_0123456789ab_test-token-secret-value-1";
let certs: DevCertFiles;
let server: TestIngestServer;
const running: AgentProcess[] = [];

beforeAll(async () => {
  certs = await createDevCerts(fs.mkdtempSync(path.join(os.tmpdir(), "sigil-agent-certs-")));
  server = new TestIngestServer({ cert: certs.serverCert, key: certs.serverKey, tokens: [TOKEN] });
  await server.start();
});
afterAll(async () => {
  for (const a of running) await a.stop();
  await server.stop();
});

const sigil = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, ...env } });

describe("sigil agent command line", () => {
  it("ships standard input and exits 0 once every line is delivered", async () => {
    const setup = agentSetup(server.url, TOKEN, () => ({ inputs: [{ type: "stdin", service: "cron" }], output: { tls: { ca_file: certs.caCert } } }));
    const before = server.byOrigin.size;
    const child = spawn(process.execPath, [BIN, "agent", "--config", setup.config], { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const N = 5000;
    for (let i = 0; i < N; i += 500) child.stdin.write(Array.from({ length: 500 }, (_, j) => lineText(i + j, "stdin")).join("\n") + "\n");
    child.stdin.end("last line without newline");
    const code = await new Promise((r) => child.once("exit", r));
    expect(code, err).toBe(0);
    // Batches may arrive in any order (two in flight): order by offset.
    const got = [...server.byOrigin.values()].slice(before).sort((x, y) => x.offset - y.offset);
    expect(got).toHaveLength(N + 1);
    expect(got[0].origin).toMatch(/^stdin-[0-9a-f]{24}:0$/);
    expect(got.map((r) => r.message)).toEqual([...Array.from({ length: N }, (_, i) => lineText(i, "stdin")), "last line without newline"]);
    expect(got[0].path).toBeUndefined();
  });

  it("`agent status` shows files, offsets, lag, buffer and link; metrics need the token", async () => {
    const tokenFile = path.join(os.tmpdir(), `metrics-token-${process.pid}`);
    fs.writeFileSync(tokenFile, "metrics-secret-123\n");
    const setup = agentSetup(server.url, TOKEN, () => ({ output: { tls: { ca_file: certs.caCert } }, metrics: { token: { file: tokenFile } } }));
    fs.writeFileSync(path.join(setup.logs, "a.log"), Array.from({ length: 100 }, (_, i) => lineText(i, "st")).join("\n") + "\n");
    const a = new AgentProcess(setup.config);
    running.push(a);
    await until(() => readStatusFile(setup.statusFile)?.files?.[0]?.offset === fs.statSync(path.join(setup.logs, "a.log")).size, 20_000, "file shipped");

    const human = sigil(["agent", "status", "--config", setup.config]);
    expect(human.status, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/: running/);
    expect(human.stdout).toContain("link up, breaker closed");
    expect(human.stdout).toContain("buffer: 0 batches, 0 lines");
    expect(human.stdout).toMatch(/reading\s+\d+\s+\d+\s+0 B\s+\S+a\.log/);
    const json = JSON.parse(sigil(["agent", "status", "--config", setup.config, "--json"]).stdout);
    expect(json).toMatchObject({ live: true, link: "up", breaker: "closed", files: [{ state: "reading", lag_bytes: 0 }] });
    expect(json.shipped_lines).toBeGreaterThanOrEqual(100);

    const addr = json.metrics_address as string;
    expect((await fetch(`${addr}/metrics`)).status).toBe(401);
    const res = await fetch(`${addr}/metrics`, { headers: { authorization: "Bearer metrics-secret-123" } });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(/sigil_agent_shipped_lines_total \d+/);
    expect(text).toContain("sigil_agent_link_up 1");
    expect(text).toMatch(/sigil_agent_read_lines_total\{input="0"\} 100/);

    // A second agent on the same data folder is refused.
    const second = sigil(["agent", "--config", setup.config]);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain("agent_already_running");

    expect(await a.stop()).toBe(0);
    const after = sigil(["agent", "status", "--config", setup.config]);
    expect(after.status).toBe(1);
    expect(after.stdout).toMatch(/: stopped/);
  });

  it("reports config errors with file and line, and --check validates without running", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-agent-cfg-"));
    const f = path.join(dir, "agent.yml");
    fs.writeFileSync(f, "inputs:\n  - type: file\n    paths: [/x]\n    multilin: {}\noutput:\n  token: { env: T }\nbuffer: { enabled: false }\n");
    const r = sigil(["agent", "--config", f]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${f}:4:5`);
    expect(r.stderr).toContain("config_unknown_key");
    expect(r.stderr).toContain('did you mean "inputs.0.multiline"');
    fs.writeFileSync(f, "inputs:\n  - type: file\n    paths: [/x]\noutput:\n  token: { env: T }\nbuffer: { enabled: false }\n");
    const ok = sigil(["agent", "--config", f, "--check"]);
    expect(ok.status, ok.stderr).toBe(0);
    const missing = sigil(["agent", "status", "--file", path.join(dir, "nope.json")]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("agent_status_missing");
  });
});
