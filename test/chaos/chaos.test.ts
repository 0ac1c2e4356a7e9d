// Chaos: the distributed pipeline as real processes (`sigil agent` → `sigil ingest` over mTLS → Kafka →
// `sigil correlate` → Elasticsearch, `sigil console` beside it) under a steady load of sshd lines with
// password-guessing attacks mixed in. In turn: kill -9 and restart each role, stop Kafka for 30 s,
// stop Elasticsearch for 60 s, fill the agent's disk buffer. After each: every line sent is stored exactly
// once (by id: one document per sequence number), every attack has exactly one correlation hit and one
// alert, and the catch-up time (recovery until every line sent before it is stored) is reported.
// Results: one JSON line per scenario on stdout and test-results/chaos/results.json.
//
// The suite runs its own Kafka and Elasticsearch (test/chaos/support/services.ts) so stopping them never
// disturbs other test runs. SIGIL_CHAOS_LONG=1: longer outages, a heavier load, every scenario twice.

import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import kafkajs from "kafkajs";
import { createDevCerts, type DevCertFiles } from "../../platform/security/certs.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { chaosServices, type ChaosServices } from "./support/services.ts";
import { RoleProcess, freePort, httpsRequest, sigil, sleep, until } from "./support/processes.ts";
import { BRUTE_FORCE_RULE, LoadGenerator, type Attack } from "./support/load.ts";
import { EsReader, compareSeqs, sample } from "./support/verify.ts";

const LONG = process.env.SIGIL_CHAOS_LONG === "1";
const P = {
  linesPerSecond: LONG ? 400 : 40,
  attackEveryMs: LONG ? 2_000 : 3_000,
  roleDownMs: LONG ? 15_000 : 4_000,
  kafkaOutageMs: LONG ? 120_000 : 30_000,
  esOutageMs: LONG ? 180_000 : 60_000,
  rounds: LONG ? 2 : 1,
  catchUpTimeoutMs: LONG ? 600_000 : 240_000,
};

const run = `${new Date().toISOString().replace(/[:.]/g, "-")}-${randomBytes(3).toString("hex")}`;
const dir = path.join(PROJECT_ROOT, "test-results", "chaos", run);
const prefix = `chaos-${randomBytes(4).toString("hex")}-`;
const PASSWORD = "correct horse battery staple 7";

let services: ChaosServices;
let es: EsReader;
let certs: DevCertFiles;
let load: LoadGenerator;
let env: NodeJS.ProcessEnv;
const roles = {} as Record<"ingest" | "correlate" | "console" | "agent", RoleProcess>;
let agentStatusFile = "";
let consoleUrl = "";
const results: Record<string, unknown>[] = [];

const log = (line: string) => process.stderr.write(`chaos: ${line}\n`);

function writeConfigs(ingestPort: number, consolePort: number): { sigil: string; agent: string; tokenFile: string } {
  const tls = { enabled: true, cert_file: certs.serverCert, key_file: certs.serverKey, ca_file: certs.caCert };
  const sigilFile = path.join(dir, "sigil.yml");
  fs.writeFileSync(
    sigilFile,
    stringify({
      data_dir: path.join(dir, "data"),
      bus: { type: "kafka", topic_prefix: prefix, partitions: 2, kafka: { brokers: services.brokers, retry_max_ms: 5_000 } },
      store: { type: "elasticsearch", elasticsearch: { node: services.esUrl, index_prefix: prefix, max_backoff_ms: 5_000 } },
      telemetry: { metrics: { port: 0 }, ...(process.env.SIGIL_CHAOS_LOG_LEVEL ? { log_level: process.env.SIGIL_CHAOS_LOG_LEVEL } : {}) },
      security: { tokens: { refresh_ms: 1_000 } },
      ingest: {
        http: { port: ingestPort, tls: { ...tls, client_auth: "required" } },
        otlp: { enabled: false },
        syslog: { udp: { enabled: false }, tcp: { enabled: false } },
      },
      console: { port: consolePort, tls, live: { poll_interval_ms: 1_000 } },
    }),
  );
  const agentDir = path.join(dir, "agent");
  fs.mkdirSync(path.join(agentDir, "logs"), { recursive: true });
  const tokenFile = path.join(agentDir, "agent.token");
  const keyFile = path.join(agentDir, "buffer.key");
  fs.writeFileSync(keyFile, randomBytes(32).toString("hex") + "\n", { mode: 0o600 });
  agentStatusFile = path.join(agentDir, "data", "status.json");
  const agentFile = path.join(agentDir, "agent.yml");
  fs.writeFileSync(
    agentFile,
    stringify({
      data_dir: path.join(agentDir, "data"),
      inputs: [{ type: "file", paths: [path.join(agentDir, "logs", "*.log")], start_at: "beginning", format: "sshd-auth" }],
      output: {
        url: `https://127.0.0.1:${ingestPort}/v1/ingest`,
        token: { file: tokenFile },
        tls: { ca_file: certs.caCert, cert_file: certs.clientCert, key_file: certs.clientKey },
        batch: { max_lines: 500, max_bytes: 16 * 1024, flush_ms: 200 },
        retry: { initial_ms: 100, max_ms: 2_000 },
        breaker: { failure_threshold: 3, open_ms: 500, max_open_ms: 2_000 },
        timeout_ms: 10_000,
      },
      // small, so the buffer-full scenario fills it in seconds
      buffer: { max_bytes: 128 * 1024, key: { file: keyFile } },
      files: { scan_interval_ms: 200, poll_interval_ms: 50, checkpoint_interval_ms: 200 },
      status: { interval_ms: 200 },
      metrics: { port: 0 },
    }),
  );
  return { sigil: sigilFile, agent: agentFile, tokenFile };
}

function agentStatus(): { buffer: { full: boolean; bytes: number; lines: number }; link: string } | null {
  try {
    return JSON.parse(fs.readFileSync(agentStatusFile, "utf8"));
  } catch {
    return null;
  }
}

/** Stored events with sequence number ≤ upTo (a cheap count; duplicates would only raise it). */
async function storedUpTo(upTo: number): Promise<number> {
  await es.refresh();
  const res = await fetch(`${services.esUrl}/${prefix}events*/_count?ignore_unavailable=true&allow_no_indices=true`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: { range: { "process.pid": { lte: upTo } } } }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) return -1;
  return ((await res.json()) as { count: number }).count;
}

/** Waits until every line sent up to `cut` is stored; returns when that happened. */
async function waitCaughtUp(cut: number, what: string): Promise<number> {
  let last = 0;
  await until(
    async () => {
      last = await storedUpTo(cut).catch(() => -1);
      return last >= cut;
    },
    P.catchUpTimeoutMs,
    `${what}: the ${cut} lines sent before recovery to be stored (have ${last})`,
    500,
  );
  return Date.now();
}

interface Check {
  events: { sent: number; stored_docs: number; missing: number[]; duplicated: number[]; others: Record<string, number> };
  attacks: number;
  hits: { missing: number[]; duplicated: number[]; false: number[] };
  alerts: { missing: number[]; duplicated: number[] };
}

/** Every line up to `cut` exactly once; every attack inside `cut` has exactly one hit and one alert. */
async function check(cut: number, waitMs: number): Promise<Check> {
  const inside = (a: Attack) => a.seqs[a.seqs.length - 1] <= cut;
  const attacks = load.attacks.filter(inside);
  const decoys = load.decoys.filter((d) => d.seqs[d.seqs.length - 1] <= cut);
  let c: Check | null = null;
  const end = Date.now() + waitMs;
  for (;;) {
    await es.refresh();
    const ev = await es.eventSeqs();
    const cmp = compareSeqs(ev.bySeq, cut);
    const hits = await es.hitsByIp(BRUTE_FORCE_RULE);
    const alerts = await es.alertsByHost();
    c = {
      events: { sent: cut, stored_docs: ev.docs, missing: cmp.missing, duplicated: cmp.duplicated, others: ev.others },
      attacks: attacks.length,
      hits: {
        missing: attacks.filter((a) => !hits.has(a.ip)).map((a) => a.k),
        duplicated: attacks.filter((a) => (hits.get(a.ip)?.length ?? 0) > 1).map((a) => a.k),
        false: decoys.filter((d) => hits.has(d.ip)).map((d) => d.k),
      },
      alerts: { missing: attacks.filter((a) => !alerts.byHost.has(a.host)).map((a) => a.k), duplicated: attacks.filter((a) => (alerts.byHost.get(a.host)?.length ?? 0) > 1).map((a) => a.k) },
    };
    const complete = c.events.missing.length === 0 && c.hits.missing.length === 0 && c.alerts.missing.length === 0;
    if (complete || Date.now() > end) return c;
    await sleep(1_000);
  }
}

function expectExact(c: Check, scenario: string): void {
  expect(sample(c.events.missing), `${scenario}: lines sent but not stored`).toBe("0");
  expect(sample(c.events.duplicated), `${scenario}: lines stored more than once`).toBe("0");
  expect(sample(c.hits.missing), `${scenario}: attacks without their correlation hit`).toBe("0");
  expect(sample(c.hits.duplicated), `${scenario}: attacks with more than one correlation hit`).toBe("0");
  expect(sample(c.hits.false), `${scenario}: decoys (two failures) that became a brute-force hit`).toBe("0");
  expect(sample(c.alerts.missing), `${scenario}: attacks without an alert`).toBe("0");
  expect(sample(c.alerts.duplicated), `${scenario}: attacks with more than one alert`).toBe("0");
}

/**
 * Runs one scenario under the steady load: `fault` breaks something and repairs it, returning the moment
 * of recovery. Then waits for the catch-up and checks exactness up to the lines sent at recovery.
 */
async function scenario(name: string, fault: () => Promise<{ recoveredAt: number; outageMs: number; extra?: Record<string, unknown> }>): Promise<void> {
  log(`scenario ${name}: start (lines sent so far ${load.seq})`);
  const before = load.seq;
  const f = await fault();
  const cut = load.seq;
  const caughtUp = await waitCaughtUp(cut, name);
  const c = await check(cut, 180_000);
  const result = {
    scenario: name,
    outage_ms: f.outageMs,
    catch_up_ms: caughtUp - f.recoveredAt,
    lines_during: cut - before,
    lines_sent: cut,
    stored_docs: c.events.stored_docs,
    lost: c.events.missing.length,
    duplicated: c.events.duplicated.length,
    attacks: c.attacks,
    hits_lost: c.hits.missing.length,
    hits_duplicated: c.hits.duplicated.length,
    false_hits: c.hits.false.length,
    alerts_lost: c.alerts.missing.length,
    alerts_duplicated: c.alerts.duplicated.length,
    ...f.extra,
  };
  results.push(result);
  process.stdout.write(JSON.stringify({ chaos: result }) + "\n");
  expectExact(c, name);
}

async function killAndRestart(role: keyof typeof roles): Promise<{ recoveredAt: number; outageMs: number }> {
  await sleep(2_000);
  const t0 = Date.now();
  await roles[role].kill9();
  await sleep(P.roleDownMs);
  await roles[role].start();
  return { recoveredAt: Date.now(), outageMs: Date.now() - t0 };
}

async function signIn(): Promise<string> {
  const r = await httpsRequest(`${consoleUrl}/api/auth/login`, { method: "POST", ca: fs.readFileSync(certs.caCert), headers: { "content-type": "application/json", origin: consoleUrl }, body: JSON.stringify({ username: "chaos-admin", password: PASSWORD }) });
  expect(r.status, r.body).toBe(200);
  const cookie = String(r.headers["set-cookie"] ?? "").split(";")[0];
  expect(cookie).toMatch(/^__Host-sigil_session=/);
  return cookie;
}

async function deletePrefix(): Promise<void> {
  await fetch(`${services.esUrl}/${prefix}*?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true`, { method: "DELETE", signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
  const kafka = new kafkajs.Kafka({ clientId: "chaos-cleanup", brokers: services.brokers, logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics });
  } catch {
    // best effort
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

describe("chaos: nothing is lost, nothing is duplicated", () => {
  beforeAll(async () => {
    fs.mkdirSync(dir, { recursive: true });
    log(`run folder ${dir}`);
    services = await chaosServices(log);
    es = new EsReader(services.esUrl, prefix);
    certs = await createDevCerts(path.join(dir, "certs"), { clientName: "chaos-agent" });
    const [ingestPort, consolePort] = [await freePort(), await freePort()];
    const files = writeConfigs(ingestPort, consolePort);
    env = { SIGIL_CONFIG: files.sigil };
    const created = JSON.parse(sigil(["tokens", "create", "--name", "chaos-agent", "--json"], env)) as { token: string };
    fs.writeFileSync(files.tokenFile, created.token + "\n", { mode: 0o600 });
    sigil(["users", "add", "chaos-admin", "--role", "admin"], env, PASSWORD + "\n");
    const mk = (role: keyof typeof roles, args: string[]) => (roles[role] = new RoleProcess(role, args, path.join(dir, `${role}.log`), env));
    mk("correlate", []);
    mk("ingest", []);
    mk("console", []);
    mk("agent", ["--config", files.agent]);
    await Promise.all([roles.correlate.start(), roles.ingest.start(), roles.console.start()]);
    await roles.agent.start();
    consoleUrl = roles.console.url;
    load = new LoadGenerator(path.join(dir, "agent", "logs", "auth.log"), { linesPerSecond: P.linesPerSecond, attackEveryMs: P.attackEveryMs });
    load.start();
    log(`pipeline running: ingest ${roles.ingest.url}, console ${consoleUrl}`);
  }, 900_000);

  afterAll(async () => {
    load?.stop();
    for (const r of ["agent", "ingest", "console", "correlate"] as const) await roles[r]?.stop().catch(() => undefined);
    fs.writeFileSync(path.join(PROJECT_ROOT, "test-results", "chaos", "results.json"), JSON.stringify({ run, long: LONG, parameters: P, results }, null, 2) + "\n");
    if (services) {
      await deletePrefix();
      await services.shutdown();
    }
  }, 300_000);

  it("runs under steady load: every line stored once, every attack one hit and one alert", async () => {
    await sleep(8_000);
    await scenario("steady", async () => ({ recoveredAt: Date.now(), outageMs: 0 }));
  }, 600_000);

  for (let round = 1; round <= P.rounds; round++) {
    const tag = P.rounds > 1 ? ` (round ${round})` : "";

    it(`kill -9 sigil ingest and restart${tag}`, async () => {
      await scenario(`kill -9 ingest${tag}`, () => killAndRestart("ingest"));
    }, 900_000);

    it(`kill -9 sigil correlate and restart${tag}`, async () => {
      await scenario(`kill -9 correlate${tag}`, () => killAndRestart("correlate"));
    }, 900_000);

    it(`kill -9 sigil console and restart: sessions survive, alerts are served${tag}`, async () => {
      const cookie = await signIn();
      await scenario(`kill -9 console${tag}`, async () => {
        const r = await killAndRestart("console");
        consoleUrl = roles.console.url;
        return r;
      });
      const ca = fs.readFileSync(certs.caCert);
      const res = await httpsRequest(`${consoleUrl}/api/alerts?size=500`, { ca, headers: { cookie } });
      expect(res.status, res.body).toBe(200);
      const hosts = new Set(res.json<{ alerts: { entities?: { hosts?: string[] } }[] }>().alerts.flatMap((a) => a.entities?.hosts ?? []));
      const shown = load.attacks.filter((a) => hosts.has(a.host)).length;
      expect(shown, "attack alerts the restarted console serves").toBeGreaterThan(0);
    }, 900_000);

    it(`kill -9 sigil agent and restart${tag}`, async () => {
      await scenario(`kill -9 agent${tag}`, () => killAndRestart("agent"));
    }, 900_000);

    it(`stops Kafka for ${P.kafkaOutageMs / 1000} s${tag}`, async () => {
      await scenario(`Kafka down ${P.kafkaOutageMs / 1000} s${tag}`, async () => {
        await sleep(2_000);
        const t0 = Date.now();
        await services.stop("kafka");
        await sleep(Math.max(0, P.kafkaOutageMs - (Date.now() - t0)));
        await services.start("kafka");
        return { recoveredAt: Date.now(), outageMs: Date.now() - t0 };
      });
      for (const r of Object.values(roles)) expect(r.running, `${r.role} survived the Kafka outage`).toBe(true);
    }, 900_000);

    it(`stops Elasticsearch for ${P.esOutageMs / 1000} s${tag}`, async () => {
      await scenario(`Elasticsearch down ${P.esOutageMs / 1000} s${tag}`, async () => {
        await sleep(2_000);
        const t0 = Date.now();
        await services.stop("elasticsearch");
        await sleep(Math.max(0, P.esOutageMs - (Date.now() - t0)));
        await services.start("elasticsearch");
        return { recoveredAt: Date.now(), outageMs: Date.now() - t0 };
      });
      for (const r of Object.values(roles)) expect(r.running, `${r.role} survived the Elasticsearch outage`).toBe(true);
    }, 900_000);

    it(`fills the agent's disk buffer while ingest is down${tag}`, async () => {
      let bursts = 0;
      await scenario(`agent buffer full${tag}`, async () => {
        await sleep(2_000);
        const t0 = Date.now();
        await roles.ingest.kill9();
        // write until the agent reports its buffer full and reading paused
        await until(
          () => {
            if (agentStatus()?.buffer.full) return true;
            load.burst(2_000);
            bursts++;
            return false;
          },
          120_000,
          "the agent's buffer to fill",
          500,
        );
        await sleep(3_000);
        expect(agentStatus()?.buffer.full).toBe(true);
        await roles.ingest.start();
        return { recoveredAt: Date.now(), outageMs: Date.now() - t0, extra: { burst_lines: bursts * 2_000 } };
      });
      await until(() => agentStatus()?.buffer.full === false, 60_000, "the agent's buffer to drain");
    }, 900_000);
  }

  it("ends exact: after the load stops, every line ever sent is stored once and every attack has one hit and one alert", async () => {
    load.stop();
    const cut = load.seq;
    const t0 = Date.now();
    await waitCaughtUp(cut, "final");
    const c = await check(cut, 180_000);
    const result = { scenario: "final", drain_ms: Date.now() - t0, lines_sent: cut, stored_docs: c.events.stored_docs, other_events: c.events.others, lost: c.events.missing.length, duplicated: c.events.duplicated.length, attacks: c.attacks, hits_lost: c.hits.missing.length, hits_duplicated: c.hits.duplicated.length, false_hits: c.hits.false.length, alerts_lost: c.alerts.missing.length, alerts_duplicated: c.alerts.duplicated.length };
    results.push(result);
    process.stdout.write(JSON.stringify({ chaos: result }) + "\n");
    expectExact(c, "final");
    expect(c.events.stored_docs).toBe(cut);
    for (const r of Object.values(roles)) expect(r.running, `${r.role} is running`).toBe(true);
  }, 600_000);
});
