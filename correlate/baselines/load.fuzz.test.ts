// Fuzz: the anomaly baseline loader (strict schema, selection compiled by the Sigma compiler), fed random
// anomaly documents and text and structural mutations of the project's anomaly rules. Every input
// compiles or comes back as problems with a snake_case code and a location; nothing throws.
// The budget is SIGIL_FUZZ_RUNS (test/fuzz/support/budget.ts).

import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { anyString, fuzzParams, fuzzTimeout, hostileValue, textMutation, yamlMutation } from "../../test/fuzz/support/budget.ts";
import { checkRuleText, ruleTexts } from "../../test/fuzz/support/rules.ts";
import { PROJECT_ROOT } from "../../test/support/shared-data.ts";
import { METHODS, METRICS, SEASONALITY } from "./rule.ts";

const seeds = ruleTexts(path.join(PROJECT_ROOT, "rules", "anomaly"), 100);

const duration = fc.oneof(fc.constantFrom("1h", "1m", "14d", "1000d", "999999999s", "0h", "1y", "1M", "h", ""), anyString(10), fc.integer());
const num = fc.oneof(fc.double(), fc.integer(), anyString(6), fc.constant(null));
const anomaly = fc
  .record(
    {
      title: anyString(40),
      id: fc.oneof(fc.uuid(), anyString(40)),
      level: fc.constantFrom("low", "high", "bogus"),
      anomaly: fc.record(
        {
          select: fc.oneof(
            fc.record({ logsource: fc.record({ product: fc.constantFrom("linux", "windows"), service: fc.constantFrom("sshd", "x") }, { requiredKeys: [] }), detection: fc.record({ sel: fc.dictionary(anyString(15), hostileValue(), { maxKeys: 3 }), condition: fc.oneof(fc.constant("sel"), anyString(20)) }) }, { requiredKeys: [] }),
            hostileValue(),
          ),
          entity: fc.oneof(fc.constantFrom("user.name", "host.name", "__proto__", "constructor"), fc.array(anyString(20), { maxLength: 6 }), hostileValue()),
          metric: fc.oneof(fc.constantFrom(...METRICS), anyString(10)),
          field: fc.oneof(fc.constantFrom("source.ip", "bytes"), anyString(20)),
          interval: duration,
          baseline: fc.record({ method: fc.oneof(fc.constantFrom(...METHODS), anyString(8)), history: duration, warmup: num, seasonality: fc.oneof(fc.constantFrom(...SEASONALITY), anyString(8)), min_seasonal_samples: num, min_spread: num, alpha: num }, { requiredKeys: [] }),
          threshold: fc.oneof(fc.record({ score: num, direction: fc.constantFrom("up", "down", "both", "sideways"), min_value: num }, { requiredKeys: [] }), hostileValue()),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ["anomaly"] },
  )
  .map((r) => stringify(r, { lineWidth: 0 }));

describe("fuzz: the anomaly baseline loader", () => {
  it(
    "checks random anomaly documents: compiled, or problems with a code and a location",
    () => {
      fc.assert(
        fc.property(fc.array(anomaly, { minLength: 1, maxLength: 3 }), (docs) => {
          checkRuleText(docs.join("\n---\n"));
        }),
        fuzzParams(),
      );
    },
    fuzzTimeout(300),
  );

  it(
    "never throws on text and structural mutations of the project's anomaly rules",
    () => {
      expect(seeds.length).toBeGreaterThan(0);
      fc.assert(
        fc.property(fc.oneof(textMutation(seeds), yamlMutation(seeds)), (text) => {
          checkRuleText(text);
        }),
        fuzzParams(2),
      );
    },
    fuzzTimeout(300, 2),
  );
});
