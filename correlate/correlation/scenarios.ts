// Tests for correlation and anomaly rules as timestamped event scenarios beside the rule:
// `<rule>.tests.yml` with a `scenarios:` list. Each scenario's events run in arrival order through the
// Sigma plan, the correlation engine and the baselines (as `sigil detect` runs them), and the hits of
// the rules in the rule file must be exactly the expected ones. See rules/correlation/README.md.

import fs from "node:fs";
import { LineCounter, isMap, isSeq, parseDocument } from "yaml";
import type { JsonObject } from "../../schema/ecs.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { buildBaselines } from "../baselines/load.ts";
import type { AnomalyHit, CompiledAnomaly } from "../baselines/engine.ts";
import { LocalBaselineStage } from "../baselines/stage.ts";
import type { Compiled } from "../sigma/engine.ts";
import type { RuleTestResult } from "../sigma/kinds.ts";
import type { SampleNormalizer } from "../sigma/rule-tests.ts";
import { parseTimespan } from "./condition.ts";
import { GroupBudget } from "./engine.ts";
import { buildCorrelationPlan } from "./load.ts";
import { LocalCorrelationStage } from "./stage.ts";
import type { CorrelationHit } from "./types.ts";

const SCENARIO_KEYS = new Set(["name", "options", "events", "expect", "late", "evicted", "dropped"]);
const OPTION_KEYS = new Set(["allowed_lateness_ms", "max_groups", "max_entities", "max_window_events"]);
const EVENT_KEYS = new Set(["event", "raw", "format", "repeat"]);
const REPEAT_KEYS = new Set(["count", "every", "from", "vary"]);
/** Reasons a scenario's `dropped:` can count (inputs not added to any window or interval). */
const DROP_REASONS = ["late", "suppressed", "missing_field", "bad_value", "evicted"] as const;
type DropReason = (typeof DROP_REASONS)[number];
const EXPECT_KEYS = new Set(["rule", "group", "entity", "lines", "value", "observed", "new_values", "first_seen", "last_seen", "interval_start"]);
const MAX_EVENTS = 200_000;

export interface Scenario {
  name: string;
  line: number;
  options: { allowed_lateness_ms: number; max_groups: number; max_entities: number; max_window_events: number };
  items: { line: number; event?: JsonObject; raw?: string; format?: string; repeat?: { count: number; every: number; from: number; vary: Record<string, unknown[]> } }[];
  expect: (Record<string, unknown> & { line: number })[];
  late?: number;
  evicted?: number;
  /** Expected counts per reason, e.g. {missing_field: 2}; reasons left out are not checked. */
  dropped?: Partial<Record<DropReason, number>>;
}

/** Reads the `scenarios:` of a tests file; shape errors come back as messages with their line. */
export function readScenarios(file: string): { scenarios: Scenario[]; errors: { line: number; message: string }[] } {
  const text = fs.readFileSync(file, "utf8");
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  const errors: { line: number; message: string }[] = [];
  const lineOf = (n: unknown) => lc.linePos((n as { range?: [number] } | null)?.range?.[0] ?? 0).line;
  for (const e of doc.errors) errors.push({ line: lc.linePos(e.pos[0]).line, message: e.message.split("\n")[0] });
  if (doc.errors.length) return { scenarios: [], errors };
  const root = doc.contents;
  const list = isMap(root) ? root.get("scenarios", true) : null;
  if (!isSeq(list)) return { scenarios: [], errors: isMap(root) && root.has("scenarios") ? [{ line: lineOf(root), message: "scenarios must be a list" }] : [] };
  const scenarios: Scenario[] = [];
  list.items.forEach((node, i) => {
    const line = lineOf(node);
    const bad = (message: string, at = line) => errors.push({ line: at, message: `scenario ${i + 1}: ${message}` });
    if (!isMap(node)) return bad("must be a mapping with name, events and expect");
    const js = node.toJSON() as Record<string, unknown>;
    for (const k of Object.keys(js)) if (!SCENARIO_KEYS.has(k)) bad(`unknown key "${k}" (allowed: ${[...SCENARIO_KEYS].join(", ")})`);
    const opts = (js.options ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(opts)) if (!OPTION_KEYS.has(k)) bad(`unknown option "${k}" (allowed: ${[...OPTION_KEYS].join(", ")})`);
    const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : d);
    const s: Scenario = {
      name: typeof js.name === "string" ? js.name : `scenario ${i + 1}`,
      line,
      options: {
        allowed_lateness_ms: num(opts.allowed_lateness_ms, 60_000),
        max_groups: Math.max(1, num(opts.max_groups, 1_000_000)),
        max_entities: Math.max(1, num(opts.max_entities, 200_000)),
        max_window_events: Math.max(1, num(opts.max_window_events, 10_000)),
      },
      items: [],
      expect: [],
      late: typeof js.late === "number" ? js.late : undefined,
      evicted: typeof js.evicted === "number" ? js.evicted : undefined,
    };
    if (js.dropped !== undefined) {
      const d = js.dropped as Record<string, unknown>;
      if (d === null || typeof d !== "object" || Array.isArray(d)) bad(`dropped is a mapping of reason to count (reasons: ${DROP_REASONS.join(", ")})`);
      else {
        s.dropped = {};
        for (const [k, v] of Object.entries(d)) {
          if (!(DROP_REASONS as readonly string[]).includes(k)) bad(`unknown dropped reason "${k}" (allowed: ${DROP_REASONS.join(", ")})`);
          else if (typeof v !== "number" || !Number.isInteger(v) || v < 0) bad(`dropped.${k} must be a count (a whole number, 0 or more)`);
          else s.dropped[k as DropReason] = v;
        }
      }
    }
    const evNode = node.get("events", true);
    if (!isSeq(evNode)) return bad("needs an events list");
    evNode.items.forEach((en) => {
      const at = lineOf(en);
      if (!isMap(en)) return bad("each event is a mapping: {event: {...}} or {format, raw}, optionally with repeat", at);
      const e = en.toJSON() as Record<string, unknown>;
      for (const k of Object.keys(e)) if (!EVENT_KEYS.has(k)) bad(`unknown event key "${k}" (allowed: ${[...EVENT_KEYS].join(", ")})`, at);
      if ((e.event === undefined) === (e.raw === undefined)) return bad("give exactly one of event (a JSON object) or raw (a log line with its format)", at);
      const item: Scenario["items"][number] = { line: at };
      if (e.event !== undefined) {
        if (e.event === null || typeof e.event !== "object" || Array.isArray(e.event)) return bad("event must be a mapping", at);
        item.event = e.event as JsonObject;
      } else {
        if (typeof e.raw !== "string" || typeof e.format !== "string") return bad("raw needs a string and its format (an ingest parser name)", at);
        item.raw = e.raw;
        item.format = e.format;
      }
      if (e.repeat !== undefined) {
        const r = e.repeat as Record<string, unknown>;
        if (r === null || typeof r !== "object") return bad("repeat is {count, every, from, vary}", at);
        for (const k of Object.keys(r)) if (!REPEAT_KEYS.has(k)) bad(`unknown repeat key "${k}" (allowed: ${[...REPEAT_KEYS].join(", ")})`, at);
        const every = parseTimespan(r.every);
        const from = typeof r.from === "string" ? Date.parse(r.from) : NaN;
        const count = typeof r.count === "number" ? r.count : NaN;
        if (!Number.isInteger(count) || count < 1 || count > MAX_EVENTS || every === null || !Number.isFinite(from)) return bad("repeat needs count (1-200000), every (e.g. 1h) and from (an ISO time)", at);
        const vary = (r.vary ?? {}) as Record<string, unknown[]>;
        for (const [k, v] of Object.entries(vary)) if (!Array.isArray(v) || v.length === 0) bad(`repeat.vary.${k} must be a non-empty list of values`, at);
        if (item.raw !== undefined) return bad("repeat works with event, not raw", at);
        item.repeat = { count, every, from, vary };
      }
      s.items.push(item);
    });
    const exNode = node.get("expect", true);
    if (!isSeq(exNode)) return bad("needs an expect list (empty: no hit may happen)");
    exNode.items.forEach((xn) => {
      const at = lineOf(xn);
      if (!isMap(xn)) return bad("each expected hit is a mapping with rule and optional group/entity, lines, value ...", at);
      const x = xn.toJSON() as Record<string, unknown>;
      for (const k of Object.keys(x)) if (!EXPECT_KEYS.has(k)) bad(`unknown expect key "${k}" (allowed: ${[...EXPECT_KEYS].join(", ")})`, at);
      if (typeof x.rule !== "string") return bad("an expected hit names its rule (id or name)", at);
      s.expect.push({ ...x, line: at });
    });
    scenarios.push(s);
  });
  return { scenarios, errors };
}

function setPath(obj: JsonObject, path: string, v: unknown): void {
  const parts = path.split(".");
  let cur: JsonObject = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i];
    if (k === "__proto__" || k === "constructor" || k === "prototype") return;
    if (cur[k] === null || typeof cur[k] !== "object" || Array.isArray(cur[k])) cur[k] = {};
    cur = cur[k] as JsonObject;
  }
  cur[parts[parts.length - 1]] = v as JsonObject[string];
}

interface Outcome {
  hits: { kind: "correlation" | "anomaly"; ruleId: string; hit: CorrelationHit | AnomalyHit; a?: CompiledAnomaly }[];
  late: number;
  evicted: number;
  /** Inputs not added to state, by reason, correlation and baseline engines together. */
  dropped: Record<DropReason, number>;
  error?: string;
}

type Plans = { corr: ReturnType<typeof buildCorrelationPlan>; base: ReturnType<typeof buildBaselines> };
const plans = new WeakMap<Compiled, Map<string, Plans>>();

/**
 * The correlation and anomaly rules a scenario runs: those of its rule file and the inner
 * correlations they reference, so a scenario's outcome (groups, evictions) does not depend on the
 * other rules loaded beside it. Detection rules all stay: correlations reference them.
 */
function plansFor(compiled: Compiled, ruleFile: string): Plans {
  let byFile = plans.get(compiled);
  if (!byFile) plans.set(compiled, (byFile = new Map()));
  const hit = byFile.get(ruleFile);
  if (hit) return hit;
  const all = compiled.loaded.correlations;
  const keep = new Set(all.filter((c) => c.file === ruleFile));
  const refsOf = (c: (typeof all)[number]): string[] => {
    const r = (c.doc.correlation as Record<string, unknown> | undefined)?.rules;
    return typeof r === "string" ? [r] : Array.isArray(r) ? r.map(String) : [];
  };
  for (let grew = true; grew; ) {
    grew = false;
    for (const c of [...keep])
      for (const ref of refsOf(c)) {
        const inner = all.find((x) => x.id === ref || x.name === ref);
        if (inner && !keep.has(inner)) {
          keep.add(inner);
          grew = true;
        }
      }
  }
  const loaded = { ...compiled.loaded, correlations: all.filter((c) => keep.has(c)), others: compiled.loaded.others.filter((o) => o.docKind !== "anomaly" || o.file === ruleFile) };
  const built = { corr: buildCorrelationPlan(loaded, compiled.pipelines), base: buildBaselines(loaded, compiled.pipelines) };
  byFile.set(ruleFile, built);
  return built;
}

/** Runs one scenario through Sigma, correlations and baselines; returns every hit. */
export function runScenario(compiled: Compiled, s: Scenario, normalize: SampleNormalizer | undefined, where: string, ruleFile: string): Outcome {
  const out: Outcome = { hits: [], late: 0, evicted: 0, dropped: { late: 0, suppressed: 0, missing_field: 0, bad_value: 0, evicted: 0 } };
  const { corr, base } = plansFor(compiled, ruleFile);
  const cs = new LocalCorrelationStage(corr.plan, () => {}, {
    allowedLatenessMs: s.options.allowed_lateness_ms,
    budget: new GroupBudget(s.options.max_groups),
    maxWindowEvents: s.options.max_window_events,
    onHit: (h) => out.hits.push({ kind: "correlation", ruleId: h.ruleId, hit: h }),
    onDropped: (d) => {
      if (d.reason === "late") out.late++;
      if (d.reason === "evicted") out.evicted++;
    },
  });
  const bs = new LocalBaselineStage(base.selection, () => {}, {
    allowedLatenessMs: s.options.allowed_lateness_ms,
    budget: new GroupBudget(s.options.max_entities),
    onAnomaly: (a, h) => out.hits.push({ kind: "anomaly", ruleId: a.rule.id, hit: h, a }),
    onDropped: (d) => {
      if (d.reason === "late") out.late++;
      if (d.reason === "evicted") out.evicted++;
    },
  });
  let line = 0;
  let maxTime = -Infinity;
  const feed = (ev: JsonObject) => {
    line++;
    const e = ev as unknown as EcsEvent;
    const t = Date.parse(String(ev["@timestamp"]));
    if (t > maxTime) maxTime = t;
    compiled.plan.match(ev as Record<string, unknown>, (rule) => cs.match(rule, e, { line }));
    bs.observe(e, { line });
    if (line % 256 === 0) {
      cs.advance(maxTime);
      bs.advance(maxTime);
    }
  };
  for (const item of s.items) {
    if (item.repeat) {
      const r = item.repeat;
      for (let i = 0; i < r.count; i++) {
        const ev = structuredClone(item.event!) as JsonObject;
        ev["@timestamp"] = new Date(r.from + i * r.every).toISOString();
        for (const [p, vals] of Object.entries(r.vary)) setPath(ev, p, vals[i % vals.length]);
        setPath(ev, "event.id", `scenario-${line + 1}`);
        feed(ev);
      }
      continue;
    }
    let events: Record<string, unknown>[];
    if (item.raw !== undefined) {
      if (!normalize) return { ...out, error: `line ${item.line}: raw records need the ingest parsers (run through \`sigil rules test\`)` };
      const r = normalize({ raw: item.raw, format: item.format }, `${where}:${item.line}`);
      if (r.error || r.events.length !== 1) return { ...out, error: `line ${item.line}: the record made ${r.events.length} events${r.error ? ` (${r.error})` : ""}` };
      events = r.events;
    } else if (normalize) {
      const r = normalize({ object: item.event }, `${where}:${item.line}`);
      if (r.error || r.events.length !== 1) return { ...out, error: `line ${item.line}: the event made ${r.events.length} events${r.error ? ` (${r.error})` : ""}` };
      events = r.events;
    } else events = [structuredClone(item.event!) as Record<string, unknown>];
    for (const ev of events) {
      const o = ev as JsonObject;
      if (typeof o["@timestamp"] !== "string") return { ...out, error: `line ${item.line}: the event has no @timestamp` };
      const evt = (o.event ?? {}) as JsonObject;
      if (typeof evt.id !== "string") setPath(o, "event.id", `scenario-${line + 1}`);
      feed(o);
    }
  }
  cs.finish();
  bs.finish();
  const c = cs.engine.stats;
  const b = bs.engine.stats;
  out.dropped = { late: c.late + b.late, suppressed: c.suppressed, missing_field: c.missingGroupField + b.missingField, bad_value: c.badValue + b.badValue, evicted: c.evicted + b.evicted };
  return out;
}

function subset(want: Record<string, unknown>, got: Record<string, unknown>): boolean {
  return Object.entries(want).every(([k, v]) => String(got[k]) === String(v));
}

function describeHit(h: Outcome["hits"][number]): string {
  if (h.kind === "correlation") {
    const c = h.hit as CorrelationHit;
    return `${c.type} ${JSON.stringify(c.group)} value ${c.value} lines [${c.events.map((e) => e.line).join(",")}]`;
  }
  const a = h.hit as AnomalyHit;
  return `anomaly ${JSON.stringify(a.entity)} observed ${a.observed} score ${a.score} at ${new Date(a.intervalStart).toISOString()}`;
}

/** Compares the hits of `own` rules with the expectation; returns a failure message or null. */
export function judge(s: Scenario, out: Outcome, own: Map<string, string>): string | null {
  if (out.error) return out.error;
  const ids = new Set(own.keys());
  const resolve = (ref: string) => [...own.entries()].find(([id, name]) => id === ref || name === ref)?.[0];
  const mine = out.hits.filter((h) => ids.has(h.ruleId));
  const left = [...mine];
  for (const x of s.expect) {
    const id = resolve(String(x.rule));
    if (!id) return `line ${x.line}: rule "${String(x.rule)}" is not defined in this rule file`;
    const i = left.findIndex((h) => {
      if (h.ruleId !== id) return false;
      if (h.kind === "correlation") {
        const c = h.hit as CorrelationHit;
        const lines = [...new Set(c.events.map((e) => e.line))].sort((a, b) => (a ?? 0) - (b ?? 0));
        if (x.group && !subset(x.group as Record<string, unknown>, c.group)) return false;
        if (x.lines && JSON.stringify(lines) !== JSON.stringify([...(x.lines as number[])].sort((a, b) => a - b))) return false;
        if (x.value !== undefined && Number(x.value) !== c.value) return false;
        if (x.first_seen !== undefined && Date.parse(String(x.first_seen)) !== c.firstSeen) return false;
        if (x.last_seen !== undefined && Date.parse(String(x.last_seen)) !== c.lastSeen) return false;
        return true;
      }
      const a = h.hit as AnomalyHit;
      if (x.entity && !subset(x.entity as Record<string, unknown>, a.entity)) return false;
      if (x.observed !== undefined && Number(x.observed) !== a.observed) return false;
      if (x.interval_start !== undefined && Date.parse(String(x.interval_start)) !== a.intervalStart) return false;
      if (x.new_values !== undefined && JSON.stringify(x.new_values) !== JSON.stringify(a.newValues ?? [])) return false;
      if (x.lines && JSON.stringify(a.events.map((e) => e.line)) !== JSON.stringify(x.lines)) return false;
      return true;
    });
    if (i < 0) return `line ${x.line}: expected hit not found: ${JSON.stringify(Object.fromEntries(Object.entries(x).filter(([k]) => k !== "line")))}; got ${mine.length ? mine.map(describeHit).join("; ") : "no hits"}`;
    left.splice(i, 1);
  }
  if (left.length) return `unexpected hit(s): ${left.map(describeHit).join("; ")}`;
  if (s.late !== undefined && s.late !== out.late) return `expected ${s.late} late event(s), counted ${out.late}`;
  if (s.evicted !== undefined && s.evicted !== out.evicted) return `expected ${s.evicted} eviction(s), counted ${out.evicted}`;
  for (const [reason, n] of Object.entries(s.dropped ?? {})) {
    const got = out.dropped[reason as DropReason];
    if (got !== n) return `expected ${n} input(s) dropped as ${reason}, counted ${got}`;
  }
  return null;
}

/**
 * Runs the scenarios beside the given rule files. `own(file)` lists the rules (id → name) defined in
 * that file: only their hits are compared.
 */
export function testRuleFiles(compiled: Compiled, files: string[], own: (file: string) => Map<string, string>, normalize?: SampleNormalizer): RuleTestResult[] {
  const results: RuleTestResult[] = [];
  for (const file of [...new Set(files)]) {
    const tests = file.replace(/\.ya?ml$/, ".tests.yml");
    if (!fs.existsSync(tests)) continue;
    const { scenarios, errors } = readScenarios(tests);
    for (const e of errors) results.push({ name: `scenarios file: ${e.message}`, file: `${tests}:${e.line}`, ok: false, message: e.message });
    for (const s of scenarios) {
      const out = runScenario(compiled, s, normalize, tests, file);
      const msg = judge(s, out, own(file));
      results.push({ name: s.name, file: `${tests}:${s.line}`, ok: msg === null, message: msg ?? undefined });
    }
  }
  return results;
}
