// The documents the console's Rules, Health and Baselines pages read, written by the correlate role into
// a real Elasticsearch node: the rule catalog (every loaded rule with its problems and the plan version)
// and the baseline history (a host's hourly outbound volume with its band and the spike above it), read
// back with the console's own queries; stale history swept by time.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config/load.ts";
import { storeSchema } from "../../platform/config/sections/store.ts";
import { MemoryBus } from "../../platform/bus/memory.ts";
import { ElasticsearchStore, elasticsearchOptionsFromConfig } from "../../platform/store/elasticsearch.ts";
import type { QueryNode } from "../../platform/store/types.ts";
import { logger } from "../../platform/telemetry/log.ts";
import { BASELINE_HISTORY_KIND, BASELINE_SUMMARY_KIND, type BaselineHistory } from "../../schema/baseline-history.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { PROJECT_RULE_DIRS } from "../../correlate/engine.ts";
import { correlateRole, rulePlanVersion } from "../../correlate/service.ts";
import { BaselineHistoryWriter } from "../../correlate/baselines/history.ts";
import { ruleRows } from "../../ui/server/routes/rules.ts";
import { testIsolation } from "../support/services.ts";
import { auditConfigChange } from "../../platform/security/audit.ts";

const iso = testIsolation(import.meta.url);
afterAll(() => iso.cleanup());

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 12);
const RULE = "2f7c9d41-6b3e-4c8a-9f15-0d2e7a4b8c61";
const term = (field: string, value: string): QueryNode => ({ op: "term", field, value, wildcard: false, phrase: false });

describe("console state documents on Elasticsearch", () => {
  it("stores the rule catalog and baseline history the console reads", async () => {
    const cfg = storeSchema.parse({ type: "elasticsearch", elasticsearch: { node: iso.esUrl, index_prefix: iso.indexPrefix } });
    const store = new ElasticsearchStore({ ...elasticsearchOptionsFromConfig(cfg), retentionIntervalS: 0 });
    await store.init();
    // a rule of our own with a lint warning, so the catalog carries a located problem
    const own = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-state-es-"));
    fs.writeFileSync(path.join(own, "execution_odd.yml"), "title: Odd status\nid: 11111111-1111-4111-8111-111111111111\nstatus: weird\nlogsource: {product: sigil, service: audit}\ndetection:\n  sel:\n    event.action: nothing\n  condition: sel\nlevel: low\n");
    const dirs = [own, path.join(PROJECT_RULE_DIRS[0], "sigil"), path.join(PROJECT_RULE_DIRS[1], "sigil"), path.join(PROJECT_RULE_DIRS[2], "network")];
    const memBus = new MemoryBus({ partitions: 2 });
    const role = correlateRole({ config: loadConfig({ env: {} }), bus: memBus, store, log: logger("test", { level: "silent" }), rules: dirs, cwd: process.cwd() });
    await role.lifecycle.start();
    let n = 0;
    const conn = (t: number, bytes: number): EcsEvent =>
      ({
        "@timestamp": new Date(t).toISOString(),
        event: { id: (++n).toString(16).padStart(32, "0"), kind: "event", category: ["network"], type: ["connection"], dataset: "zeek.conn" },
        network: { direction: "outbound", transport: "tcp" },
        source: { ip: "10.0.2.20", bytes },
        destination: { ip: "198.51.100.20" },
        host: { name: "gw" },
      }) as unknown as EcsEvent;
    try {
      const events: EcsEvent[] = [];
      for (let h = 0; h < 48; h++) events.push(conn(T0 + h * HOUR + 600_000, [9e6, 11e6, 10e6, 12e6, 8e6][h % 5]));
      events.push(conn(T0 + 48 * HOUR + 1_200_000, 9e8), conn(T0 + 49 * HOUR + 600_000, 1e7));
      const producer = await memBus.producer();
      await producer.send("events", events.map((e) => ({ key: "gw", value: JSON.stringify(e) })));
      for (const t0 = Date.now(); ; ) {
        await store.refresh("signals");
        if ((await store.count("signals", { query: term("rule.id", RULE) })) >= 1) break;
        if (Date.now() - t0 > 30_000) throw new Error("timed out waiting for the anomaly");
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await role.lifecycle.stop();
    }
    await store.refresh("state");

    // Rules page and Health page
    const { header, rows } = await ruleRows(store, null);
    expect(header?.plan_version).toBe(rulePlanVersion(dirs));
    const catalogued = rows.filter((r) => r.in_catalog);
    expect(catalogued.length).toBe(header!.rule_count);
    expect(new Set(catalogued.map((r) => r.type))).toEqual(new Set(["detection", "correlation", "anomaly"]));
    expect(catalogued.find((r) => r.rule_id === RULE)).toMatchObject({ type: "anomaly", hits: 1 });
    const odd = catalogued.find((r) => r.rule_id === "11111111-1111-4111-8111-111111111111")!;
    expect(odd.problems.map((p) => [p.code, p.severity, p.line])).toContainEqual(["rule_bad_status", "warning", 3]);
    expect(odd.file).toMatch(/execution_odd\.yml$/);
    fs.rmSync(own, { recursive: true, force: true });

    // Baselines page: the console's look-up by rule and entity
    const found = await store.search("state", { query: { op: "and", args: [term("kind", BASELINE_HISTORY_KIND), term("rule_id", RULE), term("entity.field", "source.ip"), term("entity.value", "10.0.2.20")] }, size: 1, sort: [{ field: "id", order: "asc" }] });
    const h = found.hits[0] as BaselineHistory;
    expect(h.points.map((p) => Date.parse(p.t))).toEqual(Array.from({ length: 49 }, (_, i) => T0 + i * HOUR));
    const summary = await store.search("state", { query: { op: "and", args: [term("kind", BASELINE_SUMMARY_KIND), term("rule_id", RULE)] }, size: 10 });
    expect(summary.hits).toEqual([expect.objectContaining({ history_id: h.id, point_count: 49, last_point: expect.objectContaining({ observed: 9e8 }) })]);
    const spike = h.points[48];
    expect(spike.observed).toBe(9e8);
    expect(spike.observed).toBeGreaterThan(spike.high!);

    // documents not updated within the retention are swept by time
    const later = new BaselineHistoryWriter(store, { retentionMs: HOUR }, undefined, () => Date.now() + 2 * HOUR);
    expect(await later.sweep()).toBe(1);
    await store.refresh("state");
    expect(await store.count("state", { query: term("kind", BASELINE_HISTORY_KIND) })).toBe(0);
    expect(await store.count("state", { query: term("kind", BASELINE_SUMMARY_KIND) })).toBe(0);
    await store.dropAll();
    await store.close();
  });

  it("records a role's config fingerprint and its config.change audit records (the state's host is a name)", async () => {
    const cfg = storeSchema.parse({ type: "elasticsearch", elasticsearch: { node: iso.esUrl, index_prefix: `${iso.indexPrefix}fp-` } });
    const store = new ElasticsearchStore({ ...elasticsearchOptionsFromConfig(cfg), retentionIntervalS: 0 });
    await store.init();
    try {
      const first = await auditConfigChange(store, "correlate", { bus: { type: "kafka" } }, { host: "vm-1" });
      expect(first?.details).toMatchObject({ host: "vm-1", first_start: true });
      await store.refresh("state");
      expect(await auditConfigChange(store, "correlate", { bus: { type: "kafka" } }, { host: "vm-1" })).toBeNull();
      const changed = await auditConfigChange(store, "correlate", { bus: { type: "memory" } }, { host: "vm-1" });
      expect(changed?.details).toMatchObject({ first_start: false, changed_keys: 1, changes: [{ key: "bus.type", from: '"kafka"', to: '"memory"' }] });
      await store.refresh("audit");
      expect(await store.count("audit", { query: term("action", "config.change") })).toBe(2);
      await store.refresh("state");
      expect(await store.count("state", { query: term("host", "vm-1") })).toBe(1);
    } finally {
      await store.dropAll();
      await store.close();
    }
  });
});
