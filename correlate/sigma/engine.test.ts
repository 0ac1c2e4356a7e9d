// The engine's plan swap and the rule-directory watcher: a changed rule file builds a new plan that
// replaces the old one atomically; a broken change keeps the old plan and reports the error.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { compileRuleDirs, SigmaEngine, watchRules, type SigmaMatch } from "./engine.ts";

const rule = (value: string) => `title: t\nid: 5f0c6d1e-1111-4222-8333-944455556666\nlogsource: {category: process_creation, product: windows}\ndetection:\n    sel: {CommandLine|contains: '${value}'}\n    condition: sel\nlevel: low\n`;
const event = (cmd: string) => ({ "@timestamp": "2026-01-01T00:00:00.000Z", event: { id: "x", kind: "event", code: "1", dataset: "windows.sysmon_operational" }, winlog: { channel: "Microsoft-Windows-Sysmon/Operational", event_data: { CommandLine: cmd } } });

describe("SigmaEngine", () => {
  it("routes by the pipelines and reports matches with rule, event and line", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-engine-"));
    fs.writeFileSync(path.join(dir, "r.yml"), rule("mimikatz"));
    const engine = new SigmaEngine(compileRuleDirs([dir]).plan);
    const got: SigmaMatch[] = [];
    engine.match(event("run MIMIKATZ now"), (m) => got.push(m), 7);
    engine.match(event("notepad"), (m) => got.push(m), 8);
    expect(got.map((m) => [m.rule.id, m.line])).toEqual([["5f0c6d1e-1111-4222-8333-944455556666", 7]]);
    // not routed: a Security event never reaches a process_creation rule (unless 4688)
    const sec = { ...event("mimikatz"), winlog: { channel: "Security", event_data: { CommandLine: "mimikatz" } }, event: { id: "y", kind: "event", code: "4624", dataset: "system.security" } };
    expect(engine.match(sec, () => {})).toBe(0);
  });

  it("swaps in a new plan when a rule file changes, and keeps the old one when the change is broken", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-watch-"));
    fs.writeFileSync(path.join(dir, "r.yml"), rule("alpha"));
    const engine = new SigmaEngine(compileRuleDirs([dir]).plan);
    const errors: unknown[] = [];
    let swaps = 0;
    const w = watchRules(engine, [dir], { debounceMs: 50, onError: (e) => errors.push(e), onSwap: () => swaps++ });
    try {
      expect(engine.match(event("alpha"), () => {})).toBe(1);
      fs.writeFileSync(path.join(dir, "r.yml"), rule("beta"));
      await expect.poll(() => swaps, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(engine.match(event("alpha"), () => {})).toBe(0);
      expect(engine.match(event("beta"), () => {})).toBe(1);
      const before = engine.plan;
      fs.writeFileSync(path.join(dir, "r.yml"), rule("beta").replace("contains", "containz"));
      await expect.poll(() => errors.length, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(engine.plan).toBe(before);
      expect(String((errors[0] as Error).message)).toMatch(/modifier/);
      expect(await w.reload()).toBe(false);
    } finally {
      w.close();
    }
  });
});

describe("plan bounds", () => {
  it("events that vary their own logsource tags share buckets by rule set; oversized tags are ignored", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bounds-"));
    fs.writeFileSync(path.join(dir, "r.yml"), rule("x"));
    const plan = compileRuleDirs([dir]).plan;
    for (let i = 0; i < 2000; i++) plan.match({ message: "x", sigil: { logsource: [{ product: "windows", service: `s${i}` }] } }, () => {});
    expect((plan as unknown as { bucketBySet: Map<string, unknown> }).bucketBySet.size).toBeLessThanOrEqual(2);
    const huge = { sigil: { logsource: Array.from({ length: 100 }, () => ({ category: "process_creation", product: "windows" })) }, winlog: { event_data: { CommandLine: "x" } } };
    expect(plan.logsourcesOf(huge)).toEqual([]);
  });
});
