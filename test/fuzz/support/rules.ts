// What the rule fuzzers run on each input: the path `sigil rules lint` and the correlate role take
// (load, routing check, Sigma compile, correlation and anomaly compile) plus matching hostile events,
// and the check that every problem carries a stable code and a location in the fuzzed file.

import fs from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import type { Problem } from "../../../platform/errors.ts";
import { loadRuleTexts } from "../../../correlate/sigma/loader.ts";
import { loadPipelines } from "../../../correlate/sigma/pipeline.ts";
import { routingProblems } from "../../../correlate/sigma/engine.ts";
import { buildPlan } from "../../../correlate/sigma/plan.ts";
import { buildCorrelationPlan } from "../../../correlate/correlation/load.ts";
import { buildBaselines } from "../../../correlate/baselines/load.ts";
import { HOSTILE_STRINGS } from "./budget.ts";

export const FUZZ_FILE = "/rules/fuzzed.yml";
const CODE = /^[a-z][a-z0-9_]*$/;
let pipelines: ReturnType<typeof loadPipelines> | null = null;

/** Rule files under a folder (the first `max`, sorted, so runs are reproducible), sample files left out. */
export function ruleTexts(dir: string, max: number): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (out.length >= max) return;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name) && !e.name.includes(".tests.")) out.push(fs.readFileSync(p, "utf8"));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

/** Events that stress matching: hostile strings in the fields rules read, long backtracking bait. */
export const HOSTILE_EVENTS: Record<string, unknown>[] = [
  {
    "@timestamp": "2026-11-21T05:00:00Z",
    event: { kind: "event", category: ["process"], type: ["start"], dataset: "windows.sysmon", code: "1" },
    host: { name: "ws1" },
    process: { command_line: "a".repeat(50_000) + "!", executable: HOSTILE_STRINGS[0], name: "cmd.exe", parent: { executable: "\u0000" } },
    winlog: { channel: "Microsoft-Windows-Sysmon/Operational", event_id: 1, event_data: { CommandLine: "a".repeat(30) + "!", Image: "C:\\Windows\\System32\\cmd.exe" } },
    sigil: { logsource: [{ product: "windows", category: "process_creation" }] },
  },
  {
    "@timestamp": "2026-11-21T05:00:01Z",
    event: { kind: "event", category: ["authentication"], type: ["start"], dataset: "sshd", outcome: "success" },
    message: "Accepted password for root from 10.0.0.1 port 22 ssh2 " + "*".repeat(2000),
    user: { name: "constructor" },
    source: { ip: "10.0.0.1" },
    sigil: { logsource: [{ product: "linux", service: "sshd" }] },
  },
  { "@timestamp": "2026-11-21T05:00:02Z", event: { kind: "event", dataset: "x" }, url: { original: "/" + "%2e".repeat(5000) }, a: [[[[["deep"]]]]] },
];

/** Runs lint and compile as `sigil rules lint` and the correlate role do; returns every problem. */
export function lintAndCompile(texts: { file: string; text: string }[]): Problem[] {
  pipelines ??= loadPipelines("all");
  const loaded = loadRuleTexts(texts);
  const problems = [...loaded.problems, ...routingProblems(loaded, pipelines)];
  const plan = buildPlan(loaded, pipelines);
  for (const e of HOSTILE_EVENTS) plan.match(structuredClone(e), () => undefined);
  const corr = buildCorrelationPlan(loaded, pipelines);
  const base = buildBaselines(loaded, pipelines);
  for (const e of HOSTILE_EVENTS) base.selection.match(structuredClone(e) as never);
  problems.push(...corr.problems, ...base.problems);
  return problems;
}

/** Every problem has a stable code, a severity, a message and a location in one of the given files. */
export function checkProblems(problems: Problem[], files: string[]): void {
  for (const p of problems) {
    expect(p.code, JSON.stringify(p)).toMatch(CODE);
    expect(["error", "warning"], p.code).toContain(p.severity);
    expect(typeof p.message === "string" && p.message.length > 0, p.code).toBe(true);
    expect(p.location, `${p.code} has no location`).toBeDefined();
    expect(files, `${p.code} location ${JSON.stringify(p.location)}`).toContain(String(p.location!.file).split("#")[0]);
    if (p.location!.line !== undefined) expect(p.location!.line, p.code).toBeGreaterThanOrEqual(1);
    if (p.location!.column !== undefined) expect(p.location!.column, p.code).toBeGreaterThanOrEqual(1);
  }
}

/** Lints and compiles one fuzzed file and checks its problems. */
export function checkRuleText(text: string): Problem[] {
  const problems = lintAndCompile([{ file: FUZZ_FILE, text }]);
  checkProblems(problems, [FUZZ_FILE]);
  return problems;
}
