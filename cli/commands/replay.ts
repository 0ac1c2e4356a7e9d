// `sigil replay --input <file>... [--rules <dir>...]`: the whole pipeline (normalize, detect,
// correlate, baselines, chains) over files in event time, printing every chain as one JSON line.
import path from "node:path";
import { loadConfig } from "../../platform/config/load.ts";
import { PROJECT_RULE_DIRS } from "../../correlate/engine.ts";
import { EXIT, configOption, writeLine, type Command } from "../command.ts";
import { formatSummary, replayChainJson, runReplay } from "../replay/run.ts";

export const command: Command = {
  name: "replay",
  summary: "run the whole pipeline over log files in event time and print the attack chains",
  usage: "replay --input <file> [<file>...] [--rules <dir>...] [--no-default-rules] [--all] [--dead-letter <file>]",
  description: `
Reads every input (any supported format, gzip accepted, formats detected per file), merges them in
event time, and runs normalization, Sigma detection, correlation rules, anomaly baselines and the
chain builder. Prints one JSON object per chain on stdout:
  {"chain": {"id","score","tactics","techniques","entities": {"users","hosts","ips","services"},
             "first_seen","last_seen","signals": [{"@timestamp","rule": {"id","title"},"technique",
             "why","events": [{"id","file","line"}]}]}}
(file and line point back at the input record). A summary goes to stderr. Rules: the project's rule
pack (rules/sigma, rules/correlation, rules/anomaly) plus every --rules directory (e.g. the SigmaHQ corpus).
Exit 0 on success (chains or not), 2 for bad usage or unreadable input or rules.`,
  // `--input zeek/*.log` expands to several words: the ones after the first are positionals
  positionals: true,
  options: {
    input: { type: "string", short: "i", multiple: true, valueName: "<file>", description: "input file (repeatable; gzip accepted)" },
    rules: { type: "string", short: "r", multiple: true, valueName: "<dir>", description: "more rule directories or files (repeatable)" },
    "no-default-rules": { type: "boolean", description: "do not load the project's own rule pack" },
    format: { type: "string", valueName: "<name>", description: "force one input format for every file (default: detect per file)" },
    timezone: { type: "string", valueName: "<tz>", description: "time zone for timestamps without one (default UTC)" },
    all: { type: "boolean", description: "also print candidate chains below the alert threshold" },
    "dead-letter": { type: "string", valueName: "<file>", description: "write rejected input records here (NDJSON with file, line and reason)" },
    progress: { type: "boolean", description: "always show the progress bar (default: only on a terminal)" },
    "summary-json": { type: "boolean", description: "print the summary on stderr as one JSON object" },
    config: configOption,
  },
  async run(args, ctx) {
    const v = args.values;
    const inputs = [...((v.input as string[] | undefined) ?? []), ...args.positionals].map((f) => path.resolve(ctx.cwd, f));
    if (inputs.length === 0) {
      ctx.stderr.write("sigil replay: give at least one --input file\nusage: sigil " + command.usage + "\n");
      return EXIT.usage;
    }
    const config = loadConfig({ file: (v.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
    const rules = [...(v["no-default-rules"] ? [] : PROJECT_RULE_DIRS), ...((v.rules as string[] | undefined) ?? [])];
    if (rules.length === 0) {
      ctx.stderr.write("sigil replay: no rules: drop --no-default-rules or give --rules <dir>\n");
      return EXIT.usage;
    }
    const result = await runReplay({
      inputs,
      rules,
      config,
      format: v.format as string | undefined,
      timezone: v.timezone as string | undefined,
      includeCandidates: Boolean(v.all),
      deadLetter: v["dead-letter"] ? path.resolve(ctx.cwd, v["dead-letter"] as string) : undefined,
      progress: v.progress ? true : "auto",
      cwd: ctx.cwd,
      stderr: ctx.stderr,
    });
    for (const c of result.chains) await writeLine(ctx.stdout, JSON.stringify(replayChainJson(c)));
    ctx.stderr.write(v["summary-json"] ? JSON.stringify(result.summary) + "\n" : formatSummary(result.summary));
    return EXIT.ok;
  },
};
