// Baseline history (schema/baseline-history.ts): every closed interval with its expected band, written by
// the correlate role's baselines stage as one bounded document per rule and entity, continued across
// restarts, quiet intervals as zeros, old points and stale documents dropped; read back with the
// console's queries (ui/server/routes/rules.ts).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config/load.ts";
import { MemoryBus } from "../../platform/bus/memory.ts";
import { EmbeddedStore } from "../../platform/store/embedded.ts";
import { StoreRejectError } from "../../platform/store/errors.ts";
import type { QueryNode } from "../../platform/store/types.ts";
import { logger } from "../../platform/telemetry/log.ts";
import { BASELINE_HISTORY_KIND, BASELINE_SUMMARY_KIND, baselineHistoryId, baselineSummaryId, type BaselineHistory, type BaselinePoint } from "../../schema/baseline-history.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { PROJECT_RULE_DIRS } from "../engine.ts";
import { correlateRole } from "../service.ts";
import { compileAnomalies, type CompiledAnomaly, type IntervalClose } from "./engine.ts";
import { BaselineHistoryWriter, mergePoints } from "./history.ts";
import { parseAnomalyDoc } from "./rule.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-baseline-history-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 12);
const term = (field: string, value: string): QueryNode => ({ op: "term", field, value, wildcard: false, phrase: false });

/** The console's look-up of one baseline's history (ui/server/routes/rules.ts /api/baselines/history). */
async function consoleHistory(store: EmbeddedStore, rule: string, field: string, value: string): Promise<BaselineHistory | null> {
  const r = await store.search("state", { query: { op: "and", args: [term("kind", BASELINE_HISTORY_KIND), term("rule_id", rule), term("entity.field", field), term("entity.value", value)] }, size: 1, sort: [{ field: "id", order: "asc" }] });
  return (r.hits[0] as BaselineHistory | undefined) ?? null;
}

function anomaly(intervalMs = HOUR): CompiledAnomaly {
  const doc = { title: "Requests per user", id: "9d0c8a4e-1b2f-4c3d-8e5f-60718293a4b5", level: "low", anomaly: { entity: "user.name", metric: "event_count", interval: `${intervalMs / 60_000}m`, baseline: { method: "robust", history: "7d", warmup: 3 }, threshold: { score: 6 } } };
  const r = parseAnomalyDoc({ doc, file: path.join(dir, "rule.yml"), line: 1, text: JSON.stringify(doc) });
  expect(r.problems.filter((p) => p.severity === "error")).toEqual([]);
  return compileAnomalies([r.rule!])[0];
}

const close = (a: CompiledAnomaly, key: string, hour: number, observed: number, quietBefore = 0, band: IntervalClose["expected"] = null): IntervalClose => ({ a, key, intervalStart: T0 + hour * HOUR, observed, expected: band, quietBefore });

describe("baseline history writer", () => {
  it("writes one document per baseline, merges later points into it (also from a new writer) and fills quiet intervals with zeros", async () => {
    const store = new EmbeddedStore({ file: ":memory:" });
    await store.init();
    const a = anomaly();
    const w = new BaselineHistoryWriter(store, {}, undefined, () => T0 + 100 * HOUR);
    w.add(close(a, "ann", 0, 5));
    w.add(close(a, "ann", 1, 7, 0, { low: 2, high: 9, center: 5 }));
    w.add(close(a, "bob", 1, 1));
    await w.flush();
    const id = baselineHistoryId(a.rule.id, "user.name", "ann");
    const doc = (await store.get("state", id)) as BaselineHistory;
    expect(doc).toMatchObject({ kind: BASELINE_HISTORY_KIND, rule_id: a.rule.id, rule_title: "Requests per user", metric: "event_count", entity: { field: "user.name", value: "ann" }, interval_ms: HOUR });
    expect(doc.points).toEqual([
      { t: new Date(T0).toISOString(), observed: 5, low: null, high: null, center: null },
      { t: new Date(T0 + HOUR).toISOString(), observed: 7, low: 2, high: 9, center: 5 },
    ]);
    expect(await consoleHistory(store, a.rule.id, "user.name", "bob")).toMatchObject({ points: [{ observed: 1 }] });
    // beside each history, the small summary the console's list of baselines reads
    expect(await store.get("state", baselineSummaryId(id))).toMatchObject({ kind: BASELINE_SUMMARY_KIND, history_id: id, rule_id: a.rule.id, point_count: 2, last_point: { observed: 7, high: 9 } });

    // a restarted process continues the stored document; two quiet hours become zeros
    const w2 = new BaselineHistoryWriter(store, {}, undefined, () => T0 + 101 * HOUR);
    w2.add(close(a, "ann", 4, 30, 2, { low: 3, high: 10, center: 6 }));
    w2.add(close(a, "ann", 1, 8, 0, { low: 2, high: 9, center: 5 })); // the same interval again (a redelivered batch): replaced, not doubled
    await w2.flush();
    const again = (await consoleHistory(store, a.rule.id, "user.name", "ann"))!;
    expect(again.points.map((p: BaselinePoint) => [(Date.parse(p.t) - T0) / HOUR, p.observed])).toEqual([
      [0, 5],
      [1, 8],
      [2, 0],
      [3, 0],
      [4, 30],
    ]);
    expect(w2.stats.written).toBe(1);
    await store.close();
  });

  it("keeps points within the retention and the count, caps the baselines it tracks, and sweeps documents no longer updated", async () => {
    const points: BaselinePoint[] = Array.from({ length: 50 }, (_, i) => ({ t: new Date(T0 + i * HOUR).toISOString(), observed: i, low: null, high: null, center: null }));
    expect(mergePoints(points, [], { maxPoints: 10, retentionMs: 1000 * HOUR }).map((p) => p.observed)).toEqual([40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
    expect(mergePoints(points, [], { maxPoints: 1000, retentionMs: 5 * HOUR }).map((p) => p.observed)).toEqual([44, 45, 46, 47, 48, 49]);

    const store = new EmbeddedStore({ file: ":memory:" });
    await store.init();
    const a = anomaly();
    let clock = T0;
    const w = new BaselineHistoryWriter(store, { maxBaselines: 2, retentionMs: 24 * HOUR }, undefined, () => clock);
    w.add(close(a, "u1", 0, 1));
    w.add(close(a, "u2", 0, 1));
    w.add(close(a, "u3", 0, 1)); // over the cap: no history for it
    expect(w.stats.untracked).toBe(1);
    await w.flush();
    expect(await consoleHistory(store, a.rule.id, "user.name", "u3")).toBeNull();
    // u1 goes quiet for longer than the retention: its slot goes to a new entity
    clock = T0 + 30 * HOUR;
    w.add(close(a, "u2", 30, 2));
    w.add(close(a, "u4", 30, 1));
    expect(w.stats.untracked).toBe(1);
    await w.flush();
    expect(await consoleHistory(store, a.rule.id, "user.name", "u4")).not.toBeNull();
    // u1's document was last written at T0: swept; u2 and u4 were written now
    expect(await w.sweep()).toBe(1);
    expect(await consoleHistory(store, a.rule.id, "user.name", "u1")).toBeNull();
    expect(await store.get("state", baselineSummaryId(baselineHistoryId(a.rule.id, "user.name", "u1")))).toBeNull();
    expect(await consoleHistory(store, a.rule.id, "user.name", "u2")).not.toBeNull();
    // an entity value too long for a document id is stored under a hash, and found by its fields
    const long = "x".repeat(600);
    const w3 = new BaselineHistoryWriter(store);
    w3.add(close(a, long, 31, 1));
    await w3.flush();
    expect(baselineHistoryId(a.rule.id, "user.name", long).length).toBeLessThan(200);
    expect((await consoleHistory(store, a.rule.id, "user.name", long))?.entity.value).toBe(long);
    await store.close();
  });

  it("keeps points the store refused for the next flush", async () => {
    const store = new EmbeddedStore({ file: ":memory:" });
    await store.init();
    const a = anomaly();
    let fail = true;
    const flaky = Object.create(store) as EmbeddedStore;
    flaky.put = async (c, docs) => {
      if (fail) throw new Error("store down");
      return store.put(c, docs);
    };
    const w = new BaselineHistoryWriter(flaky, {}, logger("test", { level: "silent" }));
    w.add(close(a, "ann", 0, 3));
    await w.flush();
    expect(w.stats.failed).toBe(1);
    expect(w.backlog).toBe(1);
    w.add(close(a, "ann", 1, 4));
    fail = false;
    await w.flush();
    expect((await consoleHistory(store, a.rule.id, "user.name", "ann"))!.points.map((p) => p.observed)).toEqual([3, 4]);

    // documents the store refuses for what they are are not written again and again
    flaky.put = async (c, docs) => {
      const rejected = docs.map((d, index) => ({ index, id: String(d["id"]), code: "doc_refused", reason: "mapping conflict" })).filter((r) => r.id.includes("carl"));
      const result = await store.put(c, docs.filter((d) => !String(d["id"]).includes("carl")));
      if (rejected.length) throw new StoreRejectError("state", rejected, result);
      return result;
    };
    w.add(close(a, "carl", 2, 1));
    w.add(close(a, "ann", 2, 5));
    await w.flush();
    expect(w.stats.refused).toBe(2);
    expect(w.backlog).toBe(0);
    expect((await consoleHistory(store, a.rule.id, "user.name", "ann"))!.points.map((p) => p.observed)).toEqual([3, 4, 5]);
    await store.close();
  });
});

describe("baseline history from the correlate role", () => {
  it("records every closed hour of a host's outbound volume with its band, and the spike above it", async () => {
    const config = loadConfig({ env: {} });
    const store = new EmbeddedStore({ file: ":memory:" });
    const bus = new MemoryBus({ partitions: 2 });
    const role = correlateRole({ config, bus, store, log: logger("test", { level: "silent" }), rules: [path.join(PROJECT_RULE_DIRS[2], "network")], cwd: dir });
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
    const events: EcsEvent[] = [];
    for (let h = 0; h < 72; h++) events.push(conn(T0 + h * HOUR + 600_000, [9e6, 11e6, 10e6, 12e6, 8e6][h % 5]));
    events.push(conn(T0 + 72 * HOUR + 1_200_000, 9e8)); // the spike
    events.push(conn(T0 + 73 * HOUR + 600_000, 1e7)); // an hour later: closes the spike's hour
    try {
      const producer = await bus.producer();
      await producer.send("events", events.map((e) => ({ key: "gw", value: JSON.stringify(e) })));
      await new Promise<void>((resolve, reject) => {
        const t0 = Date.now();
        const tick = async () => {
          if ((await store.count("signals", {})) >= 1) return resolve();
          if (Date.now() - t0 > 20_000) return reject(new Error("timed out waiting for the anomaly"));
          setTimeout(() => void tick(), 100);
        };
        void tick();
      });
    } finally {
      await role.lifecycle.stop(); // the last points are written on stop
    }
    const h = (await consoleHistory(store, "2f7c9d41-6b3e-4c8a-9f15-0d2e7a4b8c61", "source.ip", "10.0.2.20"))!;
    expect(h).toMatchObject({ metric: "sum:source.bytes", interval_ms: HOUR, rule_title: "Unusual Volume Sent Out by One Internal Host" });
    expect(h.points.map((p) => Date.parse(p.t))).toEqual(Array.from({ length: 73 }, (_, i) => T0 + i * HOUR));
    expect(h.points.slice(0, 24).every((p) => p.low === null)).toBe(true); // warm-up: no band yet
    const spike = h.points[72];
    expect(spike.observed).toBe(9e8);
    expect(spike.high).not.toBeNull();
    expect(spike.observed).toBeGreaterThan(spike.high!);
    expect(h.points.slice(24, 72).every((p) => p.low !== null && p.observed >= p.low! && p.observed <= p.high!)).toBe(true);
    await store.close();
  });
});
