// `sigil agent status`: what a running (or the last) agent is doing: files, offsets, lag, buffer
// depth, link state and last error, read from the status file the agent writes every second.
import path from "node:path";
import { agentPaths, loadAgentConfig } from "../../ingest/agent/config.ts";
import { formatStatus, isLive, readStatus } from "../../ingest/agent/status.ts";
import { EXIT, type Command } from "../command.ts";

export const command: Command = {
  name: "agent status",
  summary: "show the agent's files, offsets, lag, buffer depth, link state and last error",
  usage: "agent status (--config <agent.yml> | --file <status.json>) [--json]",
  description: "Exit 0 when the agent is running, 1 when its status file is stale or it stopped.",
  options: {
    config: { type: "string", short: "c", valueName: "<file>", description: "the agent's config file; its status file is <data_dir>/status.json" },
    file: { type: "string", valueName: "<status.json>", description: "read this status file instead" },
    json: { type: "boolean", description: "print the status as JSON" },
  },
  async run(args, ctx) {
    let file = args.values.file as string | undefined;
    const cfg = (args.values.config as string | undefined) ?? ctx.env.SIGIL_AGENT_CONFIG;
    if (!file && cfg) {
      // Only the paths matter here: load the config leniently about secrets (none are read).
      file = agentPaths(loadAgentConfig(cfg, ctx.env), ctx.cwd).statusFile;
    }
    if (!file) {
      ctx.stderr.write("sigil agent status: give --config <agent.yml> or --file <status.json>\n");
      return EXIT.usage;
    }
    const s = await readStatus(path.resolve(ctx.cwd, file));
    const live = isLive(s);
    if (args.values.json) ctx.stdout.write(JSON.stringify({ ...s, live }) + "\n");
    else ctx.stdout.write(formatStatus(s));
    return live ? EXIT.ok : EXIT.failure;
  },
};
