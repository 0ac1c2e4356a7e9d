// bench/replay: `sigil replay` (normalize → detect → correlate → chains) over mixed real logs with the
// full SigmaHQ corpus plus the project's rule pack loaded. Prints one JSON object: events/s per run by
// wall clock and by CPU time (the machine is shared; CPU time is the fairer single-core figure), net
// of rule loading, with the target (50,000 events/s) and whether it was met.
// Run: npx tsx bench/replay/run.ts [--reps 3] [--rules DIR] [--input FILE ...]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../platform/config/load.ts";
import { PROJECT_RULE_DIRS, buildEngine } from "../../correlate/engine.ts";
import { runReplay } from "../../cli/replay/run.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DATA = process.env.SIGIL_SHARED_DATA ?? path.resolve(ROOT, "../shared/data");
const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const REPS = Number(arg("reps", "3"));
const SIGMAHQ = arg("rules", path.join(DATA, "sigmahq"));
const TARGET = 50_000;

/** Real logs of several formats: a Windows host's full event log, Zeek, web, sshd, syslog, CloudTrail, Kubernetes. */
function defaultInputs(): string[] {
  const inputs = [
    "attacks/otrf-lsass-campaign-02/host-windows-events.jsonl.gz",
    "attacks/otrf-lsass-campaign-02/zeek/conn.log",
    "attacks/otrf-lsass-campaign-02/zeek/dns.log",
    "logs/apache-access/elastic-examples/apache_logs.first5000.log",
    "logs/sshd-auth/loghub/OpenSSH_2k.log",
    "logs/syslog-rfc3164/loghub/Linux_2k.log",
    "logs/windows-events-json/otrf-security-datasets/covenant_copy_smb_CreateRequest_2020-09-22145302.json",
    "logs/windows-events-json/otrf-security-datasets/psh_lsass_memory_dump_comsvcs_2020-10-18T19500924.json",
    "logs/aws-cloudtrail/otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
    "logs/zeek/otrf-apt29-day1/SCRANTON_conn.log",
    "logs/zeek/otrf-apt29-day1/SCRANTON_http.log",
    "logs/k8s-audit/elastic-integrations/test-audit.log",
  ].map((f) => path.join(DATA, f));
  return inputs.filter((f) => fs.existsSync(f));
}

const given: string[] = [];
args.forEach((a, i) => {
  if (a === "--input" && args[i + 1]) given.push(args[i + 1]);
});
const inputs = given.length ? given : defaultInputs();
if (inputs.length === 0) {
  process.stdout.write(JSON.stringify({ bench: "replay", skipped: `no inputs: shared data not found at ${DATA}` }) + "\n");
  process.exit(0);
}
const rules = [...PROJECT_RULE_DIRS, ...(fs.existsSync(SIGMAHQ) ? [SIGMAHQ] : [])];
const config = loadConfig({ env: {} });
const quiet = new Writable({ write: (_c, _e, cb) => cb() });

let peakRss = process.memoryUsage().rss;
const t0 = performance.now();
const engine = await buildEngine({ rules, config: config.correlate, cwd: ROOT });
const loadMs = performance.now() - t0;

const runs: Record<string, number>[] = [];
let last: Awaited<ReturnType<typeof runReplay>> | null = null;
for (let i = 0; i < REPS; i++) {
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  last = await runReplay({ inputs, rules, config, cwd: ROOT, stderr: quiet, progress: false, engine });
  const wall = (performance.now() - w0) / 1000;
  const cpuUse = process.cpuUsage(cpu0);
  const cpu = (cpuUse.user + cpuUse.system) / 1e6;
  const events = last.summary.events;
  runs.push({ wall_s: round(wall), cpu_s: round(cpu), events_per_s_wall: Math.round(events / wall), events_per_s_cpu: Math.round(events / cpu) });
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}
const best = Math.max(...runs.map((r) => r.events_per_s_cpu));
const s = last!.summary;
process.stdout.write(
  JSON.stringify({
    bench: "replay",
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "unknown", node: process.version, loadavg_1m: round(os.loadavg()[0]) },
    rules: { detection: engine.detection.ruleCount, correlation: engine.correlationRules, dirs: rules.map((r) => path.relative(ROOT, r)) },
    rule_load_ms: Math.round(loadMs),
    inputs: inputs.map((f) => ({ file: path.relative(DATA, f), bytes: fs.statSync(f).size })),
    events: s.events,
    records_rejected: s.records_rejected,
    rejected_by_code: s.rejected_by_code,
    matches: s.matches,
    signals: s.signals,
    chains: s.chains,
    runs,
    best_events_per_s_cpu: best,
    target_events_per_s: TARGET,
    met: best >= TARGET,
    peak_rss_mb: Math.round(peakRss / 1048576),
  }) + "\n",
);

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
