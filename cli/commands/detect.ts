// `sigil detect`: runs Sigma rules over events from a file or stdin and prints one JSON line per match.
// Bad input records are reported with their line and counted; the run goes on (--strict: exit 1).

import fs from "node:fs";
import path from "node:path";
import { configPathFrom, loadConfig } from "../../platform/config/load.ts";
import { UsageError } from "../../platform/errors.ts";
import { compileRuleDirs } from "../../correlate/sigma/engine.ts";
import { ruleKinds, type DetectProcessor } from "../../correlate/sigma/kinds.ts";
import type { RuleInfo } from "../../correlate/sigma/plan.ts";
import { configOption, EXIT, writeLine, type Command } from "../command.ts";
import { createDetectNormalizer, readInputRecords } from "./detect-input.ts";
import { loadRuleKinds } from "./rule-kinds.ts";

const PROGRESS_MS = 5_000;

/** The rule as printed with a match (author kept: Detection Rule License 1.1). */
export function ruleOutput(r: RuleInfo): Record<string, unknown> {
  return { id: r.id, title: r.title, level: r.level, tags: r.tags, author: r.author ?? null };
}

export const command: Command = {
  name: "detect",
  summary: "run Sigma rules over events and print one JSON line per match",
  usage: "detect --rules <dir>... --input <file|-> [--pipeline <name>...] [--strict]",
  description: `
Input: one JSON object per line (ECS, or a raw source shape such as Windows event JSON, recognized
automatically), concatenated pretty-printed JSON objects, or raw log lines (syslog, access logs ...).
Output (stdout): {"rule": {"id","title","level","tags","author"}, "line": <1-based index of the input
event>, "event": <the normalized event>} per match. A summary and bad records go to stderr.
Exit 0 (also with bad records), 1 with --strict and bad records, 2 for bad rules or usage.`,
  options: {
    rules: { type: "string", multiple: true, valueName: "<dir>", description: "rule file or directory (repeatable)" },
    input: { type: "string", short: "i", valueName: "<file|->", description: "events to read; - for stdin" },
    pipeline: { type: "string", multiple: true, valueName: "<name>", description: "field-mapping pipeline (rules/pipelines/<name>.yml or a path); default: config, else all built-in" },
    format: { type: "string", valueName: "<name>", description: "force an input format (an ingest parser name); default: auto" },
    strict: { type: "boolean", description: "exit 1 when any input record was rejected" },
    quiet: { type: "boolean", short: "q", description: "no summary or progress on stderr" },
    config: configOption,
  },
  async run(args, ctx) {
    const rules = (args.values.rules as string[] | undefined) ?? [];
    const input = args.values.input as string | undefined;
    if (rules.length === 0 || !input) throw new UsageError("detect_usage", "detect needs --rules <dir> and --input <file|->", { hint: "e.g. sigil detect --rules rules/sigma --input events.jsonl" });
    const config = loadConfig({ file: configPathFrom(args.values.config as string | undefined, ctx.env), env: ctx.env });
    const pipelines = (args.values.pipeline as string[] | undefined) ?? (config.correlate.pipelines.length ? config.correlate.pipelines : "all");
    // rule kinds first: they tell the rule loader about their document kinds (anomaly baselines)
    await loadRuleKinds();
    const t0 = performance.now();
    const compiled = compileRuleDirs(rules.map((r) => path.resolve(ctx.cwd, r)), { pipelines, placeholders: config.correlate.placeholders });
    const quiet = args.values.quiet === true;
    const warnings = compiled.problems.filter((p) => p.severity === "warning");
    if (!quiet && warnings.length) ctx.stderr.write(`sigil detect: ${warnings.length} rule warning(s) (run \`sigil rules lint\` to list them); ${compiled.plan.stats.inactive} rule(s) inactive\n`);
    const loadMs = performance.now() - t0;

    let stream: NodeJS.ReadableStream;
    if (input === "-") stream = ctx.stdin;
    else {
      const file = path.resolve(ctx.cwd, input);
      if (!fs.existsSync(file)) throw new UsageError("input_not_found", `input file ${input} does not exist`, { location: { file: input } });
      stream = fs.createReadStream(file);
    }
    const source = input === "-" ? "stdin" : input;

    const out: string[] = [];
    let events = 0;
    let matches = 0;
    let rejected = 0;
    const processors: DetectProcessor[] = [];
    for (const k of ruleKinds()) if (k.detect) processors.push(k.detect({ compiled, config, emit: (o) => out.push(JSON.stringify(o)) }));
    const plan = compiled.plan;
    const normalizer = createDetectNormalizer({
      format: args.values.format as string | undefined,
      source,
      onEvent: (e, index) => {
        events++;
        const ev = e as unknown as Record<string, unknown>;
        plan.match(ev, (rule) => {
          matches++;
          out.push(JSON.stringify({ rule: ruleOutput(rule), line: index, event: ev }));
          for (const p of processors) p.onMatch?.({ rule, event: ev, line: index });
        });
        for (const p of processors) p.onEvent?.(ev, index);
      },
      onReject: (index, line, code, reason) => {
        rejected++;
        if (!quiet || args.values.strict) ctx.stderr.write(`${source}:${line}: rejected record ${index}: ${code}: ${reason}\n`);
      },
    });
    const flush = async () => {
      for (const l of out) await writeLine(ctx.stdout, l);
      out.length = 0;
    };
    const t1 = performance.now();
    let lastProgress = t1;
    for await (const rec of readInputRecords(stream as AsyncIterable<Buffer>)) {
      if (ctx.signal.aborted) break;
      normalizer.push(rec);
      if (out.length >= 256) await flush();
      const now = performance.now();
      if (!quiet && now - lastProgress > PROGRESS_MS) {
        lastProgress = now;
        ctx.stderr.write(`sigil detect: progress: ${events} events, ${matches} matches, ${rejected} rejected, ${Math.round(events / ((now - t1) / 1000))} events/s\n`);
      }
    }
    normalizer.end();
    for (const p of processors) p.finish?.();
    await flush();
    const secs = Math.max((performance.now() - t1) / 1000, 1e-6);
    if (!quiet) {
      const extra = processors.flatMap((p) => p.summary?.() ?? []);
      ctx.stderr.write(
        `sigil detect: read ${events} events from ${source}: ${matches} matches, ${rejected} rejected inputs, ${Math.round(events / secs)} events/s ` +
          `(${compiled.plan.stats.rules} rules in ${Math.round(loadMs)} ms)${extra.length ? "; " + extra.join("; ") : ""}\n`,
      );
    }
    if (ctx.signal.aborted) return EXIT.failure;
    return args.values.strict && rejected > 0 ? EXIT.failure : EXIT.ok;
  },
};


