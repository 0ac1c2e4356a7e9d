// The project's correlation and anomaly rules (rules/correlation, rules/anomaly): they load and lint
// clean, follow the naming conventions (STYLE.md item 11), each has scenarios that expect a hit and
// scenarios that expect none, and every scenario passes through the real parsers, field mappings,
// Sigma plan, correlation engine and baselines.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { correlationKind } from "../../correlate/correlation/kind.ts";
import { anomalyKind } from "../../correlate/baselines/kind.ts";
import { readScenarios } from "../../correlate/correlation/scenarios.ts";
import { compileRuleDirs } from "../../correlate/sigma/engine.ts";
import { TACTICS } from "../../correlate/chains/tactics.ts";
import { normalizeSample } from "../../cli/commands/detect-input.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RULES = path.resolve(HERE, "..");
const DIRS = ["correlation", "anomaly"].map((d) => path.join(RULES, d));
const PLATFORMS = new Set(["web", "opentelemetry", "linux", "kubernetes", "aws", "network", "windows", "sigil"]);
const TACTIC_NAMES = new Set<string>(TACTICS.map((t) => t.name));

function ruleFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...ruleFiles(p));
    else if (e.name.endsWith(".yml") && !e.name.endsWith(".tests.yml")) out.push(p);
  }
  return out.sort();
}

// importing the kinds registers the anomaly document kind with the rule loader
void anomalyKind;
const compiled = compileRuleDirs([path.join(RULES, "sigma"), ...DIRS]);
const files = DIRS.flatMap(ruleFiles);

describe("correlation and anomaly rule pack", () => {
  it("loads and lints without problems", () => {
    expect(compiled.problems.filter((p) => p.severity === "error")).toEqual([]);
    const lint = [...correlationKind.lint!(compiled.loaded), ...anomalyKind.lint!(compiled.loaded)];
    expect(lint).toEqual([]);
    expect(files.length).toBeGreaterThanOrEqual(7);
  });

  it.each(files.map((f) => [path.relative(RULES, f), f]))("%s: name, folder, metadata, scenarios", (_rel, file) => {
    const docs = fs
      .readFileSync(file, "utf8")
      .split(/^---$/m)
      .map((d) => parseYaml(d) as Record<string, unknown>)
      .filter(Boolean);
    const outer = docs[0];
    expect(PLATFORMS.has(path.basename(path.dirname(file)))).toBe(true);
    const stem = path.basename(file, ".yml");
    const m = /^([a-z-]+)_([a-z0-9_]+)$/.exec(stem);
    expect(m, `${stem} is not <tactic>_<what>`).not.toBeNull();
    expect(TACTIC_NAMES.has(m![1]), `${m![1]} is not an ATT&CK tactic`).toBe(true);
    expect(String(outer.id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(["informational", "low", "medium", "high", "critical"]).toContain(outer.level);
    expect(outer.tags as string[]).toContain(`attack.${m![1]}`);
    expect((outer.tags as string[]).some((t) => /^attack\.t\d{4}/.test(t))).toBe(true);
    const tests = file.replace(/\.yml$/, ".tests.yml");
    expect(fs.existsSync(tests), `${path.basename(tests)} is missing`).toBe(true);
    const { scenarios, errors } = readScenarios(tests);
    expect(errors).toEqual([]);
    expect(scenarios.some((s) => s.expect.length > 0), "a scenario that fires").toBe(true);
    expect(scenarios.some((s) => s.expect.length === 0), "a scenario that stays quiet").toBe(true);
  });
});

describe("scenarios", () => {
  const results = [...(correlationKind.test!(compiled, { normalize: normalizeSample }) as ReturnType<NonNullable<typeof correlationKind.test>> & unknown[]), ...(anomalyKind.test!(compiled, { normalize: normalizeSample }) as unknown[])] as {
    name: string;
    file: string;
    ok: boolean;
    message?: string;
  }[];
  it("every rule file's scenarios ran", () => {
    const ran = new Set(results.map((r) => r.file.replace(/:\d+$/, "")));
    for (const f of files) expect(ran.has(f.replace(/\.yml$/, ".tests.yml")), f).toBe(true);
  });
  it.each(results.map((r) => [`${path.relative(RULES, r.file)} ${r.name}`, r]))("%s", (_n, r) => {
    expect(r.message ?? "").toBe("");
    expect(r.ok).toBe(true);
  });
});
