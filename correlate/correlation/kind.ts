// Sigma correlation rules as a rule kind of `sigil rules lint`, `sigil detect` and `sigil rules test`
// (correlate/sigma/kinds.ts): references and fields checked at lint time, hits printed by detect in
// event time over its input, scenarios beside the rules run by rules test.

import type { RuleKind } from "../sigma/kinds.ts";
import { buildCorrelationPlan } from "./load.ts";
import { testRuleFiles } from "./scenarios.ts";
import { detectLineOf } from "./signal.ts";
import { LocalCorrelationStage } from "./stage.ts";
import { GroupBudget } from "./engine.ts";
import { eventTime } from "./stage.ts";

/** How often (events) detect pushes the watermark, so `lt` windows close during long inputs. */
const ADVANCE_EVERY = 1_024;
const LATE_LINES_SHOWN = 10;

export const correlationKind: RuleKind = {
  name: "correlation",
  lint(loaded) {
    return buildCorrelationPlan(loaded).problems;
  },
  detect(run) {
    const cfg = run.config?.correlate;
    const { plan } = buildCorrelationPlan(run.compiled.loaded, run.compiled.pipelines);
    let hits = 0;
    const late: number[] = [];
    let lateCount = 0;
    let evicted = 0;
    const lateness = cfg?.allowed_lateness_ms ?? 60_000;
    const stage = new LocalCorrelationStage(plan, () => {}, {
      allowedLatenessMs: lateness,
      budget: new GroupBudget(cfg?.max_groups ?? 1_000_000),
      maxWindowEvents: cfg?.correlation.max_window_events,
      maxEventRefs: cfg?.correlation.max_event_refs,
      onHit: (h) => {
        hits++;
        run.emit(detectLineOf(plan, h));
      },
      onDropped: (d) => {
        if (d.reason === "late") {
          lateCount++;
          if (late.length < LATE_LINES_SHOWN && d.line !== undefined) late.push(d.line);
        } else if (d.reason === "evicted") evicted++;
      },
    });
    let n = 0;
    let maxTime = -Infinity;
    return {
      onMatch(m) {
        if (plan.correlations.length) stage.match(m.rule, m.event as never, { line: m.line });
      },
      onEvent(event) {
        const t = eventTime(event as never);
        if (t > maxTime) maxTime = t;
        if (++n % ADVANCE_EVERY === 0 && plan.correlations.length) stage.advance(maxTime);
      },
      finish() {
        stage.finish();
      },
      summary() {
        if (plan.correlations.length === 0) return [];
        const parts = [`${plan.correlations.length} correlation rules: ${hits} hits`];
        if (lateCount) parts.push(`${lateCount} matches later than correlate.allowed_lateness_ms (${lateness} ms) not correlated (input lines ${late.join(", ")}${lateCount > late.length ? ", ..." : ""})`);
        if (evicted) parts.push(`${evicted} groups evicted at correlate.max_groups`);
        return parts;
      },
    };
  },
  test(compiled, ctx) {
    const files = compiled.loaded.correlations.map((c) => c.file);
    const own = (file: string) => new Map(compiled.loaded.correlations.filter((c) => c.file === file && c.id).map((c) => [c.id!, c.name ?? c.id!]));
    return testRuleFiles(compiled, files, own, ctx?.normalize);
  },
};

export default correlationKind;
