// Loader and lint: every problem has a stable code and the exact position (line, column), in lint mode
// all problems of a file are reported at once; SigmaHQ's quirks load; rule size limits hold.
import { describe, expect, it } from "vitest";
import { loadRuleTexts } from "./loader.ts";
import { parseCondition, ConditionError } from "./condition.ts";

function problems(text: string, opts = {}) {
  return loadRuleTexts([{ file: "r.yml", text }], opts).problems.map((p) => ({ code: p.code, severity: p.severity, line: p.location?.line, column: p.location?.column }));
}

const head = "title: t\nid: 11111111-2222-3333-4444-555555555555\nlogsource: {category: process_creation, product: windows}\n";

describe("rule lint", () => {
  it("a valid rule has no problems (and loads through the fast reader)", () => {
    const r = loadRuleTexts([{ file: "r.yml", text: `${head}detection:\n    sel: {Image|endswith: '\\x.exe'}\n    condition: sel\nlevel: high\n` }]);
    expect(r.problems).toEqual([]);
    expect(r.rules).toHaveLength(1);
    expect(r.rules[0].line).toBe(1);
  });
  it("unknown modifier: error at the key", () => {
    expect(problems(`${head}detection:\n    sel:\n        Image|endwith: x\n    condition: sel\n`)).toEqual([{ code: "modifier_unknown", severity: "error", line: 6, column: 9 }]);
  });
  it("unknown condition identifier: error at its column in the condition", () => {
    expect(problems(`${head}detection:\n    sel: {A: x}\n    condition: sel and filtr\n`)).toEqual([{ code: "condition_unknown_identifier", severity: "error", line: 6, column: 24 }]);
  });
  it("a pattern that matches nothing, obsolete aggregations and syntax errors", () => {
    expect(problems(`${head}detection:\n    sel: {A: x}\n    condition: 1 of filter_*\n`)[0]).toMatchObject({ code: "condition_pattern_matches_nothing", line: 6, column: 21 });
    expect(problems(`${head}detection:\n    sel: {A: x}\n    condition: sel | count() > 5\n`)[0]).toMatchObject({ code: "condition_aggregation_unsupported", line: 6 });
    expect(problems(`${head}detection:\n    sel: {A: x}\n    condition: (sel\n`)[0]).toMatchObject({ code: "condition_syntax", line: 6 });
  });
  it("malformed values: bad cidr, bad regex, exists without a boolean, fieldref with wildcards", () => {
    expect(problems(`${head}detection:\n    sel:\n        Ip|cidr: '10.0.0.1/8'\n    condition: sel\n`)).toEqual([{ code: "value_bad_cidr", severity: "error", line: 6, column: 18 }]);
    expect(problems(`${head}detection:\n    sel:\n        A|re: '(unclosed'\n    condition: sel\n`)[0]).toMatchObject({ code: "value_bad_regex", line: 6, column: 15 });
    expect(problems(`${head}detection:\n    sel:\n        A|re: '(?=x)y'\n    condition: sel\n`)[0]).toMatchObject({ code: "value_bad_regex" });
    expect(problems(`${head}detection:\n    sel:\n        A|exists: 'true'\n    condition: sel\n`)[0]).toMatchObject({ code: "modifier_bad_value", line: 6 });
    expect(problems(`${head}detection:\n    sel:\n        A|fieldref: 'B*'\n    condition: sel\n`)[0]).toMatchObject({ code: "modifier_bad_value" });
    expect(problems(`${head}detection:\n    sel:\n        A|gt: abc\n    condition: sel\n`)[0]).toMatchObject({ code: "modifier_bad_value" });
  });
  it("modifier order and conflicts", () => {
    expect(problems(`${head}detection:\n    sel:\n        A|contains|re: x\n    condition: sel\n`)[0]).toMatchObject({ code: "modifier_bad_order", line: 6, column: 9 });
    expect(problems(`${head}detection:\n    sel:\n        A|i: x\n    condition: sel\n`)[0]).toMatchObject({ code: "modifier_bad_order" });
    expect(problems(`${head}detection:\n    sel:\n        A|contains|startswith: x\n    condition: sel\n`)[0]).toMatchObject({ code: "modifier_conflict" });
    expect(problems(`${head}detection:\n    sel:\n        A|base64: 'x*'\n    condition: sel\n`)[0]).toMatchObject({ code: "modifier_bad_value" });
  });
  it("null inside a value list, mixed lists, missing parts", () => {
    expect(problems(`${head}detection:\n    sel:\n        A: ['', null]\n    condition: sel\n`)[0]).toMatchObject({ code: "detection_null_in_list", line: 6, column: 12 });
    expect(problems(`${head}detection:\n    sel:\n        - A: x\n        - keyword\n    condition: sel\n`)[0]).toMatchObject({ code: "detection_mixed_list", line: 6 });
    expect(problems(`${head}detection:\n    sel: {A: x}\n`)[0]).toMatchObject({ code: "rule_missing_condition" });
    expect(problems(`title: t\ndetection:\n    sel: {A: x}\n    condition: sel\n`).map((p) => p.code)).toContain("rule_missing_logsource");
    expect(problems(`${head}detection:\n    sel: {A: x}\n    condition: sel\nlevel: severe\n`)[0]).toMatchObject({ code: "rule_bad_level", line: 7, column: 8 });
  });
  it("collects every problem of a file at once (lint mode)", () => {
    const codes = problems(`${head}detection:\n    a:\n        X|nope: 1\n    b:\n        Ip|cidr: bad\n    condition: a and b and c\n`).map((p) => p.code);
    expect(codes).toEqual(["modifier_unknown", "value_bad_cidr", "condition_unknown_identifier"]);
  });
  it("YAML errors and duplicate keys carry positions", () => {
    expect(problems(`${head}detection:\n    sel: {A: x\n    condition: sel\n`)[0]).toMatchObject({ code: "yaml_syntax" });
    expect(problems(`${head}detection:\n    sel: {A: x}\n    sel: {B: y}\n    condition: sel\n`)[0]).toMatchObject({ code: "yaml_syntax", line: 6 });
  });
  it("duplicate ids across files are errors", () => {
    const t = `${head}detection:\n    sel: {A: x}\n    condition: sel\n`;
    const r = loadRuleTexts([{ file: "a.yml", text: t }, { file: "b.yml", text: t }]);
    expect(r.problems.map((p) => [p.code, p.location?.file])).toEqual([["rule_duplicate_id", "b.yml"]]);
  });
  it("unconfigured expand placeholders: the rule loads inactive with a warning", () => {
    const r = loadRuleTexts([{ file: "r.yml", text: `${head}detection:\n    sel:\n        User|expand: '%Admins%'\n    condition: sel\n` }]);
    expect(r.problems.map((p) => [p.code, p.severity])).toEqual([["placeholder_unresolved", "warning"]]);
    expect(r.rules[0].inactiveReason).toContain("Admins");
  });
  it("bounds rule size: windash variants and value counts", () => {
    expect(problems(`${head}detection:\n    sel:\n        A|windash: ' -a -b -c -d -e -f'\n    condition: sel\n`)[0]).toMatchObject({ code: "value_too_large" });
    const many = Array.from({ length: 10_001 }, (_, i) => `'v${i}'`).join(", ");
    expect(problems(`${head}detection:\n    sel:\n        A: [${many}]\n    condition: sel\n`)[0]).toMatchObject({ code: "rule_too_large" });
  });
  it("hex and exponent YAML numbers stay the text the author wrote", () => {
    const r = loadRuleTexts([{ file: "r.yml", text: `${head}detection:\n    sel:\n        GrantedAccess: 0x1010\n    condition: sel\n` }]);
    const v = (r.rules[0].identifiers.get("sel") as any).entries[0].values[0];
    expect(v).toMatchObject({ k: "str", plain: "0x1010" });
  });
  it("classifies multi-document files: correlation documents keep file and line positions", () => {
    const text = `${head}name: failed_logon\ndetection:\n    sel: {EventID: 4625}\n    condition: sel\n---\ntitle: Many failed logons\nid: 0e95725d-7320-415d-80f7-004da920fc11\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 5m\n    condition: {gte: 3}\nlevel: high\n`;
    const r = loadRuleTexts([{ file: "c.yml", text }]);
    expect(r.problems).toEqual([]);
    expect(r.rules[0].meta.name).toBe("failed_logon");
    expect(r.correlations).toHaveLength(1);
    expect(r.correlations[0]).toMatchObject({ id: "0e95725d-7320-415d-80f7-004da920fc11", line: 9, file: "c.yml" });
    expect(r.correlations[0].keyLines["correlation.timespan"]).toBe(15);
    expect((r.correlations[0].doc.correlation as any).rules).toEqual(["failed_logon"]);
  });
  it("rejects legacy action: global collections", () => {
    expect(problems(`action: global\ntitle: x\n---\n${head}detection:\n    sel: {A: x}\n    condition: sel\n`)[0]).toMatchObject({ code: "rule_legacy_collection", line: 1 });
  });
});

describe("condition parser", () => {
  it("reports the column of the problem", () => {
    try {
      parseCondition("a and (b or", ["a", "b"]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConditionError);
      expect((err as ConditionError).code).toBe("condition_syntax");
      expect((err as ConditionError).column).toBe(11);
    }
  });
  it("resolves x of patterns at load time; a pattern without * selects one identifier", () => {
    expect(parseCondition("1 of sel*", ["selection", "sel_x", "filter"])).toEqual({ t: "of", all: false, names: ["selection", "sel_x"], pattern: "sel*" });
    expect(parseCondition("all of filter", ["filter", "filter_x"])).toMatchObject({ names: ["filter"] });
    expect(parseCondition("1 of filter_*", ["filter", "filter_a"])).toMatchObject({ names: ["filter_a"] });
  });
  it("bounds nesting depth", () => {
    expect(() => parseCondition("(".repeat(100) + "a" + ")".repeat(100), ["a"])).toThrow(/deeper/);
  });
});
