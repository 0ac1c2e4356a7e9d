import { describe, expect, it } from "vitest";
import { GroupBudget, type EngineSnapshot } from "./engine.ts";
import { STAMP_LIMIT } from "./touch-queue.ts";
import { at, detectionRule, planFromYaml, recorder } from "./testing.ts";

const failed = detectionRule("failed_logon", "1");
const success = detectionRule("successful_logon", "2");
const whoami = detectionRule("recon_whoami", "3");
const netgroup = detectionRule("recon_net_group", "4");
const transfer = detectionRule("transfer", "5");

function corr(body: string, extra = ""): string {
  return `---
title: Test correlation
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
${body
  .trim()
  .split("\n")
  .map((l) => "  " + l)
  .join("\n")}
level: high
${extra}`;
}

const eventCount = (cond = "{gte: 3}", ts = "5m") =>
  planFromYaml(failed + corr(`type: event_count\nrules: [failed_logon]\ngroup-by: [TargetUserName]\ntimespan: ${ts}\ncondition: ${cond}`));

describe("event_count (SIGMA.md Example 7-A)", () => {
  it("fires for bob on the third event within 5 minutes", () => {
    const r = recorder(eventCount());
    r.feed("failed_logon", at("00:00"), { TargetUserName: "bob" });
    r.feed("failed_logon", at("00:01"), { TargetUserName: "bob" });
    expect(r.hits).toHaveLength(0);
    r.feed("failed_logon", at("00:02"), { TargetUserName: "bob" });
    expect(r.hits).toHaveLength(1);
    const h = r.hits[0];
    expect(h.group).toEqual({ TargetUserName: "bob" });
    expect(h.value).toBe(3);
    expect(h.firstSeen).toBe(at("00:00"));
    expect(h.lastSeen).toBe(at("00:02"));
    expect(h.events.map((e) => e.line)).toEqual([1, 2, 3]);
    expect(h.key).toBe("bob");
  });

  it("does not fire for alice: no 5-minute window holds three", () => {
    const r = recorder(eventCount());
    for (const t of ["00:00", "00:04", "00:06"]) r.feed("failed_logon", at(t), { TargetUserName: "alice" });
    expect(r.hits).toHaveLength(0);
  });

  it("excludes events without the group-by field (carol)", () => {
    const r = recorder(eventCount());
    r.feed("failed_logon", at("00:00"), { TargetUserName: "carol" });
    r.feed("failed_logon", at("00:01"), { TargetUserName: "carol" });
    r.feed("failed_logon", at("00:01"), {});
    expect(r.hits).toHaveLength(0);
    expect(r.engine.stats.missingGroupField).toBe(1);
  });

  it("keeps groups apart", () => {
    const r = recorder(eventCount());
    for (const t of ["00:00", "00:01", "00:02"]) {
      r.feed("failed_logon", at(t), { TargetUserName: "bob" });
      r.feed("failed_logon", at(t), { TargetUserName: "eve" });
    }
    expect(r.hits.map((h) => h.group.TargetUserName).sort()).toEqual(["bob", "eve"]);
  });
});

describe("sliding windows in event time", () => {
  it("includes both edges: events exactly one timespan apart share a window", () => {
    const r = recorder(eventCount("{gte: 2}"));
    r.feed("failed_logon", at("00:00"), { TargetUserName: "bob" });
    r.feed("failed_logon", at("00:05"), { TargetUserName: "bob" });
    expect(r.hits).toHaveLength(1);
  });

  it("one millisecond past the edge is another window", () => {
    const r = recorder(eventCount("{gte: 2}"));
    r.feed("failed_logon", at("00:00"), { TargetUserName: "bob" });
    r.feed("failed_logon", at("00:05") + 1, { TargetUserName: "bob" });
    expect(r.hits).toHaveLength(0);
  });

  it("finds a burst that straddles a 5-minute boundary (no fixed buckets)", () => {
    const r = recorder(eventCount());
    for (const t of ["00:04", "00:06", "00:08"]) r.feed("failed_logon", at(t), { TargetUserName: "bob" });
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].firstSeen).toBe(at("00:04"));
  });

  it("after a hit the group starts over: each event counts toward at most one hit", () => {
    const r = recorder(eventCount());
    for (let i = 0; i < 7; i++) r.feed("failed_logon", at("00:00") + i * 1000, { TargetUserName: "bob" });
    expect(r.hits).toHaveLength(2);
    expect(r.hits[0].events.map((e) => e.line)).toEqual([1, 2, 3]);
    expect(r.hits[1].events.map((e) => e.line)).toEqual([4, 5, 6]);
    expect(new Set(r.hits.map((h) => h.id)).size).toBe(2);
  });

  it("gives the same hit the same id on a replay", () => {
    const run = () => {
      const r = recorder(eventCount());
      for (let i = 0; i < 3; i++) r.feed("failed_logon", at("00:00") + i, { TargetUserName: "bob" });
      return r.hits[0].id;
    };
    expect(run()).toBe(run());
    expect(run()).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("out-of-order and late events", () => {
  it("places an out-of-order event at its event time within the allowed lateness", () => {
    const r = recorder(eventCount(), { allowedLatenessMs: 10 * 60_000 });
    r.feed("failed_logon", at("00:00"), { TargetUserName: "bob" }, 1);
    r.feed("failed_logon", at("00:06"), { TargetUserName: "bob" }, 2);
    r.feed("failed_logon", at("00:01"), { TargetUserName: "bob" }, 3);
    expect(r.hits).toHaveLength(0); // windows ending at 00:01 and at 00:06 each hold two events
    expect(r.engine.stats.late).toBe(0);
  });

  it("fires on the window an out-of-order event completes", () => {
    const r = recorder(eventCount(), { allowedLatenessMs: 10 * 60_000 });
    r.feed("failed_logon", at("00:00"), { TargetUserName: "bob" }, 1);
    r.feed("failed_logon", at("00:07"), { TargetUserName: "bob" }, 2);
    r.feed("failed_logon", at("00:01"), { TargetUserName: "bob" }, 3);
    expect(r.hits).toHaveLength(0);
    r.feed("failed_logon", at("00:02"), { TargetUserName: "bob" }, 4);
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].events.map((e) => e.line)).toEqual([1, 3, 4]);
    expect(r.hits[0].lastSeen).toBe(at("00:02"));
    // 00:07 stays for later windows; events before the hit's end are suppressed
    r.feed("failed_logon", at("00:01") + 500, { TargetUserName: "bob" }, 5);
    expect(r.engine.stats.suppressed).toBe(1);
  });

  it("counts and reports events later than the allowed lateness", () => {
    const r = recorder(eventCount(), { allowedLatenessMs: 60_000 });
    r.feed("failed_logon", at("00:10"), { TargetUserName: "bob" }, 1);
    r.feed("failed_logon", at("00:09") + 1, { TargetUserName: "bob" }, 2); // within 1 min: fine
    r.feed("failed_logon", at("00:08"), { TargetUserName: "bob" }, 3); // 2 min behind: late
    expect(r.engine.stats.late).toBe(1);
    expect(r.dropped).toEqual([expect.objectContaining({ reason: "late", line: 3, behindMs: 60_000 })]);
  });
});

describe("value_count (SIGMA.md Example 7-B, password spraying)", () => {
  it("fires on the third distinct user from one source", () => {
    const plan = planFromYaml(failed + corr("type: value_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 10m\ncondition: {field: TargetUserName, gte: 3}"));
    const r = recorder(plan);
    const users = ["a", "a", "b", "c"];
    users.forEach((u, i) => r.feed("failed_logon", at("00:00") + i * 60_000, { IpAddress: "10.0.0.5", TargetUserName: u }));
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].value).toBe(3);
    expect(r.hits[0].events.map((e) => e.line)).toEqual([1, 2, 3, 4]);
    expect(r.hits[0].group).toEqual({ IpAddress: "10.0.0.5" });
  });

  it("several fields count distinct tuples; an event missing one of them is left out and counted", () => {
    const plan = planFromYaml(failed + corr("type: value_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 10m\ncondition: {field: [TargetUserName, TargetDomainName], gte: 3}"));
    const r = recorder(plan);
    r.feed("failed_logon", at("00:00"), { IpAddress: "x", TargetUserName: "a", TargetDomainName: "CORP" });
    r.feed("failed_logon", at("00:01"), { IpAddress: "x", TargetUserName: "a", TargetDomainName: "CORP" });
    r.feed("failed_logon", at("00:02"), { IpAddress: "x", TargetUserName: "a", TargetDomainName: "LAB" });
    r.feed("failed_logon", at("00:03"), { IpAddress: "x", TargetUserName: "b" });
    expect(r.hits).toHaveLength(0);
    expect(r.engine.stats.missingGroupField).toBe(1);
    r.feed("failed_logon", at("00:04"), { IpAddress: "x", TargetUserName: "b", TargetDomainName: "CORP" });
    expect(r.hits.map((h) => [h.value, h.events.map((e) => e.line)])).toEqual([[3, [1, 2, 3, 5]]]);
  });

  it("forgets values that left the window", () => {
    const plan = planFromYaml(failed + corr("type: value_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 10m\ncondition: {field: TargetUserName, gte: 3}"));
    const r = recorder(plan);
    r.feed("failed_logon", at("00:00"), { IpAddress: "x", TargetUserName: "a" });
    r.feed("failed_logon", at("00:05"), { IpAddress: "x", TargetUserName: "b" });
    r.feed("failed_logon", at("00:11"), { IpAddress: "x", TargetUserName: "c" });
    expect(r.hits).toHaveLength(0);
    r.feed("failed_logon", at("00:12"), { IpAddress: "x", TargetUserName: "a" });
    expect(r.hits).toHaveLength(1);
  });
});

describe("temporal and temporal_ordered (SIGMA.md Example 7-C)", () => {
  const body = (type: string) => `type: ${type}\nrules: [recon_whoami, recon_net_group]\ngroup-by: [ComputerName, User]\ntimespan: 5m`;
  const feedCase = (type: string) => {
    const r = recorder(planFromYaml(whoami + netgroup + corr(body(type))));
    const who = { ComputerName: "ws1", User: "bob" };
    r.feed("recon_net_group", at("10:00"), who);
    r.feed("recon_whoami", at("10:02"), who);
    const afterFirst = r.hits.length;
    r.feed("recon_whoami", at("10:03"), who);
    r.feed("recon_net_group", at("10:06"), who);
    return { afterFirst, r };
  };

  it("temporal_ordered fires only for whoami then net group", () => {
    const { afterFirst, r } = feedCase("temporal_ordered");
    expect(afterFirst).toBe(0);
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].firstSeen).toBe(at("10:02"));
    expect(r.hits[0].lastSeen).toBe(at("10:06"));
    expect(r.hits[0].group).toEqual({ ComputerName: "ws1", User: "bob" });
    expect(r.hits[0].key).toBe(JSON.stringify(["ws1", "bob"]));
  });

  it("restores a version-1 checkpoint of a temporal window (times, and rule positions as values) into the packed layout", () => {
    const plan = planFromYaml(whoami + netgroup + transfer + corr(`type: temporal\nrules: [recon_whoami, recon_net_group, transfer]\ngroup-by: [User]\ntimespan: 5m`));
    const c = plan.correlations[0];
    const snapshotOf = (times: number[]) => ({
      v: 1 as const,
      maxTime: times[times.length - 1],
      files: [],
      // as every engine since the format's first version writes it: [key, floor, newest, closeAt, times, refs, lines, files, values, entity]
      correlations: { [c.id]: { fp: c.fingerprint, groups: [["bob", null, times[times.length - 1], null, times, ["e1", "e2"], [1, 2], null, [0, 1], null]] } },
    });
    for (const times of [
      [at("10:00"), at("10:01")],
      // a fractional millisecond: the window restores side by side instead of packed
      [at("10:00") + 0.5, at("10:01")],
    ]) {
      const r = recorder(plan);
      // as read back from the store: JSON
      r.engine.restore(JSON.parse(JSON.stringify(snapshotOf(times))) as EngineSnapshot);
      expect(r.engine.snapshot().correlations[c.id].groups[0][8]).toEqual([0, 1]);
      r.feed("transfer", at("10:02"), { User: "bob" }, 3);
      expect(r.hits).toHaveLength(1);
      expect(r.hits[0].events.map((e) => [e.id, e.time, e.line])).toEqual([
        ["e1", times[0], 1],
        ["e2", times[1], 2],
        ["e3", at("10:02"), 3],
      ]);
      expect(r.hits[0].firstSeen).toBe(times[0]);
    }
  });

  it("temporal fires on the first pair already (10:02)", () => {
    const { afterFirst, r } = feedCase("temporal");
    expect(afterFirst).toBe(1);
    expect(r.hits[0].lastSeen).toBe(at("10:02"));
    expect(r.hits[0].value).toBe(2);
  });

  it("temporal_ordered with equal timestamps follows arrival order", () => {
    const r = recorder(planFromYaml(whoami + netgroup + corr(body("temporal_ordered"))));
    const who = { ComputerName: "ws1", User: "bob" };
    r.feed("recon_net_group", at("10:00"), who);
    r.feed("recon_whoami", at("10:00"), who);
    expect(r.hits).toHaveLength(0);
    r.feed("recon_net_group", at("10:00"), who);
    expect(r.hits).toHaveLength(1);
  });

  it("a count condition on temporal_ordered asks for an in-order chain that long", () => {
    const three = detectionRule("step_c", "6");
    const plan = planFromYaml(
      whoami + "---\n" + netgroup + "---\n" + three + corr("type: temporal_ordered\nrules: [recon_whoami, recon_net_group, step_c]\ngroup-by: [User]\ntimespan: 5m\ncondition: {gte: 2}"),
    );
    const r = recorder(plan);
    r.feed("step_c", at("10:00"), { User: "u" });
    r.feed("recon_net_group", at("10:01"), { User: "u" });
    expect(r.hits).toHaveLength(0);
    r.feed("step_c", at("10:02"), { User: "u" });
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].value).toBe(2);
  });
});

describe("extended temporal conditions", () => {
  it("and/or over rule names fires on arrival", () => {
    const plan = planFromYaml(failed + "---\n" + success + "---\n" + whoami + corr('type: temporal\ngroup-by: [User]\ntimespan: 10m\ncondition: "failed_logon and (successful_logon or recon_whoami)"'));
    const r = recorder(plan);
    r.feed("failed_logon", at("00:00"), { User: "u" });
    r.feed("failed_logon", at("00:01"), { User: "u" });
    expect(r.hits).toHaveLength(0);
    r.feed("recon_whoami", at("00:02"), { User: "u" });
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].events).toHaveLength(3);
  });

  it("not: absence is decided when the window closes", () => {
    const plan = planFromYaml(failed + "---\n" + success + corr('type: temporal\ngroup-by: [User]\ntimespan: 10m\ncondition: "failed_logon and not successful_logon"'));
    const r = recorder(plan);
    r.feed("failed_logon", at("00:00"), { User: "u" });
    r.feed("failed_logon", at("00:00"), { User: "v" });
    r.feed("successful_logon", at("00:05"), { User: "v" });
    expect(r.hits).toHaveLength(0);
    r.feed("failed_logon", at("00:10"), { User: "w" });
    expect(r.hits).toHaveLength(0); // 00:10 is still inside u's window [00:00, 00:10]
    r.feed("failed_logon", at("00:10") + 1, { User: "w" });
    expect(r.hits.map((h) => h.group.User)).toEqual(["u"]);
    r.engine.flush();
    expect(r.hits.map((h) => h.group.User)).toEqual(["u", "w"]);
  });

  it("temporal_ordered with an expression needs the positive rules in order", () => {
    const plan = planFromYaml(whoami + "---\n" + netgroup + corr('type: temporal_ordered\nrules: [recon_whoami, recon_net_group]\ngroup-by: [User]\ntimespan: 5m\ncondition: "recon_whoami and recon_net_group"'));
    const r = recorder(plan);
    r.feed("recon_net_group", at("10:00"), { User: "u" });
    r.feed("recon_whoami", at("10:01"), { User: "u" });
    expect(r.hits).toHaveLength(0);
    r.feed("recon_net_group", at("10:02"), { User: "u" });
    expect(r.hits).toHaveLength(1);
  });
});

describe("value_sum, value_avg, value_percentile, value_median", () => {
  const valuePlan = (type: string, cond: string) =>
    planFromYaml(transfer + corr(`type: ${type}\nrules: [transfer]\ngroup-by: [user.name]\ntimespan: 1h\ncondition: ${cond}`));

  it("value_sum fires when the bytes in one hour pass the threshold", () => {
    const r = recorder(valuePlan("value_sum", "{field: destination.bytes, gt: 1000}"));
    r.feed("transfer", at("00:00"), { user: { name: "u" }, destination: { bytes: 400 } });
    r.feed("transfer", at("00:30"), { user: { name: "u" }, destination: { bytes: 500 } });
    expect(r.hits).toHaveLength(0);
    r.feed("transfer", at("01:00"), { user: { name: "u" }, destination: { bytes: "200" } });
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].value).toBe(1100);
    expect(r.hits[0].group).toEqual({ "user.name": "u" });
  });

  it("value_sum drops values that left the window and reports non-numbers", () => {
    const r = recorder(valuePlan("value_sum", "{field: destination.bytes, gt: 1000}"));
    r.feed("transfer", at("00:00"), { user: { name: "u" }, destination: { bytes: 900 } });
    r.feed("transfer", at("01:01"), { user: { name: "u" }, destination: { bytes: 200 } });
    r.feed("transfer", at("01:02"), { user: { name: "u" }, destination: { bytes: "lots" } });
    expect(r.hits).toHaveLength(0);
    expect(r.engine.stats.badValue).toBe(1);
    expect(r.dropped[0]).toMatchObject({ reason: "bad_value", line: 3 });
  });

  it("value_avg compares the window average", () => {
    const r = recorder(valuePlan("value_avg", "{field: destination.bytes, gte: 100}"));
    r.feed("transfer", at("00:00"), { user: { name: "u" }, destination: { bytes: 50 } });
    r.feed("transfer", at("00:01"), { user: { name: "u" }, destination: { bytes: 100 } });
    expect(r.hits).toHaveLength(0);
    r.feed("transfer", at("00:02"), { user: { name: "u" }, destination: { bytes: 150 } });
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].value).toBe(100);
  });

  it("value_percentile and value_median use the window's values", () => {
    const p = recorder(valuePlan("value_percentile", "{field: destination.bytes, percentile: 90, gte: 1000}"));
    for (let i = 1; i <= 9; i++) p.feed("transfer", at("00:00") + i, { user: { name: "u" }, destination: { bytes: i } });
    expect(p.hits).toHaveLength(0);
    p.feed("transfer", at("00:00") + 10, { user: { name: "u" }, destination: { bytes: 5000 } });
    p.feed("transfer", at("00:00") + 11, { user: { name: "u" }, destination: { bytes: 5000 } });
    expect(p.hits).toHaveLength(1);
    const m = recorder(valuePlan("value_median", "{field: destination.bytes, gte: 10}"));
    m.feed("transfer", at("00:00"), { user: { name: "u" }, destination: { bytes: 1 } });
    m.feed("transfer", at("00:01"), { user: { name: "u" }, destination: { bytes: 2 } });
    m.feed("transfer", at("00:02"), { user: { name: "u" }, destination: { bytes: 100 } });
    expect(m.hits).toHaveLength(0); // medians 1, 1.5, 2
    m.feed("transfer", at("00:03"), { user: { name: "u" }, destination: { bytes: 50 } });
    expect(m.hits).toHaveLength(1);
    expect(m.hits[0].value).toBe(26);
  });
});

describe("lt/lte: decided when the window closes", () => {
  it("fires for groups with fewer events than the bound once the window closed", () => {
    const plan = eventCount("{lt: 3}", "10m");
    const r = recorder(plan);
    r.feed("failed_logon", at("00:00"), { TargetUserName: "few" });
    r.feed("failed_logon", at("00:01"), { TargetUserName: "many" });
    r.feed("failed_logon", at("00:02"), { TargetUserName: "many" });
    r.feed("failed_logon", at("00:03"), { TargetUserName: "many" });
    r.feed("failed_logon", at("00:09"), { TargetUserName: "few" });
    expect(r.hits).toHaveLength(0);
    r.feed("failed_logon", at("00:20"), { TargetUserName: "other" });
    expect(r.hits.map((h) => [h.group.TargetUserName, h.value])).toEqual([["few", 2]]);
    r.engine.flush();
    expect(r.hits.map((h) => h.group.TargetUserName)).toEqual(["few", "other"]);
  });

  it("the group's own next event, just past the window, does not drop the window's first event", () => {
    // three failures in 10 minutes are not "fewer than 3"; the fourth, 1 ms after the window, closes it
    const r = recorder(eventCount("{lt: 3}", "10m"));
    r.feed("failed_logon", at("00:00"), { TargetUserName: "a" }, 1);
    r.feed("failed_logon", at("00:04"), { TargetUserName: "a" }, 2);
    r.feed("failed_logon", at("00:10"), { TargetUserName: "a" }, 3);
    r.feed("failed_logon", at("00:10") + 1, { TargetUserName: "a" }, 4);
    expect(r.hits).toEqual([]);
    r.engine.flush();
    expect(r.hits.map((h) => [h.value, h.events.map((e) => e.line)])).toEqual([[1, [4]]]);
  });

  it("a range (gt + lte) is AND-ed and decided at close", () => {
    const r = recorder(eventCount("{gt: 1, lte: 2}", "10m"));
    r.feed("failed_logon", at("00:00"), { TargetUserName: "a" });
    r.feed("failed_logon", at("00:01"), { TargetUserName: "a" });
    r.feed("failed_logon", at("00:00"), { TargetUserName: "b" });
    r.engine.flush();
    expect(r.hits.map((h) => h.group.TargetUserName)).toEqual(["a"]);
  });
});

describe("aliases and chained correlations", () => {
  it("an alias reads a different field per rule", () => {
    const plan = planFromYaml(
      failed + "---\n" + success + corr("type: temporal\nrules: [failed_logon, successful_logon]\ngroup-by: [account]\ntimespan: 5m\naliases:\n  account:\n    failed_logon: TargetUserName\n    successful_logon: user.name"),
    );
    const r = recorder(plan);
    r.feed("failed_logon", at("00:00"), { TargetUserName: "bob" });
    r.feed("successful_logon", at("00:01"), { user: { name: "bob" } });
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].group).toEqual({ account: "bob" });
  });

  it("a correlation over a correlation sees the inner hit as an event with all its events", () => {
    const plan = planFromYaml(
      failed +
        "---\n" +
        success +
        `---
title: Many failures
id: aaaaaaaa-0000-4000-8000-000000000001
name: many_failures
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [user.name]
  timespan: 5m
  condition: {gte: 3}
---
title: Brute force then success
id: aaaaaaaa-0000-4000-8000-000000000002
author: Outer Author
correlation:
  type: temporal_ordered
  rules: [many_failures, successful_logon]
  group-by: [user.name]
  timespan: 10m
level: high
`,
    );
    const outer = plan.correlations.find((c) => c.id === "aaaaaaaa-0000-4000-8000-000000000002")!;
    expect(outer.index).toBeGreaterThan(plan.correlations.find((c) => c.rule.meta.name === "many_failures")!.index);
    expect(plan.silent.has("aaaaaaaa-0000-4000-8000-000000000001")).toBe(true);
    expect(plan.silent.has(plan.correlations[0].refIds[0])).toBe(true);
    const r = recorder(plan);
    for (let i = 0; i < 3; i++) r.feed("failed_logon", at("00:00") + i * 1000, { user: { name: "bob" } });
    r.feed("successful_logon", at("00:02"), { user: { name: "bob" } });
    expect(r.hits.map((h) => h.ruleId)).toEqual(["aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"]);
    expect(r.hits[1].events.map((e) => e.line)).toEqual([1, 2, 3, 4]);
    expect(r.hits[1].eventCount).toBe(4);
    expect(r.hits[1].group).toEqual({ "user.name": "bob" });
  });
});

describe("bounded state", () => {
  it("evicts the stalest group when max_groups is reached, and counts it", () => {
    const plan = eventCount("{gte: 2}");
    const rr = recorder(plan, { budget: new GroupBudget(2) });
    rr.feed("failed_logon", at("00:00"), { TargetUserName: "a" });
    rr.feed("failed_logon", at("00:00"), { TargetUserName: "b" });
    rr.feed("failed_logon", at("00:00"), { TargetUserName: "a" }); // a fires (2), touched: b is stalest
    rr.feed("failed_logon", at("00:01"), { TargetUserName: "c" }); // evicts b
    rr.feed("failed_logon", at("00:01"), { TargetUserName: "b" }); // b starts over; evicts a
    expect(rr.engine.stats.evicted).toBe(2);
    expect(rr.engine.groupCount()).toBe(2);
    expect(rr.hits.map((h) => h.group.TargetUserName)).toEqual(["a"]);
    expect(rr.dropped.filter((d) => d.reason === "evicted")).toHaveLength(2);
  });

  it("renumbers the update stamps at STAMP_LIMIT and keeps the stalest-first order", () => {
    const plan = eventCount("{gte: 2}");
    const budget = new GroupBudget(3);
    const rr = recorder(plan, { budget });
    rr.feed("failed_logon", at("00:00"), { TargetUserName: "a" });
    rr.feed("failed_logon", at("00:00"), { TargetUserName: "b" });
    rr.feed("failed_logon", at("00:00"), { TargetUserName: "c" });
    // two billion updates later: the next stamps would leave the small-integer range
    budget.seq = STAMP_LIMIT - 2;
    rr.feed("failed_logon", at("00:00"), { TargetUserName: "a" }); // stamp STAMP_LIMIT - 1: a fires
    rr.feed("failed_logon", at("00:01"), { TargetUserName: "b" }); // renumbered: c 1, a 2, b 4; b fires
    expect(budget.seq).toBeLessThan(10);
    rr.feed("failed_logon", at("00:01"), { TargetUserName: "d" }); // evicts c, the stalest
    rr.feed("failed_logon", at("00:01"), { TargetUserName: "c" }); // c starts over; evicts a
    expect(rr.engine.stats.evicted).toBe(2);
    expect(rr.dropped.filter((d) => d.reason === "evicted").length).toBe(2);
    expect(rr.hits.map((h) => h.group.TargetUserName)).toEqual(["a", "b"]);
    expect(budget.seq).toBeLessThan(10);
  });

  it("expires idle groups once no open window can use them", () => {
    const r = recorder(eventCount("{gte: 5}"));
    r.feed("failed_logon", at("00:00"), { TargetUserName: "a" });
    r.feed("failed_logon", at("00:01"), { TargetUserName: "b" });
    expect(r.engine.groupCount()).toBe(2);
    r.feed("failed_logon", at("00:30"), { TargetUserName: "c" });
    expect(r.engine.groupCount()).toBe(1);
    expect(r.engine.stats.expired).toBe(2);
  });

  it("counts the events held in windows: added per match, released by a hit and by expiry", () => {
    const r = recorder(eventCount("{gte: 3}"));
    expect(r.engine.entryCount()).toBe(0);
    r.feed("failed_logon", at("00:00"), { TargetUserName: "a" });
    r.feed("failed_logon", at("00:01"), { TargetUserName: "a" });
    r.feed("failed_logon", at("00:01"), { TargetUserName: "b" });
    expect(r.engine.entryCount()).toBe(3);
    r.feed("failed_logon", at("00:02"), { TargetUserName: "a" }); // a fires: its window is reported and emptied
    expect(r.hits).toHaveLength(1);
    expect(r.engine.entryCount()).toBe(1);
    r.feed("failed_logon", at("00:30"), { TargetUserName: "c" }); // a and b expire
    expect(r.engine.entryCount()).toBe(1);
    expect(r.engine.groupCount()).toBe(1);
  });

  it("caps the events kept per group window", () => {
    const plan = planFromYaml(failed + corr("type: value_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: {field: TargetUserName, gte: 1000}"));
    const r = recorder(plan, { maxWindowEvents: 50 });
    for (let i = 0; i < 200; i++) r.feed("failed_logon", at("00:00") + i, { IpAddress: "x", TargetUserName: `u${i}` });
    const snap = r.engine.snapshot();
    expect(Object.values(snap.correlations)[0].groups[0][4]).toHaveLength(50);
  });
});

describe("hit ids", () => {
  it("hitId is schema's derivedId, computed faster", async () => {
    const { hitId } = await import("./engine.ts");
    const { derivedId } = await import("../../schema/event-id.ts");
    for (const parts of [["a"], ["sigil.correlation", "id", "bob", "1", "2", "x", "y", "3"], ["ü\u0000", ""]]) expect(hitId(...parts)).toBe(derivedId(...parts));
  });
});
