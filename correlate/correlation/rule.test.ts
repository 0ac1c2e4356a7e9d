// Lint of correlation rules: every problem has a stable code and the line of the key at fault.
import { describe, expect, it } from "vitest";
import { loadRuleTexts } from "../sigma/loader.ts";
import { parseExpression, parseTimespan, toNnf, evalNnf, resolveExpression, firingMode } from "./condition.ts";
import { buildCorrelationPlan } from "./load.ts";
import { detectionRule } from "./testing.ts";

function lint(text: string) {
  const loaded = loadRuleTexts([{ file: "c.yml", text }]);
  const built = buildCorrelationPlan(loaded);
  return [...loaded.problems, ...built.problems].map((p) => ({ code: p.code, line: p.location?.line, severity: p.severity }));
}

const base = detectionRule("failed_logon", "1") + detectionRule("successful_logon", "2");
// the correlation document follows the two detection rules (2 × 10 lines); its title is on line L
const L = 22;

describe("correlation lint", () => {
  it("a valid rule has no problems", () => {
    expect(lint(base + "---\ntitle: ok\nid: 0e95725d-7320-415d-80f7-004da920fc11\ncorrelation:\n  type: event_count\n  rules: failed_logon\n  group-by: [user.name]\n  timespan: 5m\n  condition: {gte: 3}\n")).toEqual([]);
  });

  it.each([
    ["unknown type", "  type: event_sum\n  rules: [failed_logon]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 3}", "correlation_type_unknown", L + 3],
    ["missing timespan", "  type: event_count\n  rules: [failed_logon]\n  group-by: [u]\n  condition: {gte: 3}", "correlation_timespan_missing", L + 2],
    ["bad timespan unit", "  type: event_count\n  rules: [failed_logon]\n  group-by: [u]\n  timespan: 5x\n  condition: {gte: 3}", "correlation_timespan_invalid", L + 6],
    ["unknown key", "  type: event_count\n  rules: [failed_logon]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 3}\n  groupby: [x]", "correlation_unknown_key", L + 8],
    ["unknown operator", "  type: event_count\n  rules: [failed_logon]\n  group-by: [u]\n  timespan: 5m\n  condition: {more_than: 3}", "correlation_condition_operator", L + 7],
    ["no condition", "  type: value_count\n  rules: [failed_logon]\n  group-by: [u]\n  timespan: 5m", "correlation_condition_missing", L + 2],
    ["value type without field", "  type: value_sum\n  rules: [failed_logon]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 3}", "correlation_field_missing", L + 7],
    ["percentile without percentile", "  type: value_percentile\n  rules: [failed_logon]\n  group-by: [u]\n  timespan: 5m\n  condition: {field: x, gte: 3}", "correlation_percentile_missing", L + 7],
    ["unresolved reference", "  type: event_count\n  rules: [no_such_rule]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 3}", "correlation_rule_unresolved", L + 4],
    ["expression on a count type", "  type: event_count\n  rules: [failed_logon]\n  group-by: [u]\n  timespan: 5m\n  condition: 'failed_logon'", "correlation_condition_invalid", L + 7],
    ["bad expression", "  type: temporal\n  rules: [failed_logon, successful_logon]\n  group-by: [u]\n  timespan: 5m\n  condition: 'failed_logon and (successful_logon'", "correlation_expression_invalid", L + 7],
    ["expression leaves a rule out", "  type: temporal\n  rules: [failed_logon, successful_logon]\n  group-by: [u]\n  timespan: 5m\n  condition: 'failed_logon'", "correlation_expression_rule_unused", L + 7],
    ["alias naming a foreign rule", "  type: temporal\n  rules: [failed_logon, successful_logon]\n  group-by: [acct]\n  timespan: 5m\n  aliases:\n    acct: {other_rule: x}", "correlation_alias_rule_unknown", L + 7],
    ["generate not a boolean", "  type: temporal\n  rules: [failed_logon, successful_logon]\n  group-by: [u]\n  timespan: 5m\n  generate: yes please", "correlation_generate_invalid", L + 7],
  ])("%s → %s at its line", (_name, body, code, line) => {
    const ps = lint(base + `---\ntitle: t\nid: 0e95725d-7320-415d-80f7-004da920fc11\ncorrelation:\n${body}\n`);
    expect(ps).toContainEqual({ code, line, severity: "error" });
  });

  it("warns about a missing group-by and an unreachable temporal condition", () => {
    const ps = lint(base + "---\ntitle: t\nid: 0e95725d-7320-415d-80f7-004da920fc11\ncorrelation:\n  type: temporal\n  rules: [failed_logon, successful_logon]\n  timespan: 5m\n  condition: {gte: 3}\n");
    expect(ps).toContainEqual({ code: "correlation_group_by_missing", line: L + 2, severity: "warning" });
    expect(ps).toContainEqual({ code: "correlation_condition_unreachable", line: L + 6, severity: "warning" });
  });

  it("reports reference cycles between correlations", () => {
    const cyc = (id: string, name: string, ref: string) => `---\ntitle: ${name}\nid: ${id}\nname: ${name}\ncorrelation:\n  type: event_count\n  rules: [${ref}]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 2}\n`;
    const ps = lint(base + cyc("aaaaaaaa-0000-4000-8000-000000000001", "c_one", "c_two") + cyc("aaaaaaaa-0000-4000-8000-000000000002", "c_two", "c_one"));
    expect(ps.filter((p) => p.code === "correlation_cycle")).toHaveLength(2);
  });
});

describe("timespans and conditions", () => {
  it("parses spec and pySigma units; M is a month, m a minute", () => {
    expect(parseTimespan("90m")).toBe(5_400_000);
    expect(parseTimespan("2h")).toBe(7_200_000);
    expect(parseTimespan("1d")).toBe(86_400_000);
    expect(parseTimespan("1w")).toBe(604_800_000);
    expect(parseTimespan("1M")).toBe(2_629_746_000);
    expect(parseTimespan("1y")).toBe(31_556_952_000);
    for (const bad of ["0m", "5", "m", "5 m", "-5m", "5mm", 5]) expect(parseTimespan(bad)).toBeNull();
  });

  it("expressions: precedence not > and > or, NNF, evaluation over present rules", () => {
    const e = parseExpression("a or b and not c");
    expect(e).toMatchObject({ t: "or" });
    const missing = resolveExpression(e, new Map([["a", 0], ["b", 1], ["c", 2]]));
    expect(missing).toEqual([]);
    const nnf = toNnf(e);
    const has = (...i: number[]) => i.reduce((m, x) => m | (1 << x), 0);
    expect(evalNnf(nnf, has(0), has(0))).toBe(true);
    expect(evalNnf(nnf, has(1), has(1))).toBe(true);
    expect(evalNnf(nnf, has(1, 2), has(1, 2))).toBe(false);
    const neg = toNnf(parseExpression("not (a or b)"));
    expect(neg).toEqual({ t: "and", args: [{ t: "not", arg: { t: "ref", name: "a", index: -1 } }, { t: "not", arg: { t: "ref", name: "b", index: -1 } }] });
  });

  it("decides when a condition can fire: at once for lower bounds, at window close for upper bounds and absence", () => {
    expect(firingMode({ kind: "numeric", clauses: [{ op: "gte", value: 3 }] })).toBe("arrival");
    expect(firingMode({ kind: "numeric", clauses: [{ op: "gt", value: 1 }, { op: "lte", value: 5 }] })).toBe("close");
    const e = parseExpression("a and not b");
    const nnf = toNnf(e);
    expect(firingMode({ kind: "expression", source: "", expr: e, nnf, hasNegation: true })).toBe("close");
  });
});
