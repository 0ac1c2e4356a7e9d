// Signals of correlation hits, the routing copies that carry matches to the partition owning their
// group, and the pipeline stages built on them.
import { describe, expect, it } from "vitest";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { Signal } from "../../schema/signal.ts";
import { partitionFor } from "../../platform/bus/partitioner.ts";
import type { MatchedRule } from "../pipeline.ts";
import { registry } from "../../platform/telemetry/metrics.ts";
import { CorrelationEngine, GroupBudget } from "./engine.ts";
import { correlationStage } from "./partition.ts";
import { LocalCorrelationStage, RoutingCorrelationStage, matchFromRouted, routedCopies } from "./stage.ts";
import { detectionRule, planFromYaml } from "./testing.ts";
import type { CorrelationHit } from "./types.ts";

const plan = planFromYaml(
  detectionRule("failed_logon", "1").replace("level: low", "level: low\nauthor: Alice Analyst\ntags: [attack.credential-access, attack.t1110]") +
    detectionRule("successful_logon", "2") +
    `---
title: Many failures for one user
id: aaaaaaaa-0000-4000-8000-000000000001
name: many_failures_user
author: Bob Builder
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [user.name]
  timespan: 5m
  condition: {gte: 2}
level: high
---
title: Many failures from one address
id: aaaaaaaa-0000-4000-8000-000000000002
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [source.ip, host.name]
  timespan: 5m
  condition: {gte: 2}
  generate: true
level: medium
`,
);
const failed = [...plan.rules.values()].find((r) => r.name === "failed_logon")!;
const rule: MatchedRule = { id: failed.id, name: "failed_logon", title: failed.title, level: "low", tags: failed.tags ?? [], author: failed.author };

function ev(i: number, user: string, ip: string): EcsEvent {
  return {
    "@timestamp": new Date(Date.UTC(2026, 0, 15, 9, 0, i)).toISOString(),
    event: { id: `e${i}`.padEnd(32, "0"), kind: "event", category: ["authentication"], type: ["start"], dataset: "system.auth", outcome: "failure" },
    user: { name: user },
    source: { ip },
    host: { name: "db-1" },
    process: { name: "sshd", pid: 4242 },
    message: "a long message the correlation never reads",
  } as unknown as EcsEvent;
}

describe("routing copies", () => {
  it("one copy per distinct group key, carrying only the fields the correlations read", () => {
    const copies = routedCopies(plan, rule, ev(1, "bob", "10.0.0.5"), { file: "in.log", line: 7 });
    expect(copies.map((c) => c.signal.key).sort()).toEqual([JSON.stringify(["10.0.0.5", "db-1"]), "bob"].sort());
    const byUser = copies.find((c) => c.signal.key === "bob")!;
    expect(byUser.signal.route).toEqual({ correlations: ["aaaaaaaa-0000-4000-8000-000000000001"], fields: { "user.name": "bob" } });
    expect(byUser.signal.events).toEqual([{ id: "e1".padEnd(32, "0"), "@timestamp": "2026-01-15T09:00:01.000Z", dataset: "system.auth", file: "in.log", line: 7 }]);
    expect(byUser["message"]).toBeUndefined();
    expect(byUser.user).toEqual({ name: "bob" });
    // the same copy always gets the same id (at-least-once delivery deduplicates)
    expect(routedCopies(plan, rule, ev(1, "bob", "10.0.0.5"))[0].event.id).toBe(copies[0].event.id);
  });

  it("a copy evaluated on its partition gives the hit a local engine gives", () => {
    const events = [ev(1, "bob", "10.0.0.5"), ev(2, "bob", "10.0.0.6"), ev(3, "eve", "10.0.0.5")];
    const local: string[] = [];
    const st = new LocalCorrelationStage(plan, (s) => local.push(s.event.id), { allowedLatenessMs: 0 });
    for (const e of events) st.match(rule, e, undefined);
    // four partitions, one engine each, fed by key as the bus would
    const engines = new Map<number, CorrelationEngine>();
    const routed: CorrelationHit[] = [];
    for (const e of events)
      for (const s of routedCopies(plan, rule, e)) {
        const p = partitionFor(s.signal.key, 4);
        if (!engines.has(p)) engines.set(p, new CorrelationEngine(plan, { hit: (h) => routed.push(h) }, { allowedLatenessMs: 0, budget: new GroupBudget(100) }));
        const wire = JSON.parse(JSON.stringify(s)) as Signal;
        const r = matchFromRouted(wire)!;
        engines.get(p)!.onMatch(r.match, r.correlations);
      }
    expect(routed.map((h) => h.id).sort()).toEqual(local.sort());
    expect(local).toHaveLength(2);
  });

  it("the routing stage emits copies instead of evaluating, and keeps referenced rules silent", () => {
    const out: Signal[] = [];
    const st = new RoutingCorrelationStage(plan, (s) => out.push(s));
    st.match(rule, ev(1, "bob", "10.0.0.5"), undefined);
    expect(out).toHaveLength(2);
    expect(out.every((s) => s.signal.route)).toBe(true);
    // referenced by one correlation with generate: false and one with generate: true → alerts on its own
    expect(st.isSilent(rule.id)).toBe(false);
  });
});

describe("window entries metric", () => {
  it("sigil_stateful_window_entries sums the open partition engines' window events at scrape time, and stops counting a closed one", async () => {
    const scrape = async () => (await registry.getSingleMetric("sigil_stateful_window_entries")!.get()).values.find((v) => v.labels["stage"] === "correlation")?.value;
    const base = (await scrape()) ?? 0;
    const stage = correlationStage(plan, { allowedLatenessMs: 600_000, maxGroups: 100 });
    const parts = [0, 1].map((p) => stage.open(p, () => undefined));
    const copies = [ev(1, "bob", "10.0.0.5"), ev(2, "eve", "10.0.0.6")].flatMap((e) => routedCopies(plan, rule, e));
    for (const c of copies) parts[partitionFor(c.signal.key, 2)].accept(JSON.parse(JSON.stringify(c)) as Signal);
    expect(copies.length).toBeGreaterThan(1);
    expect(await scrape()).toBe(base + copies.length);
    parts[0].close();
    parts[1].close();
    expect(await scrape()).toBe(base);
  });
});

describe("generate on chained correlations", () => {
  const chain = (generate: boolean) =>
    planFromYaml(
      detectionRule("failed_logon", "1") +
        `---
title: Burst for one user
id: aaaaaaaa-0000-4000-8000-000000000003
name: burst
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [user.name]
  timespan: 5m
  condition: {gte: 2}
level: medium
---
title: Two bursts for one user
id: aaaaaaaa-0000-4000-8000-000000000004
correlation:
  type: event_count
  rules: [burst]
  group-by: [user.name]
  timespan: 1h
  condition: {gte: 2}
  generate: ${generate}
level: high
`,
    );
  const run = (generate: boolean) => {
    const p = chain(generate);
    const f = [...p.rules.values()].find((r) => r.name === "failed_logon")!;
    const out: Signal[] = [];
    const st = new LocalCorrelationStage(p, (s) => out.push(s), { allowedLatenessMs: 0 });
    for (let i = 0; i < 4; i++) st.match({ ...rule, id: f.id }, ev(i, "bob", "10.0.0.5"), undefined);
    st.finish();
    return { titles: out.map((s) => s.rule.title), silent: (id: string) => st.isSilent(id), detection: f.id };
  };

  it("generate: false (the default) keeps the inner correlation and its detection rule silent; the outer hit alerts", () => {
    const r = run(false);
    expect(r.titles).toEqual(["Two bursts for one user"]);
    expect(r.silent("aaaaaaaa-0000-4000-8000-000000000003")).toBe(true);
  });

  it("generate: true lets the inner hits alert on their own too", () => {
    const r = run(true);
    expect(r.titles).toEqual(["Burst for one user", "Burst for one user", "Two bursts for one user"]);
    expect(r.silent("aaaaaaaa-0000-4000-8000-000000000003")).toBe(false);
  });
});

describe("correlation signals", () => {
  it("carry the rule with every involved author, ATT&CK from the involved rules, event refs and the last event's entities", () => {
    const signals: Signal[] = [];
    const st = new LocalCorrelationStage(plan, (s) => signals.push(s), { allowedLatenessMs: 0 });
    st.match(rule, ev(1, "bob", "10.0.0.5"), { file: "in.log", line: 1 });
    st.match(rule, ev(2, "bob", "10.0.0.6"), { file: "in.log", line: 2 });
    const s = signals.find((x) => x.rule.id === "aaaaaaaa-0000-4000-8000-000000000001")!;
    expect(s.rule).toMatchObject({ title: "Many failures for one user", level: "high", name: "many_failures_user", author: "Bob Builder, Alice Analyst" });
    expect(s.rule.tags).toEqual(["attack.credential-access", "attack.t1110"]);
    expect(s.threat).toEqual({ framework: "MITRE ATT&CK", tactic: { name: ["credential-access"] }, technique: { id: ["T1110"] } });
    expect(s.event).toMatchObject({ kind: "signal", dataset: "sigil.signal", severity: 4, risk_score: 73 });
    expect(s.event.id).toMatch(/^[0-9a-f]{32}$/);
    expect(s["@timestamp"]).toBe("2026-01-15T09:00:02.000Z");
    expect(s.signal).toMatchObject({
      type: "correlation",
      key: "bob",
      correlation: { type: "event_count", group: { "user.name": "bob" }, value: 2, first_seen: "2026-01-15T09:00:01.000Z", last_seen: "2026-01-15T09:00:02.000Z", timespan_ms: 300_000 },
    });
    expect(s.signal.events.map((e) => [e.file, e.line])).toEqual([
      ["in.log", 1],
      ["in.log", 2],
    ]);
    expect(s.source).toEqual({ ip: "10.0.0.6" });
    expect(s.process).toEqual({ name: "sshd", pid: 4242 });
  });
});
