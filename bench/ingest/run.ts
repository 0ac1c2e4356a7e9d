// bench/ingest: (1) normalize-only throughput per format on one core (parse + ECS + event id, and with
// JSON serialization), over real samples from ../shared/data/logs (the parsers' fixtures when absent);
// (2) end to end: a real `sigil ingest` process fed NDJSON over HTTP by concurrent clients, publishing
// to the real Kafka broker: events/s and time to acknowledgement (p50/p99). Prints one JSON object.
//
//   npx tsx bench/ingest/run.ts [--seconds 2] [--e2e-seconds 10] [--no-e2e] [--concurrency 4] [--batch 2000]

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { PARSERS, PARSER_NAMES } from "../../ingest/parsers/registry.ts";
import { defaultParseContext, type Emit, type RawRecord } from "../../ingest/parsers/types.ts";
import { fixtureInputs } from "../../ingest/parsers/conformance.ts";
import { RecordEncoder } from "../../ingest/agent/batch.ts";
import { PROJECT_ROOT, sharedDataDir } from "../../test/support/shared-data.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "2" },
    "e2e-seconds": { type: "string", default: "10" },
    "no-e2e": { type: "boolean", default: false },
    "e2e-only": { type: "boolean", default: false },
    "cpu-prof": { type: "string" },
    compression: { type: "string", default: "lz4" },
    "node-flags": { type: "string", default: "" },
    concurrency: { type: "string", default: "4" },
    batch: { type: "string", default: "2000" },
  },
});

/** Sample lines per format: real data when present. */
function corpus(): Record<string, string[]> {
  const data = sharedDataDir();
  const read = (rel: string) => fs.readFileSync(path.join(data!, "logs", rel), "utf8").split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l.trim().length > 0);
  const out: Record<string, string[]> = {};
  if (data) {
    out["sshd-auth"] = read("sshd-auth/loghub/OpenSSH_2k.log");
    out["syslog-rfc3164"] = read("syslog-rfc3164/loghub/Linux_2k.log");
    out["syslog-rfc5424"] = read("syslog-rfc5424/elastic-integrations/test-5424.log");
    out["apache-access"] = read("apache-access/elastic-examples/apache_logs.first5000.log");
    out["apache-error"] = read("apache-error/loghub/Apache_2k.log");
    out["nginx-access"] = read("nginx-access/elastic-beats-7.4-nginx-access/access.log");
    out["nginx-error"] = read("nginx-access/elastic-beats-7.4-nginx-error/error.log");
    out["linux-auditd"] = read("linux-auditd/otrf-security-datasets/sh_arp_cache_2020-11-10074812.log");
    out.zeek = [...read("zeek/otrf-apt29-day1/SCRANTON_conn.log"), ...read("zeek/otrf-apt29-day1/SCRANTON_dns.log"), ...read("zeek/otrf-apt29-day1/SCRANTON_http.log")];
    out["suricata-eve"] = [...read("suricata-eve/elastic-beats-7.4-suricata/eve-small.log"), ...read("suricata-eve/elastic-beats-7.4-suricata/eve-dns-4.1.4.log")];
    out["aws-cloudtrail"] = read("aws-cloudtrail/otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json");
    out["k8s-audit"] = read("k8s-audit/elastic-integrations/test-audit.log");
    out["windows-events-json"] = read("windows-events-json/otrf-security-datasets/psh_lsass_memory_dump_comsvcs_2020-10-18T19500924.json");
  }
  for (const name of PARSER_NAMES) {
    if (out[name]?.length) continue;
    const dir = path.join(PROJECT_ROOT, "ingest", "parsers", name, "fixtures");
    out[name] = fixtureInputs(dir).flatMap((f) => f.lines);
  }
  return out;
}

/** Lines per second of one parser over `lines`, repeated for `seconds` after a warm-up. */
function measure(name: string, lines: string[], seconds: number, serialize: boolean): { lines_per_s: number; lines_per_cpu_s: number; events_per_s: number; rejected_share: number } {
  const parser = PARSERS[name];
  const ctx = defaultParseContext({ now: () => new Date("2024-11-01T00:00:00Z") });
  let events = 0;
  let rejected = 0;
  let bytes = 0;
  const emit: Emit = {
    event(e) {
      events++;
      if (serialize) bytes += JSON.stringify(e).length;
    },
    reject() {
      rejected++;
    },
  };
  const recs: RawRecord[] = lines.map((data, i) => ({ data, source: "bench", line: i + 1, offset: i * 100, origin: `bench@${i * 100}` }));
  const run = (deadlineNs: bigint): number => {
    let n = 0;
    const s = parser.open(ctx);
    while (process.hrtime.bigint() < deadlineNs) {
      for (const r of recs) s.push(r, emit);
      n += recs.length;
    }
    s.flush(emit);
    return n;
  };
  run(process.hrtime.bigint() + 300_000_000n); // warm-up: let V8 optimize
  events = 0;
  rejected = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const n = run(t0 + BigInt(Math.round(seconds * 1e9)));
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  void bytes;
  return { lines_per_s: Math.round(n / dt), lines_per_cpu_s: Math.round(n / cpuS), events_per_s: Math.round(events / dt), rejected_share: Math.round((rejected / Math.max(1, n)) * 1000) / 1000 };
}

async function endToEnd(seconds: number, concurrency: number, batch: number): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bench-ingest-"));
  const bin = path.join(PROJECT_ROOT, "bin", "sigil.js");
  const prefix = `bench-ingest-${randomBytes(3).toString("hex")}.`;
  const brokers = (process.env.SIGIL_TEST_KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
  fs.writeFileSync(path.join(dir, "sigil.yml"), stringify({
    data_dir: path.join(dir, "data"),
    bus: { type: "kafka", topic_prefix: prefix, partitions: 6, kafka: { brokers, compression: values.compression } },
    store: { type: "embedded" },
    telemetry: { log_level: "warn", metrics: { port: 0 } },
    ingest: { http: { port: 0 }, otlp: { enabled: false }, syslog: { udp: { enabled: false }, tcp: { enabled: false } } },
    security: { tokens: { rate_limit_eps: 0 } },
  }));
  const env = { ...process.env, SIGIL_CONFIG: path.join(dir, "sigil.yml") };
  const created = spawnSync(process.execPath, [bin, "tokens", "create", "--name", "bench", "--json"], { env, encoding: "utf8" });
  if (created.status !== 0) return { error: `tokens create failed: ${created.stderr.trim().slice(0, 300)}` };
  const token = (JSON.parse(created.stdout) as { token: string }).token;
  const profDir = values["cpu-prof"] ? path.resolve(values["cpu-prof"]) : null;
  const nodeArgs = [...(profDir ? ["--cpu-prof", "--cpu-prof-dir", profDir] : []), ...values["node-flags"].split(" ").filter(Boolean)];
  const proc: ChildProcess = spawn(process.execPath, [...nodeArgs, bin, "ingest"], { env, stdio: ["ignore", process.env.SIGIL_BENCH_CHILD_STDOUT ? fs.openSync(process.env.SIGIL_BENCH_CHILD_STDOUT, "w") : "ignore", "pipe"] });
  let err = "";
  const url = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 60_000);
    proc.stderr!.on("data", (c: Buffer) => {
      err += c.toString();
      const m = /http listening on (\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once("exit", () => resolve(null));
  });
  if (!url) {
    proc.kill("SIGTERM");
    return { error: `sigil ingest did not start: ${err.slice(-400)}` };
  }
  // what agents send: real auth.log lines in the agent's own wire encoding (RecordEncoder: path, offset,
  // event.created per chunk read, input, host, agent, sigil.origin and format), one agent (host) per body,
  // 64 agents taking turns
  const data = sharedDataDir();
  const lines = data ? fs.readFileSync(path.join(data, "logs/sshd-auth/loghub/OpenSSH_2k.log"), "utf8").split("\n").filter((l) => l.trim()).map((l) => l.replace(/\r$/, "")) : fixtureInputs(path.join(PROJECT_ROOT, "ingest/parsers/sshd-auth/fixtures")).flatMap((f) => f.lines);
  const agents = Array.from({ length: 64 }, (_, h) => ({
    encoder: new RecordEncoder({ hostName: `host-${h}`, agentId: randomBytes(8).toString("hex"), agentVersion: "0.1.0", service: null, tags: [], format: "sshd-auth" }, "file", randomBytes(8).toString("hex"), "/var/log/auth.log"),
    offset: 0,
    line: h * 31,
  }));
  let turn = 0;
  const body = () => {
    const agent = agents[turn++ % agents.length];
    const out: string[] = [];
    for (let i = 0; i < batch; i++) {
      if (i % 200 === 0) agent.encoder.setCreated(new Date().toISOString()); // the agent stamps each chunk it reads
      const line = lines[agent.line++ % lines.length];
      out.push(agent.encoder.encode(line, agent.offset, false));
      agent.offset += Buffer.byteLength(line) + 1;
    }
    return out.join("\n") + "\n";
  };
  // bodies built before the clock starts, so the client spends its CPU on sending (the ingest process is
  // what is measured, but on a shared machine a busy client starves it); each record keeps its own origin
  const bodies = Array.from({ length: 120 }, () => Buffer.from(body()));
  let next = 0;
  const latencies: number[] = [];
  let events = 0;
  let failures = 0;
  const send = async () => {
    const payload = bodies[next++ % bodies.length];
    for (;;) {
      const t0 = performance.now();
      const res = await fetch(`${url}/v1/ingest`, { method: "POST", body: new Uint8Array(payload.buffer, payload.byteOffset, payload.length), headers: { authorization: `Bearer ${token}`, "content-type": "application/x-ndjson", "x-sigil-batch-id": randomBytes(16).toString("hex"), "x-sigil-batch-time": String(Date.now()) } });
      const j = (await res.json()) as { events?: number };
      if (res.status === 200) {
        latencies.push(performance.now() - t0);
        events += j.events ?? 0;
        return;
      }
      failures++;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  /** CPU seconds the ingest process used so far (Linux /proc; NaN elsewhere). */
  /** User and system CPU seconds of the ingest process so far, all threads (Linux /proc; NaN elsewhere). */
  const cpuSplit = (pid: number | undefined): { user: number; sys: number } => {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
    } catch {
      return { user: NaN, sys: NaN };
    }
  };
  /** CPU seconds of the main thread and of the others (V8's GC and compiler helpers, the libuv pool that runs LZ4), from /proc. */
  const cpuByThread = (pid: number | undefined): Record<string, number> => {
    const out: Record<string, number> = {};
    try {
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
        const kind = tid === String(pid) ? "main" : "other_threads";
        out[kind] = (out[kind] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
      }
    } catch {
      // not Linux: left out
    }
    return out;
  };
  const cpuOf = (pid: number | undefined): number => {
    const c = cpuSplit(pid);
    return c.user + c.sys;
  };
  // warm-up
  await Promise.all(Array.from({ length: concurrency }, () => send()));
  latencies.length = 0;
  events = 0;
  const cpu0 = cpuOf(proc.pid);
  const split0 = cpuSplit(proc.pid);
  const threads0 = cpuByThread(proc.pid);
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await send();
    }),
  );
  const dt = (performance.now() - t0) / 1000;
  const ingestCpu = cpuOf(proc.pid) - cpu0;
  const split1 = cpuSplit(proc.pid);
  const threads1 = cpuByThread(proc.pid);
  proc.kill("SIGTERM");
  await new Promise((r) => proc.once("exit", r));
  fs.rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 10) / 10;
  return {
    events_per_s: Math.round(events / dt),
    events_per_ingest_cpu_s: Number.isFinite(ingestCpu) && ingestCpu > 0 ? Math.round(events / ingestCpu) : null,
    ingest_cpu_s: { user: Math.round((split1.user - split0.user) * 100) / 100, sys: Math.round((split1.sys - split0.sys) * 100) / 100 },
    ingest_cpu_s_by_thread: Object.fromEntries(Object.entries(threads1).map(([k, v]) => [k, Math.round((v - (threads0[k] ?? 0)) * 100) / 100])),
    batches: latencies.length,
    batch_lines: batch,
    concurrency,
    ack_ms_p50: pct(0.5),
    ack_ms_p99: pct(0.99),
    retried_requests: failures,
    seconds: Math.round(dt * 10) / 10,
  };
}

const seconds = Number(values.seconds);
const lines = corpus();
const formats: Record<string, unknown> = {};
for (const name of values["e2e-only"] ? [] : PARSER_NAMES) {
  if (!lines[name]?.length) continue;
  formats[name] = { ...measure(name, lines[name], seconds, false), with_serialize_lines_per_s: measure(name, lines[name], seconds / 2, true).lines_per_s, sample_lines: lines[name].length };
}
const result: Record<string, unknown> = {
  bench: "ingest",
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  note: "normalize-only runs on one core in this process; e2e runs sigil ingest as its own process against the real Kafka broker",
  normalize: formats,
  targets: { syslog_shaped_lines_per_s: 150_000, http_to_kafka_events_per_s: 50_000 },
};
if (!values["no-e2e"]) result.http_to_kafka = await endToEnd(Number(values["e2e-seconds"]), Number(values.concurrency), Number(values.batch));
process.stdout.write(JSON.stringify(result) + "\n");
