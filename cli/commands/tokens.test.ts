import { describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { main } from "../main.ts";
import type { CommandContext } from "../command.ts";

function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (err += d));
  const ctx: CommandContext = { stdout, stderr, stdin: new PassThrough(), env, cwd: process.cwd(), signal: new AbortController().signal };
  return main(argv, ctx).then((code) => ({ code, out, err }));
}

describe("sigil tokens", () => {
  it("creates, lists and revokes tokens, and refuses bad usage with exit 2", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-tokens-"));
    const env = { SIGIL_DATA_DIR: dir, SIGIL_LOG_LEVEL: "silent" };
    const c = await run(["tokens", "create", "--name", "web-01", "--json"], env);
    expect(c.code).toBe(0);
    const created = JSON.parse(c.out);
    expect(created.token).toMatch(/^sgl_[0-9a-f]{12}_/);
    const l = await run(["tokens", "list", "--json"], env);
    const rows = l.out.trim().split("\n").map((x) => JSON.parse(x));
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(created.token.split("_")[2]);
    expect(rows[0].hash).toBeUndefined();
    expect((await run(["tokens", "revoke", created.id], env)).code).toBe(0);
    expect((await run(["tokens", "list", "--json"], env)).out.trim()).toBe("");
    expect((await run(["tokens", "revoke", created.id], env)).code).toBe(2);
    expect((await run(["tokens", "create"], env)).code).toBe(2);
    expect((await run(["tokens", "create", "--name", "x", "--rate-limit", "fast"], env)).code).toBe(2);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
