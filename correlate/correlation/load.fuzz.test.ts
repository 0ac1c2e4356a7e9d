// Fuzz: the Sigma correlation rule loader (parse, check, compile against the detection rules it names),
// fed random correlation documents and text and structural mutations of the project's correlation rules.
// Every input compiles or comes back as problems with a snake_case code and a location; nothing throws.
// The budget is SIGIL_FUZZ_RUNS (test/fuzz/support/budget.ts).

import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { anyString, fuzzParams, fuzzTimeout, hostileValue, textMutation, yamlMutation } from "../../test/fuzz/support/budget.ts";
import { checkRuleText, ruleTexts } from "../../test/fuzz/support/rules.ts";
import { PROJECT_ROOT } from "../../test/support/shared-data.ts";
import { CORRELATION_TYPES } from "./types.ts";

const seeds = ruleTexts(path.join(PROJECT_ROOT, "rules", "correlation"), 100);

/** Two detection rules a correlation can name, so generated correlations reach the compiler. */
const BASE_RULES = [
  { title: "Failed login", id: "11111111-1111-4111-8111-111111111111", name: "failed_login", logsource: { product: "linux", service: "sshd" }, detection: { sel: { message: "Failed password" }, condition: "sel" }, level: "low" },
  { title: "Login", id: "22222222-2222-4222-8222-222222222222", name: "login", logsource: { product: "linux", service: "sshd" }, detection: { sel: { message: "Accepted password" }, condition: "sel" }, level: "low" },
].map((r) => stringify(r));

const ruleRef = fc.oneof(fc.constantFrom("failed_login", "login", "11111111-1111-4111-8111-111111111111", "missing_rule", "__proto__", "constructor"), anyString(30));
const timespan = fc.oneof(fc.constantFrom("5m", "1h", "30s", "1d", "0s", "999999999d", "-5m", "5x", "", "1y", "1M"), anyString(12), fc.integer());
const condition = fc.oneof(
  fc.record({ gte: fc.oneof(fc.integer(), anyString(8)), lt: fc.integer(), field: fc.oneof(fc.constantFrom("user.name", "source.ip"), anyString(20)) }, { requiredKeys: [] }),
  fc.dictionary(fc.constantFrom("gt", "gte", "lt", "lte", "eq", "neq", "range", "bogus", "__proto__"), fc.oneof(fc.integer(), fc.double(), anyString(10), hostileValue()), { maxKeys: 3 }),
  hostileValue(),
);
const correlation = fc
  .record(
    {
      title: anyString(40),
      id: fc.oneof(fc.uuid(), anyString(40)),
      name: fc.oneof(fc.constantFrom("corr_a", "failed_login"), anyString(20)),
      level: fc.constantFrom("low", "high", "critical", "bogus"),
      correlation: fc.record(
        {
          type: fc.oneof(fc.constantFrom(...CORRELATION_TYPES), anyString(15)),
          rules: fc.oneof(fc.array(ruleRef, { maxLength: 40 }), ruleRef, hostileValue()),
          "group-by": fc.oneof(fc.array(fc.oneof(fc.constantFrom("source.ip", "user.name", "host.name", "constructor"), anyString(20)), { maxLength: 12 }), hostileValue()),
          timespan,
          condition,
          generate: fc.oneof(fc.boolean(), anyString(5)),
          aliases: fc.oneof(fc.dictionary(anyString(15), fc.dictionary(ruleRef, anyString(20), { maxKeys: 3 }), { maxKeys: 40 }), hostileValue()),
          [`x${""}`]: hostileValue(),
        },
        { requiredKeys: [] },
      ),
      tags: fc.array(anyString(20), { maxLength: 3 }),
    },
    { requiredKeys: ["correlation"] },
  )
  .map((r) => stringify(r, { lineWidth: 0 }));

describe("fuzz: the correlation rule loader", () => {
  it(
    "checks random correlation documents: compiled, or problems with a code and a location",
    () => {
      fc.assert(
        fc.property(fc.array(correlation, { minLength: 1, maxLength: 3 }), (docs) => {
          checkRuleText([...BASE_RULES, ...docs].join("\n---\n"));
        }),
        fuzzParams(),
      );
    },
    fuzzTimeout(300),
  );

  it(
    "never throws on text and structural mutations of the project's correlation rules",
    () => {
      expect(seeds.length).toBeGreaterThan(3);
      fc.assert(
        fc.property(fc.oneof(textMutation(seeds), yamlMutation(seeds)), (text) => {
          checkRuleText(text);
        }),
        fuzzParams(2),
      );
    },
    fuzzTimeout(300, 2),
  );

  it("names the key of a problem even when the key is an Object.prototype member", () => {
    const text = [...BASE_RULES, stringify({ title: "c", id: "33333333-3333-4333-8333-333333333333", constructor: 1, toString: 2, correlation: { type: "event_count", rules: ["login"], "group-by": ["user.name"], timespan: "5m", condition: { gte: 2 }, constructor: 3 } })].join("\n---\n");
    const problems = checkRuleText(text);
    expect(problems.map((p) => p.code)).toEqual(expect.arrayContaining(["correlation_unknown_attribute", "correlation_unknown_key"]));
    // fuzz finding: a top-level __proto__ key gave its problem Object.prototype as the line
    const proto = [...BASE_RULES, 'title: c\nid: 44444444-4444-4444-8444-444444444444\ncorrelation:\n  type: event_count\n  rules: [login]\n  group-by: [user.name]\n  timespan: 5m\n  condition: {gte: 2}\n__proto__:\n  - 1\n'].join("\n---\n");
    const unknown = checkRuleText(proto).find((p) => p.code === "correlation_unknown_attribute");
    expect(unknown?.location?.line).toBe(proto.split("\n").indexOf("__proto__:") + 1);
  });
});
