import { describe, expect, it } from "vitest";
import { ChainBuilder } from "./builder.ts";
import { EntityModel } from "./model.ts";
import { chainRisk } from "./risk.ts";
import { alertAfterEarly, alertForChain, alertMergedInto, mergedAfterEarly } from "./alerts.ts";
import { LEVEL_RISK, type Alert, type Level, type Signal } from "../../schema/signal.ts";

let n = 0;
function sig(at: string, rule: string, level: Level, tags: string[], fields: Record<string, unknown>, id?: string): Signal {
  const sid = id ?? `sig-${++n}`;
  return {
    "@timestamp": at,
    event: { id: sid, kind: "signal", dataset: "sigil.signal", severity: 3, risk_score: LEVEL_RISK[level] },
    rule: { id: rule, title: `rule ${rule}`, level, tags, status: "stable" },
    signal: { type: "match", key: "k", events: [{ id: `ev-${sid}`, "@timestamp": at, dataset: String(fields["__dataset"] ?? "test") }] },
    ...fields,
  } as Signal;
}
const T = (m: number) => new Date(Date.UTC(2026, 0, 1, 10, m)).toISOString();

describe("ChainBuilder linking", () => {
  it("links one user across DOMAIN\\user and user@domain and says why", () => {
    const b = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
    b.add(sig(T(0), "r1", "medium", ["attack.credential-access"], { user: { name: "CORP\\Bob" } }));
    const r = b.add(sig(T(5), "r2", "medium", ["attack.lateral-movement"], { user: { name: "bob@corp.example" } }));
    expect(b.chains()).toHaveLength(1);
    const chain = b.chain(r.chainId)!;
    expect(chain.steps).toHaveLength(2);
    expect(chain.steps[1].why.join(" ")).toMatch(/user bob \(normalized from bob@corp.example\).*shared with "rule r1"/);
    expect(chain.links[0]).toMatchObject({ entity: { type: "user", value: "bob" } });
  });

  it("does not link outside the window", () => {
    const b = new ChainBuilder(new EntityModel(), { windowMs: 10 * 60_000, alertThreshold: 0 });
    b.add(sig(T(0), "r1", "high", [], { user: { name: "bob" } }));
    b.add(sig(T(30), "r2", "high", [], { user: { name: "bob" } }));
    expect(b.chains()).toHaveLength(2);
  });

  it("links through process lineage learned from events", () => {
    const m = new EntityModel();
    m.observe({ "@timestamp": T(0), event: { id: "e1", kind: "event", dataset: "sysmon" }, process: { entity_id: "{payload-1}", parent: { entity_id: "{dropper-0}" } } });
    m.observe({ "@timestamp": T(1), event: { id: "e2", kind: "event", dataset: "sysmon" }, process: { entity_id: "{cmd-2}", parent: { entity_id: "{payload-1}" } } });
    const b = new ChainBuilder(m, { alertThreshold: 0 });
    b.add(sig(T(1), "exec", "medium", ["attack.execution"], { process: { entity_id: "{payload-1}" } }));
    const r = b.add(sig(T(2), "recon", "low", ["attack.discovery"], { process: { entity_id: "{cmd-2}", parent: { entity_id: "{payload-1}" } } }));
    expect(b.chains()).toHaveLength(1);
    expect(b.chain(r.chainId)!.steps[1].why[0]).toMatch(/^process payload-1/);
  });

  it("joins an attack that crosses services through its trace and span parents", () => {
    const b = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
    b.add(sig(T(0), "sqli", "high", ["attack.initial-access"], { service: { name: "web" }, trace: { id: "aaaabbbbccccdddd" }, span: { id: "1111111111111111" } }));
    const r = b.add(sig(T(0), "cmd", "high", ["attack.execution"], { service: { name: "api" }, trace: { id: "AAAABBBBCCCCDDDD" }, parent: { id: "1111111111111111" } }));
    const chain = b.chain(r.chainId)!;
    expect(chain.steps).toHaveLength(2);
    expect(chain.entities.services).toEqual(["api", "web"]);
    expect(chain.links.map((l) => l.entity.type).sort()).toEqual(["span", "trace"]);
  });

  it("does not glue unrelated signals through a hub entity", () => {
    const m = new EntityModel({ minObservations: 50 });
    for (let i = 0; i < 300; i++) m.observe({ "@timestamp": T(0), event: { id: `e${i}`, kind: "event", dataset: "d" }, host: { name: "srv" }, destination: { ip: "10.0.0.53" }, source: { ip: `10.0.1.${i % 200}` } });
    const b = new ChainBuilder(m, { alertThreshold: 0 });
    b.add(sig(T(0), "r1", "high", [], { host: { name: "srv" }, destination: { ip: "10.0.0.53" }, user: { name: "SYSTEM" } }));
    b.add(sig(T(1), "r2", "high", [], { host: { name: "SRV.corp.example" }, destination: { ip: "10.0.0.53" }, user: { name: "NT AUTHORITY\\SYSTEM" } }));
    expect(b.chains()).toHaveLength(2);
  });

  it("merges two chains that a later signal connects, keeping the older chain's id", () => {
    const b = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
    const a = b.add(sig(T(0), "r1", "medium", [], { user: { name: "alice" } }));
    const c = b.add(sig(T(1), "r2", "medium", [], { source: { ip: "203.0.113.9" } }));
    expect(a.chainId).not.toBe(c.chainId);
    const r = b.add(sig(T(2), "r3", "medium", [], { user: { name: "alice" }, source: { ip: "203.0.113.9" } }));
    expect(r.chainId).toBe(a.chainId);
    expect(r.merged).toEqual([c.chainId]);
    expect(b.chains()).toHaveLength(1);
    expect(b.chain(a.chainId)!.steps.map((s) => s.rule.id)).toEqual(["r1", "r2", "r3"]);
  });
});

describe("ordering, risk, suppression, idempotency, bounds", () => {
  it("orders steps by time, then by tactic progression", () => {
    const b = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
    b.add(sig(T(3), "exfil", "high", ["attack.exfiltration"], { user: { name: "eve" } }));
    b.add(sig(T(1), "exec", "high", ["attack.execution"], { user: { name: "eve" } }));
    const r = b.add(sig(T(1), "phish", "high", ["attack.initial-access"], { user: { name: "eve" } }));
    const chain = b.chain(r.chainId)!;
    expect(chain.steps.map((s) => s.rule.id)).toEqual(["phish", "exec", "exfil"]);
    expect(chain.tactics).toEqual(["initial-access", "execution", "exfiltration"]);
    expect(chain.first_seen).toBe(T(1));
  });

  it("keeps one low signal quiet and escalates several tactics on one entity", () => {
    const b = new ChainBuilder(new EntityModel());
    const one = b.add(sig(T(0), "low1", "low", ["attack.discovery"], { user: { name: "mallory" } }));
    expect(one.promoted).toBe(false);
    expect(b.chains()).toHaveLength(0);
    b.add(sig(T(1), "m1", "medium", ["attack.credential-access"], { user: { name: "mallory" } }));
    const r = b.add(sig(T(2), "h1", "high", ["attack.lateral-movement", "attack.t1021.002"], { user: { name: "mallory" } }));
    expect(r.promoted).toBe(true);
    expect(b.chains()).toHaveLength(1);
    expect(b.chains()[0].score).toBeGreaterThanOrEqual(50);
  });

  it("scores breadth: more tactics and hosts raise the score, repeats of one rule barely do", () => {
    const step = (ruleId: string, level: Level) => ({ ruleId, level, confidence: 1, count: 1 });
    const narrow = chainRisk([step("a", "medium"), step("b", "medium")], { tactics: 1, techniques: 1, hosts: 1, sources: 1 });
    const wide = chainRisk([step("a", "medium"), step("b", "medium")], { tactics: 2, techniques: 2, hosts: 2, sources: 2 });
    const repeats = chainRisk([step("a", "medium"), step("a", "medium"), step("a", "medium")], { tactics: 1, techniques: 1, hosts: 1, sources: 1 });
    const single = chainRisk([step("a", "medium")], { tactics: 1, techniques: 1, hosts: 1, sources: 1 });
    expect(wide.score).toBeGreaterThan(narrow.score);
    expect(repeats.score).toBeLessThan(narrow.score);
    expect(repeats.score).toBeGreaterThanOrEqual(single.score);
    expect(chainRisk([step("c", "critical")], { tactics: 1, techniques: 1, hosts: 1, sources: 1 }).score).toBeGreaterThanOrEqual(50);
    expect(single.score).toBeLessThan(50);
  });

  it("matches the documented examples (docs/chains.md section 3)", () => {
    const b = { tactics: 1, techniques: 1, hosts: 1, sources: 1 };
    const s = (ruleId: string, level: Level, confidence = 0.85) => ({ ruleId, level, confidence, count: 1 });
    expect([chainRisk([s("a", "low")], b).score, chainRisk([s("a", "medium")], b).score, chainRisk([s("a", "high")], b).score]).toEqual([14, 28, 40]);
    expect(chainRisk([s("a", "critical")], b).score).toBe(50);
    expect(chainRisk([s("a", "critical", 1)], b).score).toBe(56);
    const two = { tactics: 2, techniques: 2, hosts: 1, sources: 1 };
    expect(chainRisk([s("a", "low"), s("b", "medium")], two).score).toBe(47);
    expect(chainRisk([s("a", "medium"), s("b", "medium")], two).score).toBe(58);
  });

  it("counts the same rule on the same entity within the suppression window into one step", () => {
    const b = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
    b.add(sig(T(0), "brute", "medium", ["attack.credential-access"], { user: { name: "root" }, source: { ip: "198.51.100.4" } }));
    const r2 = b.add(sig(T(1), "brute", "medium", ["attack.credential-access"], { user: { name: "root" }, source: { ip: "198.51.100.4" } }));
    expect(r2.suppressed).toBe(true);
    const chain = b.chain(r2.chainId)!;
    expect(chain.steps).toHaveLength(1);
    expect(chain.steps[0]["count"]).toBe(2);
    expect(chain.steps[0].events).toHaveLength(2);
    expect(chain["duplicate_count"]).toBe(1);
  });

  it("is idempotent under redelivery and deterministic across runs", () => {
    const build = () => {
      const b = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
      const s1 = sig(T(0), "r1", "high", [], { user: { name: "bob" } }, "fixed-1");
      const s2 = sig(T(1), "r2", "high", [], { user: { name: "bob" } }, "fixed-2");
      b.add(s1);
      b.add(s2);
      const again = b.add(s2);
      expect(again.duplicate).toBe(true);
      return b.chains();
    };
    const a = build();
    const c = build();
    expect(a).toHaveLength(1);
    expect(a[0].id).toBe(c[0].id);
    expect(a[0].steps).toHaveLength(2);
  });

  it("keeps state bounded: max chains, max steps, window expiry", () => {
    const b = new ChainBuilder(new EntityModel(), { maxChains: 50, maxStepsPerChain: 5, alertThreshold: 0, windowMs: 3600_000 });
    for (let i = 0; i < 200; i++) b.add(sig(T(0), `r${i}`, "low", [], { user: { name: `u${i}` } }));
    expect(b.size).toBeLessThanOrEqual(50);
    for (let i = 0; i < 20; i++) b.add(sig(T(1), `x${i}`, "low", [], { user: { name: "busy" } }));
    const busy = b.chains().find((c) => c.entities.users.includes("busy"))!;
    expect(busy.steps).toHaveLength(5);
    expect(busy["signal_count"]).toBe(20);
    const finalized = b.expire(Date.parse(T(0)) + 3 * 3600_000);
    expect(finalized.length).toBeGreaterThan(0);
    expect(b.size).toBe(0);
  });
});

describe("alert lifecycle for chains", () => {
  const chainOf = (steps: number) => {
    const b = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
    let id = "";
    for (let i = 0; i < steps; i++) id = b.add(sig(T(i), `r${i}`, "high", ["attack.execution"], { user: { name: "zed" } }, `life-${i}`)).chainId;
    return b.chain(id)!;
  };

  it("creates one alert per chain and updates it in place, keeping triage", () => {
    const first = alertForChain(chainOf(2), null, T(10))!;
    expect(first.alert).toMatchObject({ status: "new", version: 1, step_count: 2, chain_id: first.alert.id });
    expect(first.audit[0].action).toBe("alert.create");
    const triaged: Alert = { ...first.alert, status: "in_progress", assignee: "ann", version: 2, notes: [{ id: "n1", author: "ann", at: T(11), text: "looking" }] };
    const grown = alertForChain(chainOf(3), triaged, T(12))!;
    expect(grown.alert.id).toBe(first.alert.id);
    expect(grown.alert).toMatchObject({ status: "in_progress", assignee: "ann", version: 3, step_count: 3 });
    expect(grown.alert.notes).toHaveLength(1);
    expect(alertForChain(chainOf(3), grown.alert, T(13))).toBeNull();
  });

  it("reopens a closed alert when its chain gains steps, and closes merged chains' alerts", () => {
    const a = alertForChain(chainOf(2), null, T(10))!.alert;
    const closed: Alert = { ...a, status: "closed", close_reason: "false_positive", version: 2 };
    const r = alertForChain(chainOf(3), closed, T(12))!;
    expect(r.alert.status).toBe("new");
    expect(r.audit.map((x) => x.action)).toEqual(["alert.chain_update", "alert.reopen"]);
    const m = alertMergedInto(a, "other-chain", T(13))!;
    expect(m.alert).toMatchObject({ status: "closed", close_reason: "duplicate", merged_into: "other-chain" });
  });

  it("an alert published before its first write (decision 0023): stored as published, or as the next version with both changes audited", () => {
    const published = alertForChain(chainOf(2), null, T(10))!;
    // unchanged chain: the very update that went out, so the writer knows not to publish it again
    expect(alertAfterEarly(chainOf(2), published, T(11))).toBe(published);
    const grown = alertAfterEarly(chainOf(3), published, T(11));
    expect(grown.alert).toMatchObject({ id: published.alert.id, version: 2, step_count: 3, status: "new" });
    expect(grown.audit.map((x) => x.action)).toEqual(["alert.create", "alert.chain_update"]);
    expect(grown.audit[0]).toBe(published.audit[0]);
    // merged away before its first write: stored closed as a duplicate, both changes audited
    const merged = mergedAfterEarly(published, "survivor", T(12))!;
    expect(merged.alert).toMatchObject({ version: 2, status: "closed", close_reason: "duplicate", merged_into: "survivor" });
    expect(merged.audit.map((x) => x.action)).toEqual(["alert.create", "alert.merge"]);
  });
});

describe("restoring chains after a restart", () => {
  it("brings a stored chain back with its id, steps and reasons; new signals join it, redeliveries stay duplicates", () => {
    const signals = [0, 1, 2].map((i) => sig(T(i), `rr${i}`, "high", ["attack.execution"], { user: { name: "quinn" } }, `restore-${i}`));
    const first = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
    for (const x of signals) first.add(x);
    const stored = first.chains()[0];
    const second = new ChainBuilder(new EntityModel(), { alertThreshold: 0 });
    expect(second.restore(stored, signals)).toBe(true);
    expect(second.restore(stored, signals)).toBe(false);
    const back = second.chain(stored.id)!;
    expect(back.steps.map((s) => s.why)).toEqual(stored.steps.map((s) => s.why));
    expect(second.add(signals[1]).duplicate).toBe(true);
    const grown = second.add(sig(T(5), "rr9", "high", ["attack.exfiltration"], { user: { name: "quinn" } }, "restore-9"));
    expect(grown.chainId).toBe(stored.id);
    expect(second.chain(stored.id)!.steps).toHaveLength(4);
  });
});
