// `sigil check-config <file>`: validates a config file (and SIGIL_* overrides) without starting anything.
import { checkConfig } from "../../platform/config/load.ts";
import { formatProblem } from "../../platform/errors.ts";
import { EXIT, type Command } from "../command.ts";

export const command: Command = {
  name: "check-config",
  summary: "validate a config file without starting anything",
  usage: "check-config <file> [--json] [--print]",
  description: "Reports every unknown key, wrong type and YAML error with its file, line and column. Exit 0 valid, 2 invalid.",
  positionals: true,
  options: {
    json: { type: "boolean", description: "print the result as one JSON object" },
    print: { type: "boolean", description: "print the effective config (defaults filled in) when valid" },
  },
  async run(args, ctx) {
    if (args.positionals.length !== 1) {
      ctx.stderr.write("sigil check-config: give exactly one config file\nusage: sigil check-config <file>\n");
      return EXIT.usage;
    }
    const file = args.positionals[0];
    const r = checkConfig({ file, env: ctx.env });
    const errors = r.problems.filter((p) => p.severity === "error");
    if (args.values.json) {
      ctx.stdout.write(JSON.stringify({ file, valid: errors.length === 0, problems: r.problems, config: args.values.print ? r.config : undefined }) + "\n");
    } else {
      for (const p of r.problems) ctx.stderr.write(formatProblem(p) + "\n");
      if (errors.length === 0) {
        ctx.stdout.write(`${file}: valid\n`);
        if (args.values.print) ctx.stdout.write(JSON.stringify(r.config, null, 2) + "\n");
      }
    }
    return errors.length === 0 ? EXIT.ok : EXIT.usage;
  },
};
