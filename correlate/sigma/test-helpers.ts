// Test helpers: compile rule YAML in memory (no pipelines, so field names are used as written and
// events are routed by their sigil.logsource tag) and ask whether a rule fires on an event.
import { loadRuleTexts } from "./loader.ts";
import { buildPlan, type Plan } from "./plan.ts";
import type { Pipeline } from "./pipeline.ts";
import type { LoadedRules } from "./types.ts";

export const LS = { category: "test", product: "test" };

/** A rule document around a detection block (YAML text indented by 4). */
export function ruleYaml(detection: string, extra = ""): string {
  return `title: t\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n    category: test\n    product: test\n${extra}detection:\n${detection}\nlevel: high\n`;
}

export function compile(text: string, opts: { placeholders?: Record<string, string[]>; pipelines?: Pipeline[] } = {}): { plan: Plan; loaded: LoadedRules } {
  const loaded = loadRuleTexts([{ file: "rule.yml", text }], { placeholders: opts.placeholders });
  const errors = loaded.problems.filter((p) => p.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return { plan: buildPlan(loaded, opts.pipelines ?? []), loaded };
}

/** Whether the (single) rule fires on the event; also checks the prefilter agrees with exhaustive evaluation. */
export function fires(plan: Plan, event: Record<string, unknown>): boolean {
  const ev = { ...event, sigil: { logsource: [LS] } };
  let a = 0;
  let b = 0;
  plan.match(ev, () => a++);
  plan.matchExhaustive(ev, () => b++);
  if (a !== b) throw new Error(`prefilter disagrees with exhaustive evaluation on ${JSON.stringify(event)}`);
  return a > 0;
}

/** Compiles one detection block and returns a predicate over events. */
export function rule(detection: string, opts: { placeholders?: Record<string, string[]> } = {}): (event: Record<string, unknown>) => boolean {
  const { plan } = compile(ruleYaml(detection), opts);
  return (e) => fires(plan, e);
}
