// The project's own rule pack: naming and metadata conventions (STYLE.md item 11) and every rule
// firing on its positive samples and on none of its negative ones, through the real loader, the
// field-mapping pipelines and the compiled plan.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadRules } from "../correlate/sigma/loader.ts";
import { loadPipelines } from "../correlate/sigma/pipeline.ts";
import { buildPlan } from "../correlate/sigma/plan.ts";
import { buildCorrelationPlan } from "../correlate/correlation/load.ts";
import { TACTICS } from "../correlate/chains/tactics.ts";
import { getParser } from "../ingest/parsers/registry.ts";
import { defaultParseContext, type Parser } from "../ingest/parsers/types.ts";
import type { EcsEvent } from "../schema/ecs.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SIGMA = path.join(HERE, "sigma");
const CORRELATION = path.join(HERE, "correlation");
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

const files = ruleFiles(SIGMA);
const loaded = loadRules([SIGMA, CORRELATION]);
const plan = buildPlan(loaded, loadPipelines("all"));
const corr = buildCorrelationPlan(loaded, loadPipelines("all"));

type Sample = Record<string, unknown> & { format?: string; raw?: string };

/** A sample as the matcher sees it: raw records go through their parser (as ingest would). */
async function normalizeSample(s: Sample): Promise<{ event?: EcsEvent; error?: string }> {
  if (typeof s.raw !== "string") return { event: s as unknown as EcsEvent };
  const name = String(s.format);
  const parser: Parser | undefined = getParser(name) ?? ((await import(`../ingest/parsers/${name}/index.ts`)) as { parser: Parser }).parser;
  const events: EcsEvent[] = [];
  const rejects: string[] = [];
  const session = parser.open(defaultParseContext({ now: () => new Date("2026-01-20T00:00:00Z") }));
  const emit = { event: (e: EcsEvent) => events.push(e), reject: (r: { code: string; reason: string }) => rejects.push(`${r.code}: ${r.reason}`) };
  session.push({ data: s.raw, source: "sample", line: 1 }, emit);
  session.flush(emit);
  if (events.length !== 1) return { error: `${name} made ${events.length} events from the sample (${rejects.join("; ")})` };
  return { event: events[0] };
}

describe("rule pack conventions", () => {
  it("loads every rule and correlation without problems", () => {
    expect(loaded.problems.filter((p) => p.severity === "error")).toEqual([]);
    expect(corr.problems.filter((p) => p.severity === "error")).toEqual([]);
    expect(loaded.rules.length).toBe(files.length);
    expect(corr.plan.correlations.length).toBeGreaterThanOrEqual(4);
  });

  it.each(files.map((f) => [path.relative(HERE, f), f]))("%s: name, folder, id, level, ATT&CK tags, samples", (_rel, file) => {
    const doc = parseYaml(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    const folder = path.basename(path.dirname(file));
    expect(PLATFORMS.has(folder)).toBe(true);
    const stem = path.basename(file, ".yml");
    const m = /^([a-z-]+)_([a-z0-9_]+)$/.exec(stem);
    expect(m, `${stem} is not <tactic>_<what>`).not.toBeNull();
    const tactic = m![1];
    expect(TACTIC_NAMES.has(tactic), `${tactic} is not an ATT&CK tactic`).toBe(true);
    expect(String(doc.id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(["informational", "low", "medium", "high", "critical"]).toContain(doc.level);
    const tags = doc.tags as string[];
    expect(tags).toContain(`attack.${tactic}`);
    expect(tags.some((t) => /^attack\.t\d{4}/.test(t))).toBe(true);
    const samples = parseYaml(fs.readFileSync(file.replace(/\.yml$/, ".tests.yml"), "utf8")) as { match: unknown[]; no_match: unknown[] };
    expect(samples.match.length).toBeGreaterThan(0);
    expect(samples.no_match.length).toBeGreaterThan(0);
  });

  it("has unique ids and names", () => {
    const ids = loaded.rules.map((r) => r.meta.id);
    expect(new Set(ids).size).toBe(ids.length);
    const names = loaded.rules.map((r) => r.meta.name).filter(Boolean);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("rule pack samples", () => {
  for (const file of files) {
    const rule = loaded.rules.find((r) => path.resolve(r.file) === path.resolve(file));
    const samples = parseYaml(fs.readFileSync(file.replace(/\.yml$/, ".tests.yml"), "utf8")) as { match: Sample[]; no_match: Sample[] };
    const fired = async (s: Sample, label: string) => {
      const { event, error } = await normalizeSample(s);
      expect(error, label).toBeUndefined();
      const ids: string[] = [];
      plan.match(event as unknown as Record<string, unknown>, (r) => ids.push(r.id));
      return ids.includes(rule!.meta.id);
    };
    it(`${path.relative(HERE, file)} fires on its positive samples`, async () => {
      expect(rule).toBeDefined();
      for (const [i, s] of samples.match.entries()) expect(await fired(s, `match[${i}]`), `match[${i}]`).toBe(true);
    });
    it(`${path.relative(HERE, file)} stays quiet on its negative samples`, async () => {
      for (const [i, s] of samples.no_match.entries()) expect(await fired(s, `no_match[${i}]`), `no_match[${i}]`).toBe(false);
    });
  }
});
