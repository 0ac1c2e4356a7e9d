// Assembles the correlate engines from rule directories: the Sigma plan (detection), the correlation
// plan and engine (Sigma correlation rules), and wires their output into a Pipeline as Signals.
// A new Engine is built per rule change and swapped in whole (compile once, evaluate many).

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { EcsEvent } from "../schema/ecs.ts";
import { derivedId } from "../schema/event-id.ts";
import { UsageError, formatProblem, type Problem } from "../platform/errors.ts";
import type { CorrelateConfig } from "../platform/config/schema.ts";
import { loadRules } from "./sigma/loader.ts";
import { loadPipelines } from "./sigma/pipeline.ts";
import { buildPlan, type Plan } from "./sigma/plan.ts";
import { buildCorrelationPlan } from "./correlation/load.ts";
import { GroupBudget } from "./correlation/engine.ts";
import type { CorrelationPlan } from "./correlation/plan.ts";
import { LocalCorrelationStage } from "./correlation/stage.ts";
import { buildBaselines, type Selection } from "./baselines/load.ts";
import { LocalBaselineStage } from "./baselines/stage.ts";
import type { CorrelationStage, DetectionStage, MatchedRule, Pipeline } from "./pipeline.ts";

/** The project's own rules (rules/sigma, rules/correlation, rules/anomaly), next to this package. */
export const PROJECT_RULE_DIRS = ["sigma", "correlation", "anomaly"].map((d) => path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../rules", d));

export interface EngineOptions {
  /** Rule files and directories. */
  rules: string[];
  config: CorrelateConfig;
  cwd: string;
  /** Collect rule problems instead of failing on the first error (lint-like; default false). */
  lenient?: boolean;
}

export interface Engine {
  detection: DetectionStage;
  sigma: Plan;
  correlationPlan: CorrelationPlan;
  correlationRules: number;
  anomalyRules: number;
  /** Anomaly baselines: which events each rule observes. */
  baselines: Selection;
  /** Warnings (and, when lenient, errors) found while loading. */
  problems: Problem[];
  /** Connects a pipeline: correlation hits and anomalies are emitted through it. */
  attach(p: Pipeline): CorrelationStage;
}

/** Loads and compiles every rule under `rules`; throws a UsageError naming the first broken rule. */
export async function buildEngine(o: EngineOptions): Promise<Engine> {
  const dirs = o.rules.map((d) => path.resolve(o.cwd, d)).filter((d, i, a) => a.indexOf(d) === i);
  for (const d of dirs) {
    if (!fs.existsSync(d)) throw new UsageError("rules_not_found", `rule path ${d} does not exist`, { location: { file: d }, hint: "give rule directories with --rules" });
  }
  const loaded = loadRules(dirs, { placeholders: o.config.placeholders });
  const pipelines = loadPipelines(o.config.pipelines.length ? o.config.pipelines : "all");
  const corr = buildCorrelationPlan(loaded, pipelines);
  const base = buildBaselines(loaded, pipelines);
  const problems = [...loaded.problems, ...corr.problems, ...base.problems];
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length && !o.lenient) {
    throw new UsageError(errors[0].code, `${errors.length} rule problem(s); first: ${formatProblem(errors[0])}`, {
      location: errors[0].location,
      hint: "run `sigil rules lint <dir>` to see every problem",
    });
  }
  const sigma = buildPlan(loaded, pipelines);
  const active = sigma.rules.filter((r) => !r.inactive).length;
  const detection: DetectionStage = {
    ruleCount: active,
    match(e: EcsEvent, onMatch: (rule: MatchedRule) => void) {
      sigma.match(e as unknown as Record<string, unknown>, onMatch as unknown as (rule: import("./sigma/plan.ts").RuleInfo) => void);
    },
  };
  const corrPlan = corr.plan;
  const anomalyRules = base.anomalies.length;
  return {
    detection,
    sigma,
    correlationPlan: corrPlan,
    correlationRules: corrPlan.correlations.length,
    anomalyRules,
    baselines: base.selection,
    problems,
    attach(p: Pipeline): CorrelationStage {
      // every correlation evaluated in this process (replay, tests); the role routes instead
      const stage = new LocalCorrelationStage(corrPlan, p.emit, { allowedLatenessMs: o.config.allowed_lateness_ms, budget: new GroupBudget(o.config.max_groups) });
      p.setCorrelation(stage);
      const b = o.config.baselines;
      if (base.anomalies.length) {
        p.setBaselines(new LocalBaselineStage(base.selection, p.emit, { allowedLatenessMs: o.config.allowed_lateness_ms, budget: new GroupBudget(b.max_entities), maxDistinctValues: b.max_distinct_values, maxSeenValues: b.max_seen_values }));
      }
      return stage;
    },
  };
}

/** Deterministic id of the engine's rule set (for checkpoints taken under one plan). */
export function engineFingerprint(e: Engine): string {
  return derivedId("engine", String(e.sigma.stats.rules), e.correlationPlan.fingerprint);
}
