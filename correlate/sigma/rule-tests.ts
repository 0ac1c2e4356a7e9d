// Rule samples and regression cases: `<rule>.tests.yml` beside a rule lists events that must (expect:
// match) or must not (expect: no_match) fire it; SigmaHQ regression cases (cases.jsonl) name the rule
// each event file must fire. Normalization is injected, so raw shapes go through the real parsers.

import fs from "node:fs";
import path from "node:path";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import type { Problem } from "../../platform/errors.ts";
import { TESTS_SUFFIX } from "./loader.ts";
import { splitJsonValues } from "./json-stream.ts";
import type { Plan } from "./plan.ts";
import { eventId } from "../../schema/event-id.ts";

/** Turns one sample (a JSON object in any supported shape, or a raw text line) into normalized events. */
export type SampleNormalizer = (sample: { object?: unknown; raw?: string; format?: string }, where: string) => { events: Record<string, unknown>[]; error?: string };

export interface SampleCase {
  name: string;
  expect: "match" | "no_match";
  object?: unknown;
  raw?: string;
  format?: string;
  /** Rule the samples belong to (id), from the rule file beside them. */
  ruleId: string;
  file: string;
  line: number;
}

export interface TestOutcome {
  name: string;
  file: string;
  line?: number;
  ok: boolean;
  message?: string;
}

/** The samples file of a rule file: `x.yml` → `x.tests.yml`. */
export function samplesFileOf(ruleFile: string): string {
  return ruleFile.replace(/\.ya?ml$/, TESTS_SUFFIX);
}

const CASE_KEYS = new Set(["name", "expect", "event", "raw", "format"]);

/** Reads a samples file; problems (unknown keys, bad shapes) come back with line and column. */
export function readSamples(file: string, ruleId: string): { cases: SampleCase[]; problems: Problem[] } {
  const text = fs.readFileSync(file, "utf8");
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  const problems: Problem[] = [];
  const at = (pos: number | undefined) => {
    const p = lc.linePos(pos ?? 0);
    return { file, line: p.line, column: p.col };
  };
  for (const e of doc.errors) problems.push({ code: "yaml_syntax", message: e.message.split("\n")[0], severity: "error", location: at(e.pos[0]) });
  if (doc.errors.length) return { cases: [], problems };
  const root = doc.contents;
  if (isMap(root) && !root.has("tests") && (root.has("match") || root.has("no_match"))) return readMatchLists(root, file, ruleId, at, problems);
  const testsNode = isMap(root) ? root.get("tests", true) : null;
  if (!isMap(root) || !isSeq(testsNode)) {
    problems.push({ code: "samples_bad_shape", message: "a samples file has a `tests:` list, or `match:` / `no_match:` lists", severity: "error", location: at(root?.range?.[0]) });
    return { cases: [], problems };
  }
  for (const k of root.items) {
    const key = String((k.key as { value?: unknown })?.value ?? k.key);
    if (key !== "tests") problems.push({ code: "samples_unknown_key", message: `unknown key "${key}" (allowed: tests)`, severity: "error", location: at((k.key as unknown as { range?: [number] })?.range?.[0]) });
  }
  const cases: SampleCase[] = [];
  testsNode.items.forEach((item, i) => {
    const pos = (item as { range?: [number] }).range?.[0];
    if (!isMap(item)) {
      problems.push({ code: "samples_bad_shape", message: "each test is a mapping with name, expect and event or raw", severity: "error", location: at(pos) });
      return;
    }
    const js = item.toJSON() as Record<string, unknown>;
    for (const p of item.items) {
      const key = String((p.key as { value?: unknown })?.value ?? p.key);
      if (!CASE_KEYS.has(key)) problems.push({ code: "samples_unknown_key", message: `unknown key "${key}" (allowed: ${[...CASE_KEYS].join(", ")})`, severity: "error", location: at((p.key as unknown as { range?: [number] })?.range?.[0]) });
    }
    const expect = js.expect;
    if (expect !== "match" && expect !== "no_match") {
      problems.push({ code: "samples_bad_expect", message: `expect must be match or no_match, got ${JSON.stringify(expect)}`, severity: "error", location: at(pos) });
      return;
    }
    if ((js.event === undefined) === (js.raw === undefined)) {
      problems.push({ code: "samples_bad_shape", message: "give exactly one of event (a JSON object) or raw (a log line)", severity: "error", location: at(pos) });
      return;
    }
    if (js.raw !== undefined && typeof js.raw !== "string") {
      problems.push({ code: "samples_bad_shape", message: "raw must be a string (one log line)", severity: "error", location: at(pos) });
      return;
    }
    cases.push({
      name: typeof js.name === "string" ? js.name : `test ${i + 1}`,
      expect,
      object: js.event,
      raw: js.raw as string | undefined,
      format: typeof js.format === "string" ? js.format : undefined,
      ruleId,
      file,
      line: at(pos).line,
    });
  });
  return { cases, problems };
}

/**
 * The list layout: `match:` and `no_match:` lists whose items are `{raw, format}` (a raw record and the
 * parser that reads it), `{event}`, or an event object itself.
 */
function readMatchLists(root: import("yaml").YAMLMap, file: string, ruleId: string, at: (pos: number | undefined) => { file: string; line: number; column: number }, problems: Problem[]): { cases: SampleCase[]; problems: Problem[] } {
  const cases: SampleCase[] = [];
  for (const k of root.items) {
    const key = String((k.key as { value?: unknown })?.value ?? k.key);
    const keyPos = (k.key as unknown as { range?: [number] })?.range?.[0];
    if (key !== "match" && key !== "no_match") {
      problems.push({ code: "samples_unknown_key", message: `unknown key "${key}" (allowed: match, no_match)`, severity: "error", location: at(keyPos) });
      continue;
    }
    if (!isSeq(k.value)) {
      problems.push({ code: "samples_bad_shape", message: `${key} must be a list of samples`, severity: "error", location: at(keyPos) });
      continue;
    }
    k.value.items.forEach((item, i) => {
      const pos = (item as { range?: [number] }).range?.[0];
      const js = isMap(item) ? (item.toJSON() as Record<string, unknown>) : null;
      if (!js) {
        problems.push({ code: "samples_bad_shape", message: "a sample is a mapping: {raw, format}, {event} or an event object", severity: "error", location: at(pos) });
        return;
      }
      const base = { name: `${key} #${i + 1}`, expect: key as "match" | "no_match", ruleId, file, line: at(pos).line };
      if (typeof js.raw === "string") cases.push({ ...base, raw: js.raw, format: typeof js.format === "string" ? js.format : undefined });
      else if (js.event !== undefined && Object.keys(js).every((x) => x === "event" || x === "format")) cases.push({ ...base, object: js.event, format: typeof js.format === "string" ? js.format : undefined });
      else cases.push({ ...base, object: js });
    });
  }
  return { cases, problems };
}

/** Runs sample cases against a plan: a `match` case passes when its rule fires on every event of the sample. */
export function runSamples(plan: Plan, cases: SampleCase[], normalize: SampleNormalizer): TestOutcome[] {
  const out: TestOutcome[] = [];
  for (const c of cases) {
    const where = `${c.file}:${c.line}`;
    const { events, error } = normalize({ object: c.object, raw: c.raw, format: c.format }, where);
    if (error || events.length === 0) {
      out.push({ name: c.name, file: c.file, line: c.line, ok: false, message: `sample could not be normalized: ${error ?? "no event"}` });
      continue;
    }
    let fired = 0;
    for (const ev of events) {
      let hit = false;
      plan.match(ev, (r) => {
        if (r.id === c.ruleId) hit = true;
      });
      if (hit) fired++;
    }
    const ok = c.expect === "match" ? fired === events.length : fired === 0;
    out.push({
      name: c.name,
      file: c.file,
      line: c.line,
      ok,
      message: ok ? undefined : c.expect === "match" ? `rule ${c.ruleId} did not fire on ${events.length - fired} of ${events.length} event(s)` : `rule ${c.ruleId} fired on ${fired} event(s) but must not`,
    });
  }
  return out;
}

/** A minimal ECS event holding one raw line (for lines no parser recognizes). */
function rawEvent(line: string, file: string): Record<string, unknown> {
  return {
    "@timestamp": new Date(0).toISOString(),
    event: { id: eventId("raw", line, file), kind: "event", category: [], type: ["info"], dataset: "raw", original: line },
    message: line,
  };
}

export interface RegressionCase {
  rule_id: string;
  rule_title: string;
  rule_path: string;
  event_file: string;
  type: "evtx" | "raw";
  event_count: number;
  match_count: number | null;
}

/** Finds a SigmaHQ regression folder near a rules directory (`<corpus>/../sigma-regression`). */
export function findRegressionDir(ruleDirs: string[]): string | null {
  for (const d of ruleDirs) {
    let cur = path.resolve(d);
    for (let i = 0; i < 4; i++) {
      const cand = path.join(cur, "sigma-regression");
      if (fs.existsSync(path.join(cand, "cases.jsonl"))) return cand;
      if (fs.existsSync(path.join(cur, "cases.jsonl"))) return cur;
      cur = path.dirname(cur);
    }
  }
  return null;
}

export function readRegressionCases(dir: string): RegressionCase[] {
  const text = fs.readFileSync(path.join(dir, "cases.jsonl"), "utf8");
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as RegressionCase);
}

/** Why `rel` does not name a file inside `dir` (null when it does). */
function outsideOf(dir: string, rel: string): string | null {
  if (path.isAbsolute(rel) || rel.includes("\0")) return "is not a path relative to the regression folder";
  const root = path.resolve(dir);
  const full = path.resolve(root, rel);
  if (!full.startsWith(root + path.sep)) return `leaves the regression folder ${root}`;
  try {
    const real = fs.realpathSync(full);
    const realRoot = fs.realpathSync(root);
    if (!real.startsWith(realRoot + path.sep)) return `is a link out of the regression folder ${root}`;
  } catch {
    return null; // missing: reading it reports that
  }
  return null;
}

/**
 * Runs regression cases whose rule is in the plan: every event file through the normalizer (raw cases
 * as one text line), passing when the rule fires on at least match_count events (default 1).
 */
export function runRegression(plan: Plan, dir: string, normalize: SampleNormalizer): { outcomes: TestOutcome[]; skipped: number } {
  const ids = new Set(plan.rules.map((r) => r.info.id));
  const outcomes: TestOutcome[] = [];
  let skipped = 0;
  for (const c of readRegressionCases(dir)) {
    if (!ids.has(c.rule_id)) {
      skipped++;
      continue;
    }
    const file = path.join(dir, String(c.event_file));
    // a case names a file inside the regression folder: never one outside it (../, absolute, or a symlink out)
    const escape = outsideOf(dir, String(c.event_file));
    if (escape) {
      outcomes.push({ name: `regression ${c.rule_path}`, file: path.join(dir, "cases.jsonl"), ok: false, message: `event_file ${JSON.stringify(c.event_file)} ${escape}; refused` });
      continue;
    }
    const text = fs.readFileSync(file, "utf8");
    const events: Record<string, unknown>[] = [];
    let error: string | undefined;
    if (c.type === "raw") {
      // A raw line's source type comes from where it was collected (an input labelled, say, Cisco IOS
      // syslog), not from its text: tag it with the rule's logsource, and keep the line as the event's
      // original text when no parser knows the format.
      const ls = plan.rules.find((r) => r.info.id === c.rule_id)?.info.logsource ?? {};
      for (const line of text.split("\n").filter((l) => l.trim())) {
        const r = normalize({ raw: line }, file);
        const evs = r.events.length ? r.events : [rawEvent(line, file)];
        for (const ev of evs) ev.sigil = { ...((ev.sigil as object | undefined) ?? {}), logsource: [ls] };
        events.push(...evs);
      }
    } else
      for (const chunk of splitJsonValues(text)) {
        let obj: unknown;
        try {
          obj = JSON.parse(chunk.text);
        } catch (err) {
          error = `${file}:${chunk.line}: ${(err as Error).message}`;
          continue;
        }
        const r = normalize({ object: obj }, `${file}:${chunk.line}`);
        events.push(...r.events);
        error ??= r.error;
      }
    let fired = 0;
    for (const ev of events) {
      let hit = false;
      plan.match(ev, (r) => {
        if (r.id === c.rule_id) hit = true;
      });
      if (hit) fired++;
    }
    const need = c.match_count ?? 1;
    const ok = !error && fired >= need;
    outcomes.push({ name: `regression ${c.rule_path}`, file, ok, message: ok ? undefined : error ?? `rule ${c.rule_id} fired on ${fired} of ${events.length} event(s); at least ${need} expected` });
  }
  return { outcomes, skipped };
}
