// Anomaly baselines as a rule kind of `sigil rules lint`, `sigil detect` and `sigil rules test`
// (correlate/sigma/kinds.ts). Importing it lets the rule loader keep anomaly documents.

import type { RuleKind } from "../sigma/kinds.ts";
import { GroupBudget } from "../correlation/engine.ts";
import { testRuleFiles } from "../correlation/scenarios.ts";
import { eventTime } from "../correlation/stage.ts";
import { buildBaselines, registerAnomalyDocuments } from "./load.ts";
import { anomalyLineOf } from "./signal.ts";
import { LocalBaselineStage } from "./stage.ts";

registerAnomalyDocuments();

const ADVANCE_EVERY = 1_024;

export const anomalyKind: RuleKind = {
  name: "anomaly",
  lint(loaded) {
    return buildBaselines(loaded).problems;
  },
  detect(run) {
    const cfg = run.config?.correlate;
    const b = buildBaselines(run.compiled.loaded, run.compiled.pipelines);
    let anomalies = 0;
    let late = 0;
    const lateness = cfg?.allowed_lateness_ms ?? 60_000;
    const stage = new LocalBaselineStage(b.selection, () => {}, {
      allowedLatenessMs: lateness,
      budget: new GroupBudget(cfg?.baselines.max_entities ?? 200_000),
      maxDistinctValues: cfg?.baselines.max_distinct_values,
      maxSeenValues: cfg?.baselines.max_seen_values,
      onAnomaly: (a, hit) => {
        anomalies++;
        run.emit(anomalyLineOf(a, hit));
      },
      onDropped: (d) => {
        if (d.reason === "late") late++;
      },
    });
    let n = 0;
    let maxTime = -Infinity;
    return {
      onEvent(event, line) {
        if (b.anomalies.length === 0) return;
        stage.observe(event as never, { line });
        const t = eventTime(event as never);
        if (t > maxTime) maxTime = t;
        if (++n % ADVANCE_EVERY === 0) stage.advance(maxTime);
      },
      finish() {
        stage.finish();
      },
      summary() {
        if (b.anomalies.length === 0) return [];
        return [`${b.anomalies.length} anomaly rules: ${anomalies} anomalies${late ? `, ${late} events later than correlate.allowed_lateness_ms not counted` : ""}`];
      },
    };
  },
  test(compiled, ctx) {
    const docs = compiled.loaded.others.filter((o) => o.docKind === "anomaly");
    const own = (file: string) =>
      new Map(docs.filter((d) => d.file === file && typeof d.doc.id === "string").map((d) => [String(d.doc.id).toLowerCase(), typeof d.doc.name === "string" ? d.doc.name : String(d.doc.id)]));
    return testRuleFiles(compiled, docs.map((d) => d.file), own, ctx?.normalize);
  },
};

export default anomalyKind;
