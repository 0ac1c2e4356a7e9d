// bench/detect: the full SigmaHQ corpus over realistic lanes on one core. Prints one JSON object:
// load and compile time, and per lane events/s net of rule loading on the path the product uses
// (safeJsonParse of each line, as the correlate role's decode and `sigil detect` do, then routing and
// matching), the JSON.parse-only ceiling of the same input, matches, and peak memory. (A projection
// reader that took only the plan's values from the text was measured slower than the full parse and
// removed: BENCHMARKS.md, detect, sixth session; the code is in git history at 1000c86.)
// Run: npx tsx bench/detect/run.ts [--events N] [--rules DIR] [--reps N] [--lane name,...]

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadRules } from "../../correlate/sigma/loader.ts";
import { loadPipelines } from "../../correlate/sigma/pipeline.ts";
import { buildPlan } from "../../correlate/sigma/plan.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import { securityLogonLane, syslogLane, sysmonFileLane, sysmonProcessLane, webAccessLane } from "./lanes.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const N = Number(arg("events", "40000"));
const RULES = arg("rules", path.resolve(ROOT, process.env.SIGIL_SHARED_DATA ?? "../shared/data", process.env.SIGIL_SHARED_DATA ? "sigmahq" : "sigmahq"));
const REPS = Number(arg("reps", "3"));
/** Comma-separated lane names to run (default: every lane). */
const ONLY = arg("lane", "");
// the lanes are made from real samples in the shared data (the corpus comes from there too by default)
const DATA = process.env.SIGIL_SHARED_DATA ?? path.resolve(ROOT, "../shared/data");
if (!fs.existsSync(RULES) || !fs.existsSync(path.join(DATA, "attacks"))) {
  process.stdout.write(JSON.stringify({ bench: "detect", skipped: `shared data not found (rules ${RULES}, samples ${DATA}); set SIGIL_SHARED_DATA` }) + "\n");
  process.exit(0);
}

let peakRss = process.memoryUsage().rss;
const sample = () => {
  const r = process.memoryUsage().rss;
  if (r > peakRss) peakRss = r;
};

const c0 = process.cpuUsage();
const t0 = performance.now();
const loaded = loadRules([RULES]);
const t1 = performance.now();
const c1 = process.cpuUsage(c0);
const plan = buildPlan(loaded, loadPipelines("all"));
const t2 = performance.now();
const c2 = process.cpuUsage(c0);
const cpuMs = (c: NodeJS.CpuUsage) => Math.round((c.user + c.system) / 1000);
const heapAfterCompile = process.memoryUsage().heapUsed;
sample();

const lanes: Record<string, () => string[]> = {
  sysmon_process_creation: () => sysmonProcessLane(N),
  sysmon_file_events: () => sysmonFileLane(N),
  windows_security_logons: () => securityLogonLane(N),
  syslog_raw_lines: () => syslogLane(N),
  web_access_logs: () => webAccessLane(N),
};

/** Best of REPS runs, by wall clock and by this process's CPU time (robust on a shared machine). */
function best(fn: () => void): { wall: number; cpu: number } {
  let wall = Infinity;
  let cpu = Infinity;
  for (let i = 0; i < REPS; i++) {
    const c = process.cpuUsage();
    const s = performance.now();
    fn();
    const ms = performance.now() - s;
    const d = process.cpuUsage(c);
    wall = Math.min(wall, ms);
    cpu = Math.min(cpu, (d.user + d.system) / 1000);
    sample();
  }
  return { wall, cpu };
}

const results: Record<string, unknown> = {};
let sink = 0;
for (const [name, gen] of Object.entries(lanes)) {
  if (ONLY && !ONLY.split(",").includes(name)) continue;
  const lines = gen();
  sample();
  const bytes = lines.reduce((n, l) => n + l.length, 0);
  // Warm up both paths (JIT, route cache, prefilter buckets) before timing.
  for (let i = 0; i < Math.min(2000, lines.length); i++) plan.match(safeJsonParse(lines[i]) as Record<string, unknown>, () => sink++);
  const ceiling = best(() => {
    for (let i = 0; i < lines.length; i++) sink += (JSON.parse(lines[i]) as object) ? 1 : 0;
  });
  let matches = 0;
  const onMatch = () => {
    matches++;
  };
  const detect = best(() => {
    matches = 0;
    for (let i = 0; i < lines.length; i++) plan.match(safeJsonParse(lines[i]) as Record<string, unknown>, onMatch);
  });
  const parsedMatches = matches;
  // the definition of the earlier rows of BENCHMARKS.md (JSON.parse, no unsafe-key check), for continuity
  const viaJsonParse = best(() => {
    for (let i = 0; i < lines.length; i++) plan.match(JSON.parse(lines[i]) as Record<string, unknown>, onMatch);
  });
  matches = parsedMatches;
  let matchedEvents = 0;
  for (let i = 0; i < lines.length; i++) {
    let k = 0;
    plan.match(safeJsonParse(lines[i]) as Record<string, unknown>, () => k++);
    if (k) matchedEvents++;
  }
  const ex = plan.explain(JSON.parse(lines[0]));
  const eps = (lines.length / detect.cpu) * 1000;
  const ceil = (lines.length / ceiling.cpu) * 1000;
  results[name] = {
    events: lines.length,
    avg_event_bytes: Math.round(bytes / lines.length),
    events_per_sec: Math.round(eps),
    json_parse_events_per_sec: Math.round((lines.length / viaJsonParse.cpu) * 1000),
    events_with_a_match: matchedEvents,
    json_parse_ceiling_events_per_sec: Math.round(ceil),
    fraction_of_ceiling: Number((eps / ceil).toFixed(3)),
    wall_events_per_sec: Math.round((lines.length / detect.wall) * 1000),
    wall_json_parse_ceiling_events_per_sec: Math.round((lines.length / ceiling.wall) * 1000),
    matches,
    rules_routed: ex.routed,
    rules_always_evaluated: ex.always,
    logsources: ex.logsources.map((l) => [l.category, l.product, l.service].map((x) => x ?? "").join("/")),
  };
}

const out = {
  benchmark: "detect",
  node: process.version,
  cpus: 1,
  rules_dir: path.relative(ROOT, RULES),
  rules_loaded: loaded.rules.length,
  rules_failed: loaded.failedFiles.size,
  rules_inactive: plan.stats.inactive,
  events_per_sec_basis: "CPU time of this process, best of reps (wall-clock figures beside)",
  decode:
    "events_per_sec: safeJsonParse + Plan.match (the product's path); json_parse_events_per_sec: JSON.parse + Plan.match (the earlier rows' definition); ceiling: JSON.parse only",
  load_ms: Math.round(t1 - t0),
  compile_ms: Math.round(t2 - t1),
  load_and_compile_ms: Math.round(t2 - t0),
  load_cpu_ms: cpuMs(c1),
  load_and_compile_cpu_ms: cpuMs(c2),
  heap_after_compile_mb: Math.round(heapAfterCompile / 1048576),
  lanes: results,
  peak_rss_mb: Math.round(peakRss / 1048576),
  heap_used_mb: Math.round(process.memoryUsage().heapUsed / 1048576),
  targets: {
    sysmon_process_creation_min_events_per_sec: 100000,
    min_fraction_of_ceiling: 0.25,
    max_load_and_compile_ms: 2000,
  },
};
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
if (sink < 0) process.stdout.write("");
