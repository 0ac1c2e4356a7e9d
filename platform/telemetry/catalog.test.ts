// The metric catalog against the code and the docs: every metric the code registers is catalogued,
// docs/metrics.md names exactly the catalogued metrics, and names and labels follow the conventions.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { METRICS, METRIC_BY_NAME, TEMPLATE_METRICS } from "./catalog.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".") || e.name === "dist" || e.name === "web") continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) sourceFiles(full, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) out.push(full);
  }
  return out;
}

describe("metric catalog", () => {
  it("covers every metric the code registers", () => {
    const registered = new Map<string, string>();
    for (const dir of ["platform", "ingest", "correlate", "ui/server", "cli"]) {
      for (const f of sourceFiles(path.join(ROOT, dir))) {
        const text = fs.readFileSync(f, "utf8");
        for (const m of text.matchAll(/(?:metric\(\s*|name:\s*|\b[cg]\(\s*)"(sigil_[a-z0-9_]+)"/g)) registered.set(m[1], path.relative(ROOT, f));
      }
    }
    expect(registered.size).toBeGreaterThan(40);
    const missing = [...registered].filter(([n]) => !METRIC_BY_NAME.has(n)).map(([n, f]) => `${n} (${f})`);
    expect(missing, "add these to platform/telemetry/catalog.ts and docs/metrics.md").toEqual([]);
    for (const t of TEMPLATE_METRICS) expect(METRIC_BY_NAME.has(t)).toBe(true);
  });

  it("is what docs/metrics.md names, no more and no less", () => {
    const doc = fs.readFileSync(path.join(ROOT, "docs/metrics.md"), "utf8");
    const named = new Set([...doc.matchAll(/`(sigil_[a-z0-9_]+)`/g)].map((m) => m[1]));
    const undocumented = METRICS.map((m) => m.name).filter((n) => !named.has(n));
    expect(undocumented).toEqual([]);
    const unknown = [...named].filter((n) => !METRIC_BY_NAME.has(n));
    expect(unknown).toEqual([]);
  });

  it("follows Prometheus naming: sigil_ prefix, _total counters, units in the name, snake_case labels", () => {
    expect(new Set(METRICS.map((m) => m.name)).size).toBe(METRICS.length);
    for (const m of METRICS) {
      expect(m.name).toMatch(/^sigil_[a-z][a-z0-9_]*$/);
      if (m.type === "counter") expect(m.name, m.name).toMatch(/_total$/);
      else expect(m.name, m.name).not.toMatch(/_total$/);
      if (m.type === "histogram") expect(m.name, m.name).toMatch(/_(seconds|bytes)$/);
      for (const l of m.labels) {
        expect(l).toMatch(/^[a-z][a-z0-9_]*$/);
        // unbounded identities never become labels
        expect(["event_id", "id", "host", "user", "ip", "trace_id", "alert_id", "rule_id"]).not.toContain(l);
      }
      expect(m.help.length).toBeGreaterThan(10);
    }
  });
});
