// `sigil services up|status|down` as users run it: against the shared services the global setup
// started (status, idempotent up), a taken port, and a full lifecycle of a second pair in its own folder.
import { afterAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { freePort } from "../support/role-process.ts";
import { readVersions, resolveSettings } from "../../deploy/services/settings.ts";
import { pidAlive } from "../../deploy/services/proc.ts";
import { autogroupOf, autogroupsEnabled } from "../../platform/sched.ts";

interface Report {
  name: string;
  healthy: boolean;
  version: string | null;
  address: string;
  pid: number | null;
  action: string;
  managed: boolean;
}

function sigil(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin", "sigil.js"), ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const json = (s: string) => JSON.parse(s.trim().split("\n").pop()!) as { healthy?: boolean; services: Report[] };

const versions = readVersions();
const external = process.env.SIGIL_TEST_SERVICES === "external";

describe.skipIf(external)("sigil services (shared services from the global setup)", () => {
  it("status reports Kafka and Elasticsearch healthy with their versions", async () => {
    const r = await sigil(["services", "status", "--json"]);
    expect(r.code).toBe(0);
    const out = json(r.stdout);
    expect(out.healthy).toBe(true);
    const kafka = out.services.find((s) => s.name === "kafka")!;
    const es = out.services.find((s) => s.name === "elasticsearch")!;
    expect(kafka.healthy).toBe(true);
    expect(kafka.version).toBe(versions.kafka);
    expect(kafka.version).toMatch(/^4\.1\./);
    expect(kafka.address).toBe(process.env.SIGIL_TEST_KAFKA_BROKERS);
    expect(es.healthy).toBe(true);
    expect(es.version).toBe(versions.elasticsearch);
    expect(es.version).toMatch(/^8\.19\./);
    expect(es.address).toBe(process.env.SIGIL_TEST_ES_URL);
    const human = await sigil(["services", "status"]);
    expect(human.stdout).toMatch(new RegExp(`kafka\\s+healthy\\s+${versions.kafka.replace(/\./g, "\\.")}`));
    expect(human.stdout).toMatch(new RegExp(`elasticsearch\\s+healthy\\s+${versions.elasticsearch.replace(/\./g, "\\.")}`));
  });

  it("up is idempotent: a second up reuses the running services", async () => {
    const before = json((await sigil(["services", "status", "--json"])).stdout).services;
    const r = await sigil(["services", "up", "--json"]);
    expect(r.code).toBe(0);
    const after = json(r.stdout).services;
    for (const s of after) {
      expect(s.action).toBe("reused");
      expect(s.pid).toBe(before.find((b) => b.name === s.name)!.pid);
    }
  });
});

describe("sigil services in a folder of its own", () => {
  const dir = path.join(PROJECT_ROOT, ".sigil", `test-services-${randomBytes(3).toString("hex")}`);
  afterAll(async () => {
    await sigil(["services", "down", "--dir", dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("names the port and the process holding it when a port is taken", async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const r = await sigil(["services", "up", "--only", "kafka", "--dir", dir, "--kafka-port", String(port), "--controller-port", String(await freePort()), "--kafka-tls-port", String(await freePort())]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("services_port_in_use");
      expect(r.stderr).toContain(`port ${port} (Kafka broker)`);
      expect(r.stderr).toContain(`pid ${process.pid}`);
      expect(r.stderr).toContain("--kafka-port");
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      srv.close();
    }
  });

  it("up starts both, status finds them by the recorded ports, down stops them and frees the ports", async () => {
    // Reuse the engines the shared folder already fetched (hard links), so this tests starting, not downloading.
    const shared = path.join(PROJECT_ROOT, ".sigil", "services");
    fs.mkdirSync(dir, { recursive: true });
    for (const d of [`kafka-${versions.kafka}`, `elasticsearch-${versions.elasticsearch}`]) {
      if (fs.existsSync(path.join(shared, d))) execFileSync("cp", ["-al", path.join(shared, d), dir]);
    }
    const ports = { kafka: await freePort(), controller: await freePort(), tls: await freePort(), es: await freePort(), transport: await freePort() };
    const up = await sigil([
      "services", "up", "--json", "--dir", dir,
      "--kafka-port", String(ports.kafka), "--controller-port", String(ports.controller), "--kafka-tls-port", String(ports.tls),
      "--es-port", String(ports.es), "--es-transport-port", String(ports.transport),
    ], { SIGIL_SERVICES_ES_NICE: "7" });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/starting Kafka/);
    const started = json(up.stdout).services;
    expect(started.map((s) => s.action)).toEqual(["started", "started"]);
    expect(started.find((s) => s.name === "kafka")!.address).toBe(`127.0.0.1:${ports.kafka}`);
    expect(started.find((s) => s.name === "elasticsearch")!.address).toBe(`http://127.0.0.1:${ports.es}`);
    // Elasticsearch and every thread of its JVM run at SIGIL_SERVICES_ES_NICE (decision 0022); Kafka at normal priority
    const niceOf = (pid: number, tid = pid) => Number(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1].split(" ")[16]);
    const esPid = started.find((s) => s.name === "elasticsearch")!.pid!;
    const esThreads = fs.readdirSync(`/proc/${esPid}/task`).map(Number);
    expect(esThreads.length).toBeGreaterThan(10);
    expect(new Set(esThreads.map((t) => niceOf(esPid, t)))).toEqual(new Set([7]));
    expect(niceOf(started.find((s) => s.name === "kafka")!.pid!)).toBe(0);
    // each service leads a session of its own: where the kernel groups sessions (autogroups), the
    // group's nice value is what ranks Elasticsearch against the pipeline, so it is set too
    if (autogroupsEnabled()) {
      expect(autogroupOf(esPid)?.nice).toBe(7);
      expect(autogroupOf(started.find((s) => s.name === "kafka")!.pid!)?.nice).toBe(0);
      expect(autogroupOf("self")?.nice ?? 0).toBe(0); // null: this test runs in the root group
    }

    const status = await sigil(["services", "status", "--json", "--dir", dir]); // no ports: from state.json
    expect(status.code, status.stdout + status.stderr).toBe(0);
    const st = json(status.stdout);
    expect(st.services.every((s) => s.healthy && s.managed)).toBe(true);
    expect(st.services.map((s) => s.version)).toEqual([versions.kafka, versions.elasticsearch]);

    const down = await sigil(["services", "down", "--json", "--dir", dir]);
    expect(down.code, down.stderr).toBe(0);
    const stopped = json(down.stdout).services;
    expect(stopped.map((s) => s.action)).toEqual(["stopped", "stopped"]);
    for (const s of started) expect(pidAlive(s.pid!)).toBe(false);

    const after = await sigil(["services", "status", "--dir", dir]);
    expect(after.code).toBe(1);
    expect(after.stdout).toContain(`unreachable at 127.0.0.1:${ports.kafka}`);
    expect(after.stdout).toContain(`unreachable at http://127.0.0.1:${ports.es}`);
    const again = await sigil(["services", "down", "--dir", dir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/kafka\s+down/);
  });
});

describe("services settings", () => {
  it("Elasticsearch's nice value: 10 by default, from SIGIL_SERVICES_ES_NICE, a clear error for anything but 0-19", () => {
    const at = (env: Record<string, string>) => resolveSettings({ env, cwd: PROJECT_ROOT, intent: "inspect", dir: path.join(PROJECT_ROOT, ".sigil", "no-such-services") });
    expect(at({}).esNice).toBe(10);
    expect(at({ SIGIL_SERVICES_ES_NICE: "" }).esNice).toBe(10);
    expect(at({ SIGIL_SERVICES_ES_NICE: "10" }).esNice).toBe(10);
    expect(at({ SIGIL_SERVICES_ES_NICE: "0" }).esNice).toBe(0);
    expect(at({ SIGIL_SERVICES_ES_NICE: "19" }).esNice).toBe(19);
    for (const bad of ["20", "-1", "high", "5.5"]) expect(() => at({ SIGIL_SERVICES_ES_NICE: bad }), bad).toThrow(/SIGIL_SERVICES_ES_NICE: ".*" is not a nice value/);
  });
});
