// What a `sigil` subcommand is: a name, help text, typed options and a run function returning an exit code.

import type { Readable, Writable } from "node:stream";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[] | boolean[];
  /** Shown in --help, e.g. "<dir>". */
  valueName?: string;
  description: string;
}

export interface CommandContext {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM; long-running commands stop gracefully when it fires. */
  signal: AbortSignal;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export interface Command {
  /** Full name, e.g. "detect" or "rules lint". */
  name: string;
  summary: string;
  /** Usage line after "sigil", e.g. "detect --rules <dir>... --input <file|->". */
  usage: string;
  /** Longer help shown under the usage line. */
  description?: string;
  options: Record<string, OptionSpec>;
  /** Whether positional arguments are accepted. */
  positionals?: boolean;
  run(args: ParsedArgs, ctx: CommandContext): Promise<number>;
}

/** Exit codes every subcommand uses. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Writes a line; returns a promise that resolves when the stream drained (for large outputs). */
export function writeLine(out: Writable, line: string): Promise<void> | void {
  if (!out.write(line + "\n")) return new Promise((resolve) => out.once("drain", () => resolve()));
}

/** The --config option every role command shares. */
export const configOption: OptionSpec = {
  type: "string",
  short: "c",
  valueName: "<file>",
  description: "config file (YAML); default: $SIGIL_CONFIG, else built-in defaults",
};
