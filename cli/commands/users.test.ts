import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../main.ts";
import type { CommandContext } from "../command.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-users-cli-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) });
  const ctx: CommandContext = {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    stdin: Readable.from([stdin]),
    env: { ...process.env, SIGIL_DATA_DIR: dir, SIGIL_CONFIG: "" },
    cwd: dir,
    signal: new AbortController().signal,
  };
  const code = await main(argv, ctx);
  return { code, out, err };
}

describe("sigil users", () => {
  it("adds users with the password from stdin, lists them without hashes, disables and enables", async () => {
    expect((await run(["users", "add", "Alice", "--role", "analyst"], "a long enough passphrase\n")).code).toBe(0);
    expect((await run(["users", "add", "root", "--role", "admin", "--json"], "another long passphrase\n")).out).toContain('"role":"admin"');
    const list = await run(["users", "list", "--json"]);
    const users = list.out.trim().split("\n").map((l) => JSON.parse(l) as { name: string; role: string; disabled: boolean });
    expect(users.map((u) => [u.name, u.role, u.disabled])).toEqual([["alice", "analyst", false], ["root", "admin", false]]);
    expect(list.out).not.toContain("argon2");
    expect((await run(["users", "disable", "alice"])).out).toContain("disabled alice");
    expect((await run(["users", "list"])).out).toMatch(/alice\s+analyst\s+disabled/);
    expect((await run(["users", "enable", "alice"])).code).toBe(0);
  });

  it("refuses bad input with a code and exit status 2, and takes no password flag", async () => {
    const weak = await run(["users", "add", "bob", "--role", "viewer"], "short\n");
    expect(weak.code).toBe(2);
    expect(weak.err).toContain("password_weak");
    expect((await run(["users", "add", "bob", "--role", "wizard"], "a long enough passphrase\n")).code).toBe(2);
    expect((await run(["users", "add", "bob", "--role", "viewer", "--password", "x"])).code).toBe(2);
    const dup = await run(["users", "add", "alice", "--role", "viewer"], "a long enough passphrase\n");
    expect(dup.code).toBe(2);
    expect(dup.err).toContain("user_exists");
    const none = await run(["users", "disable", "nobody"]);
    expect(none.code).toBe(2);
    expect(none.err).toContain("user_not_found");
  });
});
