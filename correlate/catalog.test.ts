// The rule catalog the correlate role writes (schema/rule-catalog.ts): every detection, correlation and
// anomaly rule of the running plan with its lint problems and the plan version, rewritten when the rules
// change, removed rules dropped, and a change that does not compile recorded in the header; read back
// through the console's rules query (ui/server/routes/rules.ts).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../platform/config/load.ts";
import { MemoryBus } from "../platform/bus/memory.ts";
import { EmbeddedStore } from "../platform/store/embedded.ts";
import { logger } from "../platform/telemetry/log.ts";
import { RULE_CATALOG_ID, RULE_CATALOG_ENTRY_KIND, type RuleCatalogEntry, type RuleCatalogHeader } from "../schema/rule-catalog.ts";
import { ruleRows } from "../ui/server/routes/rules.ts";
import { PROJECT_RULE_DIRS } from "./engine.ts";
import { correlateRole, rulePlanVersion } from "./service.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-catalog-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const rule = (id: string, word: string, extra = "") => `title: Catalog rule ${word}
id: ${id}
status: test
author: catalog test
tags: [attack.execution, attack.t1059]
logsource: {product: sigil, service: audit}
detection:
  selection:
    message|contains: '${word}'
  condition: selection
level: high
${extra}`;

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function entries(store: EmbeddedStore, version: string): Promise<RuleCatalogEntry[]> {
  const r = await store.search("state", { query: { op: "term", field: "kind", value: RULE_CATALOG_ENTRY_KIND, wildcard: false, phrase: false }, size: 1000 });
  return (r.hits as RuleCatalogEntry[]).filter((e) => e.plan_version === version);
}

describe("rule catalog", () => {
  it("lists every rule of the running plan with its problems, follows rule changes and keeps the plan on a broken change", async () => {
    const own = path.join(dir, "rules");
    fs.mkdirSync(own);
    fs.writeFileSync(path.join(own, "execution_alpha.yml"), rule("11111111-1111-4111-8111-111111111111", "alpha", "tags_note: x\n").replace("status: test", "status: weird"));
    fs.writeFileSync(path.join(own, "execution_gamma.yml"), rule("33333333-3333-4333-8333-333333333333", "gamma"));
    fs.writeFileSync(path.join(own, "execution_placeholder.yml"), rule("44444444-4444-4444-8444-444444444444", "x").replace("message|contains: 'x'", "user.name|expand: '%admins%'"));
    const [, correlationDir, anomalyDir] = PROJECT_RULE_DIRS;
    const dirs = [own, path.join(PROJECT_RULE_DIRS[0], "sigil"), path.join(correlationDir, "sigil"), path.join(anomalyDir, "network")];
    const config = loadConfig({ env: {} });
    const store = new EmbeddedStore({ file: ":memory:" });
    const role = correlateRole({ config, bus: new MemoryBus({ partitions: 2 }), store, log: logger("test", { level: "silent" }), rules: dirs, cwd: dir });
    await role.lifecycle.start();
    try {
      const version = rulePlanVersion(dirs);
      const header = (await store.get("state", RULE_CATALOG_ID)) as RuleCatalogHeader;
      expect(header.plan_version).toBe(version);
      const rows = await entries(store, version);
      expect(header.rule_count).toBe(rows.length);
      const byId = new Map(rows.map((r) => [r.rule_id, r]));
      // detection rules (ours and the pack's), the pack's correlations and an anomaly baseline
      expect(byId.get("11111111-1111-4111-8111-111111111111")).toMatchObject({ type: "detection", title: "Catalog rule alpha", level: "high", status: "weird", author: "catalog test", rule_file: "rules/execution_alpha.yml", enabled: true });
      expect(byId.get("11111111-1111-4111-8111-111111111111")!.problems.map((p) => [p.code, p.severity, p.file])).toContainEqual(["rule_bad_status", "warning", "rules/execution_alpha.yml"]);
      expect(byId.get("33333333-3333-4333-8333-333333333333")!.problems).toEqual([]);
      const placeholder = byId.get("44444444-4444-4444-8444-444444444444")!;
      expect(placeholder.enabled).toBe(false);
      expect(placeholder.problems.map((p) => p.code)).toEqual(expect.arrayContaining(["placeholder_unresolved", "rule_inactive"]));
      expect(byId.get("7d5fcd96-071a-4804-a108-579a0d19c62d")).toMatchObject({ type: "detection", title: "Sigil Console Sign-in Failed" });
      expect(byId.get("cc0853ab-b018-4bdc-b1be-475a9c1d4d3d")).toMatchObject({ type: "correlation", level: "critical" });
      expect(byId.get("1703a049-b4f5-4acd-84ad-a1576b81a270")).toMatchObject({ type: "correlation" });
      expect(rows.filter((r) => r.type === "anomaly").length).toBeGreaterThan(0);
      expect(rows.filter((r) => r.type === "anomaly").every((r) => r.rule_file?.endsWith(".yml"))).toBe(true);

      // what the console's Rules page reads
      const view = await ruleRows(store, null);
      expect(view.header?.plan_version).toBe(version);
      expect(view.rows.filter((r) => r.in_catalog).map((r) => r.rule_id).sort()).toEqual([...byId.keys()].sort());

      // a removed rule leaves the catalog, a new version is written
      fs.rmSync(path.join(own, "execution_gamma.yml"));
      await until("the new plan", () => role.stats.planSwaps >= 1);
      const v2 = rulePlanVersion(dirs);
      await until("the new catalog", async () => ((await store.get("state", RULE_CATALOG_ID)) as RuleCatalogHeader).plan_version === v2);
      expect(v2).not.toBe(version);
      const rows2 = await entries(store, v2);
      expect(rows2.map((r) => r.rule_id)).not.toContain("33333333-3333-4333-8333-333333333333");
      expect(rows2.length).toBe(rows.length - 1);
      expect(await store.get("state", "rule-catalog:33333333-3333-4333-8333-333333333333")).toBeNull();

      // a change that does not compile: the running plan stays, the header says why
      const swaps = role.stats.planSwaps;
      fs.writeFileSync(path.join(own, "execution_broken.yml"), "title: broken\nid: 55555555-5555-4555-8555-555555555555\nlogsource: {product: x}\ndetection: {condition: missing}\n");
      await until("the rejected change in the header", async () => ((await store.get("state", RULE_CATALOG_ID)) as RuleCatalogHeader).problems.some((p) => p.severity === "error"));
      const h3 = (await store.get("state", RULE_CATALOG_ID)) as RuleCatalogHeader;
      expect(role.stats.planSwaps).toBe(swaps);
      expect(h3.plan_version).toBe(v2);
      expect(h3.problems[0].file).toBe("rules/execution_broken.yml");
      expect(h3.problems[0].message).toMatch(/running plan .* is kept/);
      expect((await entries(store, v2)).length).toBe(rows2.length);
    } finally {
      await role.lifecycle.stop();
      await store.close();
    }
  });
});
