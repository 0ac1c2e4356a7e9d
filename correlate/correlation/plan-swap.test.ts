// Hot-swap of the correlation plan in the stateful runner: state of unchanged rules is kept, state of
// removed rules dropped, new rules start empty, nothing is counted twice or lost, routing copies for
// rules this instance does not run yet wait for the rule change, and copies for removed rules do not.
import { describe, expect, it } from "vitest";
import { MemoryBus } from "../../platform/bus/memory.ts";
import type { Collection, Doc, Store } from "../../platform/store/types.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { Signal } from "../../schema/signal.ts";
import type { MatchedRule } from "../pipeline.ts";
import { correlationStage } from "./partition.ts";
import type { CorrelationPlan } from "./plan.ts";
import { StatefulRunner, type KnownRules } from "./runner.ts";
import { routedCopies } from "./stage.ts";
import { detectionRule, planFromYaml } from "./testing.ts";
import { loadRuleTexts } from "../sigma/loader.ts";
import { buildBaselines, type BaselineLoad } from "../baselines/load.ts";
import { RoutingBaselineStage, baselineStage } from "../baselines/stage.ts";

class StateStore implements Partial<Store> {
  docs = new Map<string, Doc>();
  async get(_c: Collection, id: string) {
    const d = this.docs.get(id);
    return d ? structuredClone(d) : null;
  }
  async getMany(_c: Collection, ids: string[]) {
    return ids.flatMap((id) => (this.docs.has(id) ? [structuredClone(this.docs.get(id)!)] : []));
  }
  async put(_c: Collection, docs: Doc[]) {
    for (const d of docs) this.docs.set(d.id as string, structuredClone(d));
    return { created: docs.length, existing: 0 };
  }
  async delete(_c: Collection, ids: string[]) {
    for (const id of ids) this.docs.delete(id);
  }
}

const corr = (id: string, title: string, groupBy: string, gte: number) => `---
title: ${title}
id: 0e95725d-7320-415d-80f7-004da920fc${id}
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [${groupBy}]
  timespan: 10m
  condition: {gte: ${gte}}
level: high
`;
const BY_USER = corr("11", "Brute force by user", "user.name", 3);
const BY_HOST = corr("13", "Brute force on host", "host.name", 3);
const PAIR = corr("14", "Two failures", "user.name", 2);
const v1 = planFromYaml(detectionRule("failed_logon", "1") + BY_USER + BY_HOST);
const v2 = planFromYaml(detectionRule("failed_logon", "1") + BY_USER + PAIR);
const v3 = planFromYaml(detectionRule("failed_logon", "1") + BY_USER + PAIR + corr("15", "Any failure", "user.name", 1));
const ruleOf = (p: CorrelationPlan): MatchedRule => {
  const r = [...p.rules.values()].find((x) => x.name === "failed_logon")!;
  return { id: r.id, name: "failed_logon", title: "failed", level: "low", tags: [] };
};
const known = (p: CorrelationPlan): KnownRules => ({ correlations: new Set(p.byId.keys()), baselines: new Set() });
const stageOf = (p: CorrelationPlan) => correlationStage(p, { allowedLatenessMs: 600_000, maxGroups: 10_000 });

const t0 = Date.now() - 3_600_000;
const failure = (i: number, user = "u1", host = `h${i}`): EcsEvent =>
  ({ "@timestamp": new Date(t0 + i * 1_000).toISOString(), event: { id: `ev${i}`.padEnd(32, "0"), kind: "event", dataset: "t" }, user: { name: user }, host: { name: host } }) as unknown as EcsEvent;

async function waitFor(cond: () => boolean, ms = 5_000) {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function setup() {
  const bus = new MemoryBus({ partitions: 2 });
  const store = new StateStore();
  const producer = await bus.producer();
  const hits: Signal[] = [];
  const obs = await bus.consumer({ groupId: "observer", topics: ["signals"] });
  await obs.run(async (b) => {
    for (const m of b.messages) {
      const s = JSON.parse(m.value.toString()) as Signal;
      if (s.signal.type === "correlation") hits.push(s);
    }
  });
  const send = (p: CorrelationPlan, e: EcsEvent) => producer.send("signals", routedCopies(p, ruleOf(p), e).map((s) => ({ key: s.signal.key, value: JSON.stringify(s) })));
  const titles = () => hits.map((h) => h.rule.title).sort();
  return { bus, store, hits, send, titles, close: () => obs.close() };
}

describe("correlation plan swap in the stateful runner", () => {
  it("keeps the state of unchanged rules, drops removed ones, starts new ones empty", async () => {
    const s = await setup();
    const runner = new StatefulRunner({ bus: s.bus, store: s.store as unknown as Store, stages: [stageOf(v1)], known: known(v1), checkpointIntervalMs: 60_000 });
    await runner.start();
    // two failures of u1 on host h0: by-user and by-host groups both at 2
    await s.send(v1, failure(1, "u1", "h0"));
    await s.send(v1, failure(2, "u1", "h0"));
    await waitFor(() => runner.stats.messages >= 4);
    const report = await runner.swap([stageOf(v2)], known(v2));
    expect(report.kept).toBe(1); // the u1 group of the unchanged by-user rule
    expect(report.dropped).toBe(1); // the h0 group of the removed by-host rule
    // the events stage now routes with v2: the third failure completes the kept by-user window;
    // the new pair rule counts from the swap on (one failure: no hit yet)
    await s.send(v2, failure(3, "u1", "h0"));
    await waitFor(() => s.hits.length >= 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.titles()).toEqual(["Brute force by user"]);
    await s.send(v2, failure(4, "u1", "h0"));
    await waitFor(() => s.hits.length >= 2);
    expect(s.titles()).toEqual(["Brute force by user", "Two failures"]);
    // a copy still routed by an instance on the old rules names the removed rule: dropped at once, no wait
    await s.send(v1, failure(5, "u2", "h9"));
    await waitFor(() => runner.stats.messages >= 8);
    expect(runner.stats.unknown).toBe(1);
    // the state written at the swap restores under the new plan (a restart or another member)
    await runner.stop();
    const again = new StatefulRunner({ bus: s.bus, store: s.store as unknown as Store, stages: [stageOf(v2)], known: known(v2), checkpointIntervalMs: 60_000 });
    await again.start();
    await s.send(v2, failure(6, "u2", "h9"));
    await s.send(v2, failure(7, "u2", "h9"));
    // u2: failure 5 (its by-user copy counted before the restart) + 6 + 7 reach 3; 6 + 7 make a pair
    await waitFor(() => s.hits.length >= 4);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.titles()).toEqual(["Brute force by user", "Brute force by user", "Two failures", "Two failures"]);
    await again.stop();
    await s.close();
  });

  it("holds copies naming a rule this instance does not run yet, and counts them once the rule change arrives", async () => {
    const s = await setup();
    const runner = new StatefulRunner({ bus: s.bus, store: s.store as unknown as Store, stages: [stageOf(v2)], known: known(v2), checkpointIntervalMs: 60_000 });
    await runner.start();
    // another instance already runs v3 (with "Any failure"): its copy reaches this v2 runner first
    await s.send(v3, failure(1, "u7", "h1"));
    await new Promise((r) => setTimeout(r, 400));
    expect(runner.stats.messages).toBe(0);
    expect(s.hits).toEqual([]);
    const report = await runner.swap([stageOf(v3)], known(v3));
    expect(report.dropped).toBe(0);
    await waitFor(() => s.hits.length >= 1);
    expect(s.titles()).toEqual(["Any failure"]);
    expect(runner.stats.unknown).toBe(0);
    await runner.stop();
    await s.close();
  });

  it("drops copies for a rule it never learns about after the hold, and counts them", async () => {
    const s = await setup();
    const runner = new StatefulRunner({ bus: s.bus, store: s.store as unknown as Store, stages: [stageOf(v2)], known: known(v2), checkpointIntervalMs: 60_000, unknownHoldMs: 300 });
    await runner.start();
    await s.send(v3, failure(1, "u7", "h1"));
    await waitFor(() => runner.stats.messages >= 1);
    expect(runner.stats.unknown).toBe(1);
    await runner.stop();
    await s.close();
  });
});

describe("anomaly plan swap in the stateful runner", () => {
  const anomaly = (id: string, entity: string) => `---
title: Volume of ${entity}
id: 9b0a3b5e-1111-4c2d-9e0f-0123456789${id}
status: test
level: medium
anomaly:
  entity: ${entity}
  metric: event_count
  interval: 1h
  threshold: {score: 3}
`;
  const baselines = (text: string): BaselineLoad => {
    const b = buildBaselines(loadRuleTexts([{ file: "anomaly.yml", text }]));
    expect(b.problems.filter((p) => p.severity === "error")).toEqual([]);
    return b;
  };
  const knownOf = (b: BaselineLoad): KnownRules => ({ correlations: new Set(), baselines: new Set(b.anomalies.map((a) => a.rule.id)) });
  const stageFor = (b: BaselineLoad) => baselineStage(b.anomalies, { allowedLatenessMs: 600_000, maxEntities: 10_000 });

  it("keeps the baselines of unchanged rules and drops those of removed ones", async () => {
    const b1 = baselines(anomaly("ab", "user.name") + anomaly("ac", "host.name"));
    const b2 = baselines(anomaly("ab", "user.name") + anomaly("ad", "source.ip"));
    const s = await setup();
    const producer = await s.bus.producer();
    const route = async (b: BaselineLoad, e: EcsEvent) => {
      const out: Signal[] = [];
      new RoutingBaselineStage(b.selection, (x) => out.push(x)).observe(e, undefined);
      await producer.send("signals", out.map((x) => ({ key: x.signal.key, value: JSON.stringify(x) })));
      return out.length;
    };
    const runner = new StatefulRunner({ bus: s.bus, store: s.store as unknown as Store, stages: [stageFor(b1)], known: knownOf(b1), checkpointIntervalMs: 60_000 });
    await runner.start();
    let sent = 0;
    for (let i = 0; i < 3; i++) sent += await route(b1, failure(i, "u1", "h1"));
    expect(sent).toBe(6); // one copy per rule and entity
    await waitFor(() => runner.stats.messages >= sent);
    const report = await runner.swap([stageFor(b2)], knownOf(b2));
    expect(report).toEqual({ partitions: 2, kept: 1, dropped: 1 }); // u1 kept, h1 dropped
    // a copy routed by the old rules for the removed host rule is dropped at once
    sent += await route(b1, failure(9, "u1", "h1"));
    await waitFor(() => runner.stats.messages >= sent);
    expect(runner.stats.unknown).toBe(1);
    await runner.stop();
    await s.close();
  });
});
