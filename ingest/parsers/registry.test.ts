// One name everywhere: every registry entry has its folder (index.ts, <name>.test.ts, fixtures with an
// input and its expected events) and a heading in ingest/README.md; every folder is in the registry.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { JSON_FORMATS, PARSERS, PARSER_NAMES, getParser } from "./registry.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const README = fs.readFileSync(path.join(HERE, "..", "README.md"), "utf8");
/** Folders under parsers/ that hold shared code, not a format. */
const SHARED = new Set(["common"]);

describe("parser registry", () => {
  for (const name of PARSER_NAMES) {
    describe(name, () => {
      const dir = path.join(HERE, name);
      it("is registered under its own name", () => {
        expect(PARSERS[name].name).toBe(name);
        expect(getParser(name)).toBe(PARSERS[name]);
      });
      it("has its folder with index.ts and a test named after it", () => {
        expect(fs.existsSync(path.join(dir, "index.ts"))).toBe(true);
        expect(fs.existsSync(path.join(dir, `${name}.test.ts`)), `${name}/${name}.test.ts`).toBe(true);
      });
      it("has fixtures: raw input with its expected events", () => {
        const files = fs.existsSync(path.join(dir, "fixtures")) ? fs.readdirSync(path.join(dir, "fixtures")) : [];
        const inputs = files.filter((f) => !f.endsWith(".expected.json"));
        expect(inputs.length, `${name}/fixtures has no input`).toBeGreaterThan(0);
        for (const f of inputs) expect(files, `${name}/fixtures/${f} has no .expected.json`).toContain(f.replace(/\.[^.]+$/, "") + ".expected.json");
      });
      it("is documented under its name in ingest/README.md", () => {
        expect(README).toMatch(new RegExp(`^### ${name.replace(/-/g, "\\-")}$`, "m"));
      });
    });
  }

  it("has an entry for every parser folder", () => {
    const folders = fs.readdirSync(HERE, { withFileTypes: true }).filter((d) => d.isDirectory() && !SHARED.has(d.name)).map((d) => d.name);
    expect(folders.sort()).toEqual([...PARSER_NAMES].sort());
  });

  it("lists JSON formats that exist", () => {
    for (const f of JSON_FORMATS) expect(PARSER_NAMES).toContain(f);
    expect(getParser("__proto__")).toBeUndefined();
    expect(getParser("constructor")).toBeUndefined();
  });
});
