// `sigil rules lint <dir>...`: validates rule files (detection, correlation, filter documents) and
// pipeline files, reporting every error and warning with a stable code, file, line and column.

import fs from "node:fs";
import path from "node:path";
import { configPathFrom, loadConfig } from "../../platform/config/load.ts";
import { formatProblem, type Problem } from "../../platform/errors.ts";
import { loadRules } from "../../correlate/sigma/loader.ts";
import { BUILTIN_PIPELINE_DIR, loadPipelines, parsePipelineText, type Pipeline } from "../../correlate/sigma/pipeline.ts";
import { routingProblems } from "../../correlate/sigma/engine.ts";
import { buildPlan } from "../../correlate/sigma/plan.ts";
import { ruleKinds } from "../../correlate/sigma/kinds.ts";
import { configOption, EXIT, type Command } from "../command.ts";
import { loadRuleKinds } from "./rule-kinds.ts";

export const command: Command = {
  name: "rules lint",
  summary: "validate rule and pipeline files; every problem with code, file, line and column",
  usage: "rules lint [<dir|file>...] [--json] [--pipeline <name>...]",
  description: `
Without arguments lints the configured rule directories (correlate.rules) and rules/pipelines.
--json prints {"loaded": N, "failed": [{"file","line","column","code","message"}], "warnings": [...]}.
Exit 0 when no rule has an error, 1 otherwise, 2 for bad usage.`,
  positionals: true,
  options: {
    json: { type: "boolean", description: "print one JSON object instead of lines" },
    pipeline: { type: "string", multiple: true, valueName: "<name>", description: "pipelines used to check routing (default: config, else all built-in)" },
    config: configOption,
  },
  async run(args, ctx) {
    const config = loadConfig({ file: configPathFrom(args.values.config as string | undefined, ctx.env), env: ctx.env });
    const dirs = (args.positionals.length ? args.positionals : [...config.correlate.rules, path.relative(ctx.cwd, BUILTIN_PIPELINE_DIR)]).map((d) => path.resolve(ctx.cwd, d));
    // rule kinds first: they tell the rule loader about their document kinds (anomaly baselines)
    await loadRuleKinds();
    const loaded = loadRules(dirs, { placeholders: config.correlate.placeholders });
    const problems: Problem[] = [...loaded.problems];
    // Pipeline files among the inputs are validated as pipelines, not as rules.
    let pipelines: Pipeline[] = [];
    const pipelineFiles = loaded.others.filter((o) => o.docKind === "pipeline").map((o) => o.file);
    for (const f of new Set(pipelineFiles)) {
      const r = parsePipelineText(fs.readFileSync(f, "utf8"), f);
      problems.push(...r.problems);
      if (r.pipeline) pipelines.push(r.pipeline);
    }
    try {
      const names = (args.values.pipeline as string[] | undefined) ?? (config.correlate.pipelines.length ? config.correlate.pipelines : "all");
      if (names !== "all" || pipelines.length === 0) pipelines = loadPipelines(names);
    } catch (err) {
      const ps = (err as { problems?: Problem[] }).problems;
      if (ps) problems.push(...ps);
      else throw err;
    }
    problems.push(...routingProblems(loaded, pipelines));
    // Compiling catches what only the plan sees (it never fails for rules that loaded).
    if (pipelines.length) buildPlan(loaded, pipelines);
    for (const k of ruleKinds()) if (k.lint) problems.push(...k.lint(loaded));
    const errors = problems.filter((p) => p.severity === "error");
    const warnings = problems.filter((p) => p.severity === "warning");
    const rel = (f?: string) => (f ? path.relative(ctx.cwd, f) || f : "");
    const row = (p: Problem) => ({ file: rel(p.location?.file), line: p.location?.line ?? null, column: p.location?.column ?? null, code: p.code, message: p.message, ...(p.hint ? { hint: p.hint } : {}) });
    const count = loaded.rules.length + loaded.correlations.length + loaded.filters.length + loaded.others.filter((o) => o.docKind !== "pipeline").length;
    if (args.values.json) {
      ctx.stdout.write(JSON.stringify({ loaded: count, files: loaded.files.length, failed: errors.map(row), warnings: warnings.map(row) }) + "\n");
    } else {
      for (const p of problems) ctx.stderr.write(formatProblem({ ...p, location: p.location ? { ...p.location, file: rel(p.location.file) } : undefined }) + "\n");
      ctx.stdout.write(`${count} rules loaded from ${loaded.files.length} files: ${errors.length} errors in ${new Set(errors.map((e) => e.location?.file)).size} files, ${warnings.length} warnings\n`);
    }
    return errors.length ? EXIT.failure : EXIT.ok;
  },
};
