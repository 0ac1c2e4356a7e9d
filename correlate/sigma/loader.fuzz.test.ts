// Fuzz: the Sigma rule loader and compiler as `sigil rules lint` and the correlate role run them, fed
// random YAML, random Sigma-shaped rules, and text and structural mutations of real rules (SigmaHQ when
// ../shared/data is present, the project's own always). Every input loads or comes back as problems
// with a snake_case code and a location in the file; nothing throws; what loaded compiles and matches
// hostile events. The budget is SIGIL_FUZZ_RUNS (test/fuzz/support/budget.ts).

import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { fuzzParams, fuzzTimeout, anyString, hostileValue, textMutation, yamlMutation } from "../../test/fuzz/support/budget.ts";
import { checkProblems, checkRuleText as check, FUZZ_FILE as FILE, lintAndCompile, ruleTexts } from "../../test/fuzz/support/rules.ts";
import { sharedDataDir, SHARED_DATA_MISSING, PROJECT_ROOT } from "../../test/support/shared-data.ts";
import { loadRuleTexts } from "./loader.ts";
import { loadPipelines } from "./pipeline.ts";
import { buildPlan } from "./plan.ts";

const pipelines = loadPipelines("all");
const ownRules = ruleTexts(path.join(PROJECT_ROOT, "rules", "sigma"), 200);

// ---- generators of Sigma-shaped rules ----

const MODIFIERS = ["contains", "startswith", "endswith", "all", "re", "i", "m", "s", "base64", "base64offset", "utf16le", "utf16be", "wide", "windash", "cidr", "exists", "gt", "gte", "lt", "lte", "expand", "fieldref", "cased", "bogus", ""];
const FIELDS = ["CommandLine", "Image", "ParentImage", "User", "TargetFilename", "EventID", "c-uri", "cs-method", "src_ip", "DestinationPort", "Hashes", "eventName", "__proto__", "constructor", "a.b.c", "x".repeat(300), ""];

const fieldKey = fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 12 })), fc.array(fc.constantFrom(...MODIFIERS), { maxLength: 3 })).map(([f, ms]) => [f, ...ms].join("|"));
const leaf = fc.oneof(anyString(80), fc.integer(), fc.boolean(), fc.constant(null), fc.double(), fc.constantFrom("*", "?", "\\*", "a*b?c\\", "10.0.0.0/8", "::1/129", "%var%"));
const fieldValue = fc.oneof(leaf, fc.array(leaf, { maxLength: 8 }), fc.integer({ min: 100, max: 1500 }).map((n) => Array.from({ length: n }, (_, i) => `*w${i}*`)));
const selection = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(fieldKey, fieldValue, { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.array(fc.dictionary(fieldKey, fieldValue, { maxKeys: 3 }), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 5 }) },
  { weight: 1, arbitrary: hostileValue() },
);
const conditionPart = fc.constantFrom("selection", "filter", "sel*", "1 of selection*", "all of them", "1 of them", "not", "and", "or", "(", ")", "|", "count() > 5", "near", "all of filter_*", "x".repeat(200));
const condition = fc.oneof(
  fc.array(conditionPart, { minLength: 1, maxLength: 12 }).map((a) => a.join(" ")),
  fc.integer({ min: 50, max: 2000 }).map((n) => "(".repeat(n) + "selection" + ")".repeat(n)),
  fc.integer({ min: 50, max: 2000 }).map((n) => "not ".repeat(n) + "selection"),
  fc.array(fc.constantFrom("selection", "filter"), { minLength: 2, maxLength: 6 }),
  anyString(40),
);
const sigmaRule = fc
  .record(
    {
      title: anyString(60),
      id: fc.oneof(fc.uuid(), anyString(40)),
      status: fc.constantFrom("test", "stable", "experimental", "nonsense"),
      level: fc.constantFrom("low", "medium", "high", "critical", "informational", "extreme"),
      logsource: fc.oneof(fc.record({ product: fc.constantFrom("windows", "linux", "aws", "zeek"), category: fc.constantFrom("process_creation", "webserver", "network_connection", "nope"), service: fc.constantFrom("sshd", "sysmon", "security") }, { requiredKeys: [] }), hostileValue()),
      detection: fc.record({ selection, filter: selection, condition }, { requiredKeys: ["condition"] }),
      tags: fc.array(fc.oneof(fc.constantFrom("attack.t1059.001", "attack.execution", "cve.2021-44228", "attack.T1059"), anyString(20)), { maxLength: 4 }),
      fields: fc.array(anyString(20), { maxLength: 3 }),
      falsepositives: fc.array(anyString(40), { maxLength: 2 }),
      extra: hostileValue(),
    },
    { requiredKeys: ["title", "detection"] },
  )
  .map((r) => stringify(r, { lineWidth: 0 }));

describe("fuzz: the Sigma rule loader", () => {
  it(
    "never throws on random text and random YAML documents",
    () => {
      fc.assert(
        fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: "binary", maxLength: 400 }), hostileValue().map((v) => stringify(v ?? null, { lineWidth: 0 }))), (text) => {
          check(text);
        }),
        fuzzParams(),
      );
    },
    fuzzTimeout(200),
  );

  it(
    "loads Sigma-shaped random rules or answers with located problems, and what loads compiles and matches",
    () => {
      fc.assert(
        fc.property(fc.array(sigmaRule, { minLength: 1, maxLength: 3 }), (docs) => {
          check(docs.join("\n---\n"));
        }),
        fuzzParams(),
      );
    },
    fuzzTimeout(300),
  );

  it(
    "never throws on mutations of the project's own rules",
    () => {
      expect(ownRules.length).toBeGreaterThan(10);
      fc.assert(
        fc.property(fc.oneof(textMutation(ownRules), yamlMutation(ownRules)), (text) => {
          check(text);
        }),
        fuzzParams(),
      );
    },
    fuzzTimeout(300),
  );

  it("refuses hostile YAML with a code: alias bombs, deep nesting, huge files, custom tags", () => {
    const laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 9; i++) laughs.push(`${"bcdefghij"[i]}: &${"bcdefghij"[i]} [${Array(10).fill(`*${"abcdefghij"[i]}`).join(", ")}]`);
    const cases: [string, string][] = [
      ["alias bomb", laughs.join("\n") + "\ntitle: t\ndetection: {sel: {a: '*j'}, condition: sel}\n"],
      ["deep nesting", "title: t\ndetection:\n  sel: " + "[".repeat(5000) + "]".repeat(5000) + "\n  condition: sel\n"],
      ["custom tag", "title: !!js/function 'function(){}'\ndetection: {sel: {a: 1}, condition: sel}\n"],
      ["huge file", "title: t\n#" + "x".repeat(5 * 1024 * 1024) + "\n"],
      ["merge keys", "base: &b {a: 1}\ntitle: t\ndetection:\n  sel: {<<: *b, __proto__: {polluted: 1}}\n  condition: sel\n"],
    ];
    for (const [name, text] of cases) {
      const problems = check(text);
      expect(problems.filter((p) => p.severity === "error").length, name).toBeGreaterThan(0);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  describe.skipIf(!sharedDataDir())(`SigmaHQ rules${sharedDataDir() ? "" : ` (skipped: ${SHARED_DATA_MISSING})`}`, () => {
    const hq = sharedDataDir() ? ruleTexts(path.join(sharedDataDir()!, "sigmahq", "rules"), 400) : [];

    it("load unmutated without errors (the seeds are valid)", () => {
      expect(hq.length).toBeGreaterThan(100);
      const texts = hq.slice(0, 100).map((text, i) => ({ file: `/hq/${i}.yml`, text }));
      const problems = lintAndCompile(texts);
      checkProblems(problems, texts.map((t) => t.file));
      expect(problems.filter((p) => p.severity === "error" && p.code !== "rule_duplicate_id" && p.code !== "rule_duplicate_name")).toEqual([]);
    });

    it(
      "never throw when mutated: every mutant loads or is reported with a code and a location",
      () => {
        fc.assert(
          fc.property(fc.oneof(textMutation(hq), yamlMutation(hq)), (text) => {
            check(text);
          }),
          fuzzParams(2),
        );
      },
      fuzzTimeout(300, 2),
    );
  });

  it("compiles detection fields named like Object.prototype members (fuzz finding: constructor crashed the compiler)", () => {
    for (const field of ["constructor", "toString", "hasOwnProperty", "valueOf", "__proto__", "__defineGetter__"]) {
      const text = stringify({ title: "t", id: "0f0f0f0f-0000-4000-8000-000000000002", logsource: { product: "fuzzprod" }, detection: { sel: { [field]: "x" }, condition: "sel" } });
      const loaded = loadRuleTexts([{ file: FILE, text }]);
      expect(() => buildPlan(loaded, pipelines), field).not.toThrow();
      let hits = 0;
      buildPlan(loaded, pipelines).match({ event: { kind: "event" }, [field]: "x", sigil: { logsource: [{ product: "fuzzprod" }] } }, () => hits++);
      if (field !== "__proto__") expect(hits, field).toBe(1);
    }
  });

  it("keeps hostile rule values from polluting prototypes", () => {
    const text = stringify({ title: "t", id: "0f0f0f0f-0000-4000-8000-000000000001", logsource: { product: "linux" }, detection: { __proto__: { polluted: 1 }, sel: { "constructor|contains": "x", "__proto__.polluted": 1 }, condition: "sel" } });
    check(text);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
