// A CommandContext for CLI tests: in-memory stdout/stderr/stdin and the captured output.
import { PassThrough } from "node:stream";
import type { CommandContext } from "../command.ts";

export function testContext(cwd: string, stdinText = ""): CommandContext & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  stdin.end(stdinText);
  let o = "";
  let e = "";
  stdout.on("data", (d) => (o += d));
  stderr.on("data", (d) => (e += d));
  return { stdout, stderr, stdin, env: { ...process.env, SIGIL_CONFIG: "" }, cwd, signal: new AbortController().signal, out: () => o, err: () => e };
}
