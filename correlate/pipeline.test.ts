import { describe, expect, it } from "vitest";
import { Pipeline, signalFromMatch, signalKey, threatFromTags, type MatchedRule } from "./pipeline.ts";
import { EntityModel } from "./chains/model.ts";
import type { EcsEvent } from "../schema/ecs.ts";
import type { Signal } from "../schema/signal.ts";

const rule: MatchedRule = { id: "r-1", title: "Sudo root shell", level: "medium", status: "test", tags: ["attack.privilege-escalation", "attack.t1548.003"], author: "Sigil project" };
const ev = (id: string, extra: Record<string, unknown> = {}): EcsEvent =>
  ({ "@timestamp": "2026-01-15T10:00:00.000Z", event: { id, kind: "event", dataset: "system.auth" }, host: { name: "db-1" }, user: { name: "deploy" }, ...extra }) as EcsEvent;

describe("signals from rule matches", () => {
  it("carries the rule (with author), ATT&CK, entity fields and the event reference; deterministic id", () => {
    const s = signalFromMatch(rule, ev("e1", { source: { ip: "203.0.113.66" } }), { file: "auth.log", line: 7 });
    expect(s.event).toMatchObject({ kind: "signal", severity: 3, risk_score: 47 });
    expect(s.rule).toMatchObject({ id: "r-1", author: "Sigil project", level: "medium" });
    expect(s.threat).toEqual({ framework: "MITRE ATT&CK", tactic: { name: ["privilege-escalation"] }, technique: { id: ["T1548.003"] } });
    expect(s.signal).toMatchObject({ type: "match", key: "db-1", events: [{ id: "e1", file: "auth.log", line: 7, dataset: "system.auth" }] });
    expect(s.source).toEqual({ ip: "203.0.113.66" });
    expect(signalFromMatch(rule, ev("e1")).event.id).toBe(s.event.id);
    expect(signalFromMatch(rule, ev("e2")).event.id).not.toBe(s.event.id);
  });

  it("keys signals by their primary entity and reads tactics in either spelling", () => {
    expect(signalKey({ service: { name: "Orders-API" } })).toBe("orders-api");
    expect(signalKey({ source: { ip: "10.0.0.1" } })).toBe("10.0.0.1");
    expect(threatFromTags(["attack.credential_access", "attack.t1003.001", "cve.2021-44228"])).toEqual({ framework: "MITRE ATT&CK", tactic: { name: ["credential-access"] }, technique: { id: ["T1003.001"] } });
    expect(threatFromTags(["detection.threat-hunting"])).toBeUndefined();
  });

  it("runs detection per event, feeds the entity model, and leaves silent rules to correlation", () => {
    const model = new EntityModel();
    const out: Signal[] = [];
    const fed: string[] = [];
    const p = new Pipeline({
      detection: { ruleCount: 2, match: (e, cb) => (e.event.id === "hit" ? (cb(rule), cb({ ...rule, id: "silent" })) : undefined) },
      correlation: { ruleCount: 1, match: (r) => void fed.push(r.id), advance: () => {}, finish: () => {}, isSilent: (id) => id === "silent" },
      model,
      onSignal: (s) => out.push(s),
    });
    p.process(ev("miss", { host: { name: "db-1", ip: ["10.0.2.20"] } }));
    p.process(ev("hit"));
    expect(out.map((s) => s.rule.id)).toEqual(["r-1"]);
    expect(fed).toEqual(["r-1", "silent"]);
    expect(p.stats).toMatchObject({ events: 2, matches: 2, signals: 1, silentMatches: 1 });
    expect(model.hostOfIp("10.0.2.20")).toBe("db-1");
  });
});
