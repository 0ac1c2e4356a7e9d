// The `sigil` command: finds the subcommand, parses its options strictly, runs it, and turns every
// error into one clear message and a consistent exit code (0 ok, 1 failure, 2 bad usage or input).

import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { COMMANDS, groupsOf } from "./registry.ts";
import { EXIT, type Command, type CommandContext, type OptionSpec } from "./command.ts";
import { SigilError, describeError } from "../platform/errors.ts";
import { setLogLevel } from "../platform/telemetry/log.ts";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export function defaultContext(): CommandContext {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd(), signal: ac.signal };
}

async function topHelp(ctx: CommandContext): Promise<void> {
  const lines = ["sigil: security telemetry pipeline and small SIEM", "", "usage: sigil <command> [options]", "", "commands:"];
  const names = Object.keys(COMMANDS).sort();
  const width = Math.max(...names.map((n) => n.length)) + 2;
  for (const n of names) {
    const { command } = await COMMANDS[n]();
    lines.push(`  ${n.padEnd(width)}${command.summary}`);
  }
  lines.push("", "Run `sigil <command> --help` for a command's options.", "Exit codes: 0 ok, 1 failure, 2 bad usage or bad input.");
  ctx.stdout.write(lines.join("\n") + "\n");
}

export function commandHelp(cmd: Command): string {
  const lines = [`usage: sigil ${cmd.usage}`, "", cmd.summary];
  if (cmd.description) lines.push("", cmd.description.trim());
  const opts = Object.entries(cmd.options);
  if (opts.length) {
    lines.push("", "options:");
    const labels = opts.map(([name, o]) => `${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? ` ${o.valueName ?? "<value>"}` : ""}${o.multiple ? "..." : ""}`);
    const width = Math.max(...labels.map((l) => l.length), 10) + 2;
    opts.forEach(([, o], i) => lines.push(`  ${labels[i].padEnd(width)}${o.description}${o.default !== undefined && o.default !== false ? ` (default: ${String(o.default)})` : ""}`));
  }
  lines.push(`  ${"    --help".padEnd(12)}show this help`);
  return lines.join("\n") + "\n";
}

/** Runs the CLI with argv (without node and script); returns the exit code. */
export async function main(argv: string[], ctx: CommandContext = defaultContext()): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      await topHelp(ctx);
      return argv.length === 0 ? EXIT.usage : EXIT.ok;
    }
    if (argv[0] === "--version" || argv[0] === "-v" || argv[0] === "version") {
      ctx.stdout.write(`sigil ${version()}\n`);
      return EXIT.ok;
    }
    const two = argv.length > 1 ? `${argv[0]} ${argv[1]}` : "";
    const name = two && COMMANDS[two] ? two : COMMANDS[argv[0]] ? argv[0] : null;
    if (!name) {
      const group = groupsOf(Object.keys(COMMANDS)).get(argv[0]);
      if (group) {
        const lines = [`usage: sigil ${argv[0]} <${group.map((g) => g.split(" ")[1]).join("|")}> [options]`, ""];
        for (const g of group) lines.push(`  ${g.padEnd(24)}${(await COMMANDS[g]()).command.summary}`);
        const wantsHelp = argv.includes("--help") || argv.includes("-h");
        (wantsHelp ? ctx.stdout : ctx.stderr).write(lines.join("\n") + "\n");
        if (!wantsHelp && argv[1] && !argv[1].startsWith("-")) ctx.stderr.write(`sigil: unknown command "${argv[0]} ${argv[1]}"\n`);
        return wantsHelp ? EXIT.ok : EXIT.usage;
      }
      ctx.stderr.write(`sigil: unknown command "${argv[0]}"; run \`sigil --help\` for the list\n`);
      return EXIT.usage;
    }
    const { command } = await COMMANDS[name]();
    // tools keep stderr for their own messages; role commands raise the level from their config
    if (!ctx.env.SIGIL_LOG_LEVEL) setLogLevel("warn");
    const rest = argv.slice(name.split(" ").length);
    if (rest.includes("--help") || rest.includes("-h")) {
      ctx.stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: toParseArgs(command.options),
        allowPositionals: command.positionals ?? false,
        strict: true,
      });
    } catch (err) {
      ctx.stderr.write(`sigil ${name}: ${(err as Error).message}\nusage: sigil ${command.usage}\nRun \`sigil ${name} --help\` for the options.\n`);
      return EXIT.usage;
    }
    return await command.run({ values: parsed.values as Record<string, string | boolean | string[] | boolean[] | undefined>, positionals: parsed.positionals }, ctx);
  } catch (err) {
    if (err instanceof SigilError) {
      ctx.stderr.write(`sigil: ${describeError(err)}\n`);
      return err.exitCode;
    }
    ctx.stderr.write(`sigil: internal error: ${describeError(err)}\n`);
    if (ctx.env.SIGIL_DEBUG && err instanceof Error && err.stack) ctx.stderr.write(err.stack + "\n");
    else ctx.stderr.write("(set SIGIL_DEBUG=1 for a stack trace)\n");
    return EXIT.failure;
  }
}

function toParseArgs(opts: Record<string, OptionSpec>) {
  const out: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean | string[] | boolean[] }> = {};
  for (const [k, o] of Object.entries(opts)) {
    const spec: (typeof out)[string] = { type: o.type };
    if (o.short !== undefined) spec.short = o.short;
    if (o.multiple !== undefined) spec.multiple = o.multiple;
    if (o.default !== undefined) spec.default = o.default;
    out[k] = spec;
  }
  return out;
}
