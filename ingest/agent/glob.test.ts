import { describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { compileExcludes, compileGlob, expandGlob } from "./glob.ts";

describe("globs", () => {
  it("matches *, ?, [], {} and ** against real folders", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-glob-"));
    for (const f of ["a.log", "b.log", "c.txt", "x1.log", "sub/d.log", "sub/deep/e.log", "sub/deep/f.gz", ".hidden/g.log"]) {
      fs.mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
      fs.writeFileSync(path.join(d, f), "");
    }
    const rel = async (p: string) => (await expandGlob(compileGlob(path.join(d, p)))).map((f) => path.relative(d, f)).sort();
    expect(await rel("*.log")).toEqual(["a.log", "b.log", "x1.log"]);
    expect(await rel("?.log")).toEqual(["a.log", "b.log"]);
    expect(await rel("[ab].log")).toEqual(["a.log", "b.log"]);
    expect(await rel("{a,c}.*")).toEqual(["a.log", "c.txt"]);
    expect(await rel("**/*.log")).toEqual(["a.log", "b.log", "sub/d.log", "sub/deep/e.log", "x1.log"]);
    expect(await rel("sub/**")).toEqual(["sub/d.log", "sub/deep/e.log", "sub/deep/f.gz"]);
    expect(await rel("a.log")).toEqual(["a.log"]);
    expect(await rel("missing/*.log")).toEqual([]);
    expect(compileGlob(path.join(d, "sub/**/*.log")).base).toBe(path.join(d, "sub"));
    const ex = compileExcludes(["*.gz", `${d}/sub/deep/*`]);
    expect(ex(path.join(d, "x.gz"))).toBe(true);
    expect(ex(path.join(d, "sub/deep/e.log"))).toBe(true);
    expect(ex(path.join(d, "sub/d.log"))).toBe(false);
  });
});
