// The SigmaHQ corpus and regression cases end to end: every rule loads with zero errors, every
// regression case fires through the real parsers, the prefilter never changes a result, and a raw
// Windows event matches exactly the rules its ECS-normalized form matches.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, beforeAll } from "vitest";
import { sharedDataDir } from "../../test/support/shared-data.ts";
import { compileRuleDirs, type Compiled } from "../../correlate/sigma/engine.ts";
import { readRegressionCases, runRegression } from "../../correlate/sigma/rule-tests.ts";
import { splitJsonValues } from "../../correlate/sigma/json-stream.ts";
import { normalizeSample } from "./detect-input.ts";
import { main } from "../main.ts";
import { testContext } from "./test-context.ts";

const DATA = sharedDataDir();

describe.skipIf(!DATA)("SigmaHQ corpus and regression cases", () => {
  let compiled: Compiled;
  beforeAll(() => {
    compiled = compileRuleDirs([path.join(DATA!, "sigmahq")]);
  }, 120_000);

  it("loads all 3,780 rules with zero errors", () => {
    expect(compiled.loaded.files.length).toBe(3780);
    expect(compiled.loaded.rules.length).toBe(3780);
    expect(compiled.loaded.problems.filter((p) => p.severity === "error")).toEqual([]);
  });

  it("passes all 88 regression cases (87 evtx through the Windows parser, the raw Cisco line as keywords)", () => {
    const dir = path.join(DATA!, "sigma-regression");
    const { outcomes, skipped } = runRegression(compiled.plan, dir, normalizeSample);
    expect(skipped).toBe(0);
    expect(outcomes).toHaveLength(88);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
  });

  it("the prefilter never changes a result, and raw events match exactly like their ECS form", () => {
    const dir = path.join(DATA!, "sigma-regression");
    let checked = 0;
    for (const c of readRegressionCases(dir).filter((x) => x.type === "evtx")) {
      for (const chunk of splitJsonValues(fs.readFileSync(path.join(dir, c.event_file), "utf8"))) {
        const raw = normalizeSample({ object: JSON.parse(chunk.text) }, c.event_file);
        expect(raw.error).toBeUndefined();
        for (const ev of raw.events) {
          const a: string[] = [];
          const b: string[] = [];
          compiled.plan.match(ev, (r) => a.push(r.id));
          compiled.plan.matchExhaustive(ev, (r) => b.push(r.id));
          expect(a.sort()).toEqual(b.sort());
          // The normalized event fed back as ECS (the ecs parser) matches the same rules.
          const again = normalizeSample({ object: JSON.parse(JSON.stringify(ev)) }, c.event_file);
          const d: string[] = [];
          for (const e2 of again.events) compiled.plan.match(e2, (r) => d.push(r.id));
          expect(d.sort()).toEqual(a);
          checked++;
        }
      }
    }
    expect(checked).toBe(92);
  });

  it("`sigil rules test` runs the regression cases and reports them", async () => {
    const ctx = testContext(process.cwd());
    const code = await main(["rules", "test", path.join(DATA!, "sigmahq"), "--json"], ctx);
    const r = JSON.parse(ctx.out());
    expect(r).toMatchObject({ rules: 3780, passed: 88, failed: 0 });
    expect(code).toBe(0);
  }, 120_000);

  it("`sigil rules lint --json` shows all rules loaded and none failed", async () => {
    const ctx = testContext(process.cwd());
    const code = await main(["rules", "lint", path.join(DATA!, "sigmahq"), "--json"], ctx);
    const r = JSON.parse(ctx.out());
    expect(r.loaded).toBe(3780);
    expect(r.failed).toEqual([]);
    expect(r.warnings.filter((w: { code: string }) => w.code === "placeholder_unresolved")).toHaveLength(25);
    expect(code).toBe(0);
  }, 120_000);
});

describe("rule samples (<rule>.tests.yml)", () => {
  it("pass when the rule fires on match samples and not on no_match samples; fail with the position otherwise", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-rules-"));
    fs.writeFileSync(
      path.join(dir, "execution_whoami.yml"),
      "title: whoami\nid: 8d2a6f0e-1f3c-4f53-9b1a-3f9a1f2b7c11\nlogsource: {category: process_creation, product: windows}\ndetection:\n    sel: {Image|endswith: '\\whoami.exe'}\n    condition: sel\nlevel: low\ntags: [attack.discovery, attack.t1033]\n",
    );
    const evtx = (image: string) => ({ Event: { System: { Provider: { "#attributes": { Name: "Microsoft-Windows-Sysmon" } }, EventID: 1, Channel: "Microsoft-Windows-Sysmon/Operational", Computer: "h", TimeCreated: { "#attributes": { SystemTime: "2026-01-01T00:00:00Z" } } }, EventData: { Image: image, CommandLine: image } } });
    const samples = (wrong: boolean) =>
      `tests:\n  - name: whoami fires\n    expect: match\n    event: ${JSON.stringify(evtx("C:\\Windows\\System32\\whoami.exe"))}\n  - name: cmd does not\n    expect: ${wrong ? "match" : "no_match"}\n    event: ${JSON.stringify(evtx("C:\\Windows\\System32\\cmd.exe"))}\n`;
    fs.writeFileSync(path.join(dir, "execution_whoami.tests.yml"), samples(false));
    let ctx = testContext(dir);
    expect(await main(["rules", "test", dir, "--no-regression"], ctx)).toBe(0);
    expect(ctx.out()).toMatch(/^2 passed, 0 failed$/m);
    fs.writeFileSync(path.join(dir, "execution_whoami.tests.yml"), samples(true));
    ctx = testContext(dir);
    expect(await main(["rules", "test", dir, "--no-regression"], ctx)).toBe(1);
    expect(ctx.out()).toMatch(/FAIL execution_whoami\.tests\.yml:5 cmd does not: rule 8d2a6f0e-1f3c-4f53-9b1a-3f9a1f2b7c11 did not fire/);
    expect(ctx.out()).toMatch(/^1 passed, 1 failed$/m);
    fs.writeFileSync(path.join(dir, "execution_whoami.tests.yml"), "tests:\n  - name: x\n    expect: maybe\n    event: {}\n");
    ctx = testContext(dir);
    expect(await main(["rules", "test", dir, "--no-regression", "--json"], ctx)).toBe(1);
    expect(JSON.parse(ctx.out()).results[0]).toMatchObject({ ok: false, line: 2 });
  });
});
