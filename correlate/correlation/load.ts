// Builds the correlation plan from what the Sigma loader found in the rule directories: the
// detection rules (for reference resolution and authors) and the correlation documents.

import type { Problem } from "../../platform/errors.ts";
import type { Level } from "../../schema/signal.ts";
import { resolveField, type Pipeline } from "../sigma/pipeline.ts";
import type { LoadedRules } from "../sigma/types.ts";
import { compileCorrelations, type CorrelationPlan, type FieldResolver } from "./plan.ts";
import { parseCorrelationDoc, type CorrelationRule } from "./rule.ts";
import type { RuleInfo } from "./types.ts";

export interface CorrelationLoad {
  plan: CorrelationPlan;
  rules: CorrelationRule[];
  problems: Problem[];
}

/** Detection rules as the correlation engine sees them. */
export function ruleInfos(loaded: Pick<LoadedRules, "rules">): RuleInfo[] {
  return loaded.rules.map((r) => ({
    id: r.meta.id,
    name: r.meta.name,
    title: r.meta.title,
    level: r.meta.level as Level,
    author: r.meta.author,
    tags: r.meta.tags,
    description: r.meta.description,
    references: r.meta.references,
    status: r.meta.status,
    file: r.file,
    line: r.line,
  }));
}

/**
 * Maps the Sigma field names correlations use (group-by, value fields, alias targets) to ECS paths
 * for each referenced detection rule's logsource, through the same pipelines the matcher uses.
 */
export function pipelineResolver(loaded: Pick<LoadedRules, "rules">, pipelines: Pipeline[]): FieldResolver {
  const byId = new Map(loaded.rules.map((r) => [r.meta.id, r.logsource]));
  return (field, ruleId) => {
    const ls = byId.get(ruleId);
    return ls ? resolveField(field, ls, pipelines).candidates : [field];
  };
}

/** Checks every correlation document and compiles the valid ones; problems of both steps are returned. */
export function buildCorrelationPlan(loaded: Pick<LoadedRules, "rules" | "correlations">, pipelines: Pipeline[] = []): CorrelationLoad {
  const problems: Problem[] = [];
  const rules: CorrelationRule[] = [];
  for (const d of loaded.correlations) {
    const r = parseCorrelationDoc(d);
    problems.push(...r.problems);
    if (r.rule) rules.push(r.rule);
  }
  const compiled = compileCorrelations(ruleInfos(loaded), rules, pipelines.length ? pipelineResolver(loaded, pipelines) : undefined);
  problems.push(...compiled.problems);
  return { plan: compiled.plan, rules, problems };
}
