// Every `sigil` subcommand, by name, loaded lazily so a command only pays for what it imports.
// Adding a command: create cli/commands/<name>.ts exporting `command`, and add one line here.

import type { Command } from "./command.ts";

type Loader = () => Promise<{ command: Command }>;

export const COMMANDS: Record<string, Loader> = {
  replay: () => import("./commands/replay.ts"),
  demo: () => import("./commands/demo.ts"),
  correlate: () => import("./commands/correlate.ts"),
  index: () => import("./commands/index.ts"),
  start: () => import("./commands/start.ts"),
  "check-config": () => import("./commands/check-config.ts"),
  detect: () => import("./commands/detect.ts"),
  "rules lint": () => import("./commands/rules-lint.ts"),
  "rules test": () => import("./commands/rules-test.ts"),
  agent: () => import("./commands/agent.ts"),
  "agent status": () => import("./commands/agent-status.ts"),
  "services up": () => import("./commands/services-up.ts"),
  "services status": () => import("./commands/services-status.ts"),
  "services down": () => import("./commands/services-down.ts"),
  "certs dev": () => import("./commands/certs-dev.ts"),
  "tokens create": () => import("./commands/tokens-create.ts"),
  "tokens list": () => import("./commands/tokens-list.ts"),
  "tokens revoke": () => import("./commands/tokens-revoke.ts"),
  normalize: () => import("./commands/normalize.ts"),
  ingest: () => import("./commands/ingest.ts"),
  console: () => import("./commands/console.ts"),
  "users add": () => import("./commands/users-add.ts"),
  "users list": () => import("./commands/users-list.ts"),
  "users disable": () => import("./commands/users-disable.ts"),
  "users enable": () => import("./commands/users-enable.ts"),
  search: () => import("./commands/search.ts"),
  bench: () => import("./commands/bench.ts"),
};

/** Groups shown as one line in the top-level help: "rules" → "rules lint", "rules test". */
export function groupsOf(names: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const n of names) {
    const [head] = n.split(" ");
    out.set(head, [...(out.get(head) ?? []), n]);
  }
  return out;
}
