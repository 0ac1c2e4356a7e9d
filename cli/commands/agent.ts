// `sigil agent --config agent.yml`: runs the shipping agent until SIGINT/SIGTERM (or, with only a
// stdin input, until standard input ends and every line is delivered or buffered).
import { checkAgentConfig, loadAgentConfig } from "../../ingest/agent/config.ts";
import { Agent } from "../../ingest/agent/agent.ts";
import { formatProblem } from "../../platform/errors.ts";
import { EXIT, type Command } from "../command.ts";

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
