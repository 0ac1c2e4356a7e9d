// `sigil rules test <dir>...`: runs the sample events beside each rule (<rule>.tests.yml) and, when the
// rules include SigmaHQ rules with regression data nearby (or --regression is given), the regression cases.

import fs from "node:fs";
import path from "node:path";
import { configPathFrom, loadConfig } from "../../platform/config/load.ts";
import { UsageError, formatProblem, type Problem } from "../../platform/errors.ts";
import { compileRuleDirs } from "../../correlate/sigma/engine.ts";
import { ruleKinds } from "../../correlate/sigma/kinds.ts";
import { findRegressionDir, readSamples, runRegression, runSamples, samplesFileOf, type TestOutcome } from "../../correlate/sigma/rule-tests.ts";
import { configOption, EXIT, type Command } from "../command.ts";
import { normalizeSample } from "./detect-input.ts";
import { loadRuleKinds } from "./rule-kinds.ts";

export const command: Command = {
  name: "rules test",
  summary: "run the sample events beside each rule and the Sigma regression cases",
  usage: "rules test [<dir>...] [--regression <dir>] [--no-regression] [--json]",
  description: `
Samples: <rule>.yml may have <rule>.tests.yml beside it:
  tests:
    - name: encoded powershell fires
      expect: match            # or no_match
      event: {...}             # a JSON event (ECS or a raw shape such as Windows event JSON)
    - name: plain syslog line
      expect: no_match
      raw: "Jun 14 15:16:01 host sshd[1]: ..."   # or a raw log line
Regression cases (SigmaHQ regression data: cases.jsonl) run for the rules they name; the folder is found
next to the rules (../sigma-regression) or given with --regression. Exit 1 when any test fails.`,
  positionals: true,
  options: {
    regression: { type: "string", valueName: "<dir>", description: "SigmaHQ regression folder (holds cases.jsonl)" },
    "no-regression": { type: "boolean", description: "skip regression cases" },
    pipeline: { type: "string", multiple: true, valueName: "<name>", description: "field-mapping pipeline(s); default: config, else all built-in" },
    json: { type: "boolean", description: "print one JSON object with every result" },
    config: configOption,
  },
  async run(args, ctx) {
    const config = loadConfig({ file: configPathFrom(args.values.config as string | undefined, ctx.env), env: ctx.env });
    const dirs = (args.positionals.length ? args.positionals : config.correlate.rules).map((d) => path.resolve(ctx.cwd, d)).filter((d) => args.positionals.length > 0 || fs.existsSync(d));
    if (dirs.length === 0) throw new UsageError("rules_test_usage", "no rule directories to test", { hint: "give directories, or set correlate.rules in the config" });
    const pipelines = (args.values.pipeline as string[] | undefined) ?? (config.correlate.pipelines.length ? config.correlate.pipelines : "all");
    // rule kinds first: they tell the rule loader about their document kinds (anomaly baselines)
    await loadRuleKinds();
    const compiled = compileRuleDirs(dirs, { pipelines, placeholders: config.correlate.placeholders });
    const plan = compiled.plan;
    const outcomes: TestOutcome[] = [];
    const problems: Problem[] = [];
    let withSamples = 0;
    for (const r of compiled.loaded.rules) {
      const f = samplesFileOf(r.file);
      if (!fs.existsSync(f)) continue;
      withSamples++;
      const { cases, problems: ps } = readSamples(f, r.meta.id);
      problems.push(...ps);
      outcomes.push(...runSamples(plan, cases, normalizeSample));
    }
    let regressionSkipped = 0;
    let regressionDir: string | null = null;
    if (!args.values["no-regression"]) {
      regressionDir = args.values.regression ? path.resolve(ctx.cwd, args.values.regression as string) : findRegressionDir(dirs);
      if (args.values.regression && !fs.existsSync(path.join(regressionDir as string, "cases.jsonl"))) throw new UsageError("regression_not_found", `no cases.jsonl in ${args.values.regression}`, { location: { file: args.values.regression as string } });
      if (regressionDir) {
        const r = runRegression(plan, regressionDir, normalizeSample);
        outcomes.push(...r.outcomes);
        regressionSkipped = r.skipped;
      }
    }
    for (const k of ruleKinds()) if (k.test) for (const t of await k.test(compiled, { normalize: normalizeSample })) outcomes.push({ name: t.name, file: t.file, ok: t.ok, message: t.message });
    for (const p of problems) if (p.severity === "error") outcomes.push({ name: `samples file ${p.code}`, file: p.location?.file ?? "", line: p.location?.line, ok: false, message: p.message });
    const failed = outcomes.filter((o) => !o.ok);
    const passed = outcomes.length - failed.length;
    const rel = (f: string) => path.relative(ctx.cwd, f) || f;
    if (args.values.json) {
      ctx.stdout.write(JSON.stringify({ rules: compiled.loaded.rules.length, rules_with_samples: withSamples, regression_dir: regressionDir, regression_skipped: regressionSkipped, passed, failed: failed.length, results: outcomes.map((o) => ({ ...o, file: rel(o.file) })) }) + "\n");
    } else {
      for (const p of problems) ctx.stderr.write(formatProblem(p) + "\n");
      for (const o of failed) ctx.stdout.write(`FAIL ${rel(o.file)}${o.line ? `:${o.line}` : ""} ${o.name}: ${o.message}\n`);
      ctx.stdout.write(`rules: ${compiled.loaded.rules.length} loaded, ${withSamples} with samples${regressionDir ? `; regression cases from ${rel(regressionDir)}` : ""}\n`);
      ctx.stdout.write(`${passed} passed, ${failed.length} failed\n`);
    }
    return failed.length || outcomes.length === 0 ? (failed.length ? EXIT.failure : EXIT.ok) : EXIT.ok;
  },
};
