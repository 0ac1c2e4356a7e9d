// Builds the baselines from what the rule loader found: the anomaly documents, checked, with their
// event selections compiled by the Sigma compiler (same field mapping and matching as detection rules).

import { stringify } from "yaml";
import type { Problem } from "../../platform/errors.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import { loadRuleTexts } from "../sigma/loader.ts";
import { registerDocKind } from "../sigma/parse.ts";
import { resolveField, type Pipeline } from "../sigma/pipeline.ts";
import { buildPlan, type Plan } from "../sigma/plan.ts";
import type { LoadedRules, Logsource } from "../sigma/types.ts";
import { compileAnomalies, type CompiledAnomaly } from "./engine.ts";
import { isAnomalyDocument, parseAnomalyDoc, type AnomalyRule } from "./rule.ts";

/** Lets the Sigma rule loader keep anomaly documents (call before loading rule directories). */
export function registerAnomalyDocuments(): void {
  registerDocKind({ kind: "anomaly", matches: isAnomalyDocument });
}
registerAnomalyDocuments();

/** Which anomaly rules an event counts for. */
export class Selection {
  private readonly always: CompiledAnomaly[];
  private readonly byId: Map<string, CompiledAnomaly>;
  private readonly hits: CompiledAnomaly[] = [];
  private readonly onRule = (r: { id: string }) => {
    const a = this.byId.get(r.id);
    if (a) this.hits.push(a);
  };

  constructor(
    readonly anomalies: CompiledAnomaly[],
    private readonly plan: Plan | null,
  ) {
    this.always = anomalies.filter((a) => a.rule.select === null);
    this.byId = new Map(anomalies.filter((a) => a.rule.select !== null).map((a) => [a.rule.id, a]));
  }

  /** The anomaly rules whose selection the event satisfies (a shared array: use before the next call). */
  match(event: JsonObject): CompiledAnomaly[] {
    this.hits.length = 0;
    for (const a of this.always) this.hits.push(a);
    if (this.plan !== null && this.byId.size > 0) this.plan.match(event as Record<string, unknown>, this.onRule);
    return this.hits;
  }
}

export interface BaselineLoad {
  rules: AnomalyRule[];
  anomalies: CompiledAnomaly[];
  selection: Selection;
  problems: Problem[];
}

/** Checks every anomaly document and compiles the valid ones (selections through the given pipelines). */
export function buildBaselines(loaded: Pick<LoadedRules, "others">, pipelines: Pipeline[] = []): BaselineLoad {
  const problems: Problem[] = [];
  const rules: AnomalyRule[] = [];
  for (const d of loaded.others) {
    if (d.docKind !== "anomaly") continue;
    const r = parseAnomalyDoc(d);
    problems.push(...r.problems);
    if (r.rule) rules.push(r.rule);
  }
  // selections: one synthetic Sigma rule per anomaly rule, compiled together
  const texts = rules
    .filter((r) => r.select)
    .map((r) => ({
      file: `${r.file}#${r.id}`,
      text: stringify({ title: `${r.title} (selection)`, id: r.id, status: "test", level: "informational", logsource: r.select!.logsource, detection: r.select!.detection }),
    }));
  let plan: Plan | null = null;
  const bad = new Set<string>();
  if (texts.length) {
    const sel = loadRuleTexts(texts);
    for (const p of sel.problems) {
      const rule = rules.find((r) => p.location?.file === `${r.file}#${r.id}`);
      if (p.severity === "error" && rule) bad.add(rule.id);
      problems.push({
        ...p,
        code: p.code.startsWith("anomaly_") ? p.code : `anomaly_select_${p.code}`,
        message: `anomaly.select: ${p.message}`,
        location: rule ? { file: rule.file, line: rule.selectLine, column: 1 } : p.location,
      });
    }
    plan = buildPlan(sel, pipelines);
  }
  const good = rules.filter((r) => !bad.has(r.id));
  const logsourceOf = (r: AnomalyRule): Logsource => (r.select?.logsource ?? {}) as Logsource;
  const anomalies = compileAnomalies(good, pipelines.length ? (f, r) => resolveField(f, logsourceOf(r), pipelines).candidates : undefined);
  return { rules: good, anomalies, selection: new Selection(anomalies, plan), problems };
}
