// `sigil agent --config agent.yml`: runs the shipping agent until SIGINT/SIGTERM (or, with only a
// stdin input, until standard input ends and every line is delivered or buffered).
import { parseArgs } from "node:util";
import { checkAgentConfig, loadAgentConfig } from "../../ingest/agent/config.ts";
import { Agent } from "../../ingest/agent/agent.ts";
import { SigilError, describeError, formatProblem } from "../../platform/errors.ts";
import { EXIT, type Command, type CommandContext } from "../command.ts";
import { command as statusCommand } from "./agent-status.ts";

export const command: Command = {
  name: "agent",
  summary: "ship log files and stdin to ingest, with checkpoints and an encrypted disk buffer",
  usage: "agent --config <agent.yml> [--check]",
  description: `Tails files by glob and standard input, checkpoints every file durably, and sends batches
over HTTPS to ingest with the agent token. When ingest is unreachable or pushes back, batches go to an
encrypted on-disk buffer that is drained in order when the link returns. See README.md "Agent".
Config overrides: SIGIL_AGENT_<KEY>__<SUBKEY>, e.g. SIGIL_AGENT_OUTPUT__URL.`,
  options: {
    config: { type: "string", short: "c", valueName: "<file>", description: "agent config file (YAML); default: $SIGIL_AGENT_CONFIG" },
    check: { type: "boolean", description: "validate the config and exit" },
  },
  async run(args, ctx) {
    const file = (args.values.config as string | undefined) ?? ctx.env.SIGIL_AGENT_CONFIG ?? null;
    if (!file) {
      ctx.stderr.write("sigil agent: give the agent config with --config <agent.yml>\nusage: sigil agent --config <agent.yml>\n");
      return EXIT.usage;
    }
    if (args.values.check) {
      const r = checkAgentConfig(file, ctx.env);
      for (const p of r.problems) ctx.stderr.write(formatProblem(p) + "\n");
      if (r.config) ctx.stdout.write(`${file}: valid\n`);
      return r.config ? EXIT.ok : EXIT.usage;
    }
    const config = loadAgentConfig(file, ctx.env);
    const agent = new Agent(config, { env: ctx.env, stdin: ctx.stdin, signal: ctx.signal, cwd: ctx.cwd });
    await agent.start();
    await agent.stopped;
    return EXIT.ok;
  },
};

/**
 * The lean entry point (bin/sigil-agent.js): `sigil-agent [--config f]` or `sigil-agent status ...`,
 * without the rest of the CLI, so a service host loads only the agent's code.
 */
export async function standalone(argv: string[]): Promise<number> {
  const ac = new AbortController();
  process.once("SIGINT", () => ac.abort());
  process.once("SIGTERM", () => ac.abort());
  const ctx: CommandContext = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd(), signal: ac.signal };
  const cmd = argv[0] === "status" ? statusCommand : command;
  const rest = argv[0] === "status" ? argv.slice(1) : argv;
  if (rest.includes("--help") || rest.includes("-h")) {
    const lines = [`usage: sigil-${cmd.usage}`, "", cmd.summary, "", "options:"];
    for (const [name, o] of Object.entries(cmd.options)) lines.push(`  ${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? ` ${o.valueName ?? "<value>"}` : ""}  ${o.description}`);
    ctx.stdout.write(lines.join("\n") + "\n");
    return EXIT.ok;
  }
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: Object.fromEntries(Object.entries(cmd.options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}) }])), strict: true, allowPositionals: false });
    } catch (err) {
      ctx.stderr.write(`sigil-agent: ${(err as Error).message}\nusage: sigil-${cmd.usage}\n`);
      return EXIT.usage;
    }
    return await cmd.run({ values: parsed.values as Record<string, string | boolean | undefined>, positionals: [] }, ctx);
  } catch (err) {
    ctx.stderr.write(`sigil-agent: ${err instanceof SigilError ? describeError(err) : `internal error: ${describeError(err)}`}\n`);
    return err instanceof SigilError ? err.exitCode : EXIT.failure;
  }
}
