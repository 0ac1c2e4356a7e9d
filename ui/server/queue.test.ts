// The queue filter has two implementations that must agree: the store query the server runs for
// snapshots and the predicate the browser applies to live updates. Property test over random alerts.

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EMPTY_FILTER, filterToParams, filterToQuery, matchesFilter, parseFilter, summarizeAlert, type AlertFilter } from "../shared/alert-filter.ts";
import { matches } from "./test-support/memory-store.ts";
import { makeAlert } from "./test-support/harness.ts";
import type { Alert } from "../../schema/signal.ts";
import { parsePrometheus } from "./health/prometheus.ts";
import { autoInterval, fillBuckets, timestampColumn } from "./search/arrow.ts";

const levels = ["informational", "low", "medium", "high", "critical"] as const;
const statuses = ["new", "acknowledged", "in_progress", "closed"] as const;
const names = ["bob", "alice", "ws1", "10.0.0.5", "db"];

const alertArb = fc.record({
  level: fc.constantFrom(...levels),
  status: fc.constantFrom(...statuses),
  assignee: fc.constantFrom(null, "bob", "alice"),
  tactics: fc.subarray(["execution", "persistence", "lateral-movement"]),
  users: fc.subarray(names),
  hosts: fc.subarray(names),
});

const filterArb = fc.record({
  severity: fc.subarray([...levels]),
  status: fc.subarray([...statuses]),
  assignee: fc.constantFrom(null, "me", "none", "bob", "alice"),
  tactic: fc.constantFrom(null, "execution", "lateral-movement"),
  entity: fc.constantFrom(null, ...names),
}) as fc.Arbitrary<AlertFilter>;

describe("queue filter", () => {
  it("selects the same alerts in the store query and in the browser predicate", () => {
    fc.assert(
      fc.property(alertArb, filterArb, (a, f) => {
        const alert: Alert = makeAlert({ level: a.level, status: a.status, assignee: a.assignee, tactics: a.tactics, entities: { users: a.users, hosts: a.hosts, ips: [], services: [] } });
        expect(matches(alert, filterToQuery(f, "alice"))).toBe(matchesFilter(summarizeAlert(alert), f, "alice"));
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips through the URL and drops values it does not know", () => {
    fc.assert(
      fc.property(filterArb, (f) => {
        const back = parseFilter(new URLSearchParams(filterToParams(f).toString()));
        expect(new Set(back.severity)).toEqual(new Set(f.severity));
        expect(new Set(back.status)).toEqual(new Set(f.status));
        expect([back.assignee, back.tactic, back.entity]).toEqual([f.assignee, f.tactic, f.entity]);
      }),
    );
    expect(parseFilter(new URLSearchParams("severity=high,bogus&status=<script>&entity=" + "x".repeat(1000)))).toEqual({ ...EMPTY_FILTER, severity: ["high"], entity: "x".repeat(256) });
  });
});

describe("prometheus text", () => {
  it("parses samples with labels and escapes, skipping junk", () => {
    const s = parsePrometheus(
      ['# HELP x y', 'sigil_a_total{reason="bad \\"quote\\"",code="x"} 3', "sigil_b 4.5 1700000000", "garbage line", 'sigil_c{unterminated="x} 1', "sigil_d NaN", "sigil_e +Inf"].join("\n"),
    );
    expect(s).toEqual([
      { name: "sigil_a_total", labels: { reason: 'bad "quote"', code: "x" }, value: 3 },
      { name: "sigil_b", labels: {}, value: 4.5 },
      { name: "sigil_e", labels: {}, value: Infinity },
    ]);
  });
});

describe("histogram helpers", () => {
  it("picks round intervals and fills gaps", () => {
    expect(autoInterval(0, 3600_000)).toBe(30_000);
    expect(autoInterval(0, 30 * 86_400_000)).toBe(6 * 3600_000);
    expect(fillBuckets([{ key: 2000, count: 5 }], 1000, 4000, 1000)).toEqual([{ key: 1000, count: 0 }, { key: 2000, count: 5 }, { key: 3000, count: 0 }]);
  });

  it("writes epoch milliseconds into int64 timestamps exactly", () => {
    const ms = [0, 1, 4294967295, 4294967296, Date.parse("2026-11-21T05:00:00.123Z"), 8.64e15];
    expect([...timestampColumn(ms)]).toEqual(ms);
  });
});
