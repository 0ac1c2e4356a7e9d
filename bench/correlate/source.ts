// bench/correlate's input: the correlation rules of each case, and the rule matches fed to the engine,
// generated deterministically (seeded), as the Sigma matcher hands them over. Shared by run.ts and ab.ts.

import type { CorrelationPlan } from "../../correlate/correlation/plan.ts";
import { planFromYaml, detectionRule } from "../../correlate/correlation/testing.ts";
import type { Match } from "../../correlate/correlation/types.ts";
import { mulberry32 as rng } from "../../platform/prng.ts";

export const R = ["failed_logon", "successful_logon", "process_start"];
export const RULES = R.map((r, i) => detectionRule(r, String(i + 1))).join("");

export const CASES: Record<string, string> = {
  event_count: "type: event_count\n  rules: [failed_logon, successful_logon, process_start]\n  group-by: [user.name]\n  timespan: 5m\n  condition: {gte: 10}",
  value_count: "type: value_count\n  rules: [failed_logon, successful_logon, process_start]\n  group-by: [source.ip]\n  timespan: 10m\n  condition: {field: user.name, gte: 20}",
  temporal: "type: temporal\n  rules: [failed_logon, successful_logon, process_start]\n  group-by: [user.name]\n  timespan: 5m",
  temporal_ordered: "type: temporal_ordered\n  rules: [failed_logon, successful_logon, process_start]\n  group-by: [user.name]\n  timespan: 5m",
  value_sum: "type: value_sum\n  rules: [failed_logon, successful_logon, process_start]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {field: destination.bytes, gt: 100000000}",
  value_avg: "type: value_avg\n  rules: [failed_logon, successful_logon, process_start]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {field: destination.bytes, gt: 100000000}",
  value_percentile: "type: value_percentile\n  rules: [failed_logon, successful_logon, process_start]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {field: destination.bytes, percentile: 95, gt: 100000000}",
};

/** The YAML of a case: three detection rules and the correlation over them. */
export function caseYaml(body: string): string {
  return `${RULES}---
title: Bench
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
  ${body}
level: high
`;
}

export function planOf(body: string): CorrelationPlan {
  return planFromYaml(caseYaml(body));
}

/**
 * Matches as the Sigma matcher hands them over: realistic ECS events (user, source, host, bytes,
 * event id), event time advancing ~1 ms per match, 2% of them up to 5 s out of order (within the
 * allowed lateness), three rules matching 70% / 25% / 5% of the time. Generated in batches of 2,000
 * outside the timed loop (as a consumer hands over bus batches); the CPU time of the loop is measured.
 */
export class MatchSource {
  private readonly rand: () => number;
  private readonly ids: string[];
  private readonly users: string[];
  private readonly ips: string[];
  private t = Date.UTC(2026, 0, 1);
  private i = 0;
  constructor(plan: CorrelationPlan, groups: number, seed: number) {
    this.rand = rng(seed);
    this.ids = [...plan.rules.values()].filter((r) => R.includes(r.name ?? "")).sort((a, b) => R.indexOf(a.name!) - R.indexOf(b.name!)).map((r) => r.id);
    this.users = Array.from({ length: groups }, (_, i) => `user${i}@corp.example`);
    this.ips = Array.from({ length: Math.max(1, groups >> 4) }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  }
  chunk(n: number): Match[] {
    const out: Match[] = new Array(n);
    const rand = this.rand;
    for (let k = 0; k < n; k++) {
      const i = this.i++;
      this.t += 1;
      const jitter = rand() < 0.02 ? -Math.floor(rand() * 5_000) : 0;
      const ev = {
        "@timestamp": new Date(this.t + jitter).toISOString(),
        event: { id: (i.toString(16) + "e".repeat(32)).slice(0, 32), dataset: "system.auth", kind: "event" },
        user: { name: this.users[Math.floor(rand() * this.users.length)] },
        source: { ip: this.ips[Math.floor(rand() * this.ips.length)] },
        host: { name: `host-${Math.floor(rand() * 500)}` },
        destination: { bytes: Math.floor(rand() * 100_000) },
      };
      // rules match at different rates, as detection rules do: 70% / 25% / 5%
      const r = rand();
      const rule = r < 0.7 ? this.ids[0] : r < 0.95 ? this.ids[1] : this.ids[2];
      out[k] = { ruleId: rule, event: ev, time: this.t + jitter, eventId: "" };
    }
    // as a consumer gets them: parsed from the bus batch's JSON (flat strings, fresh objects)
    const parsed = JSON.parse(JSON.stringify(out.map((m) => m.event))) as Match["event"][];
    for (let k = 0; k < n; k++) {
      out[k].event = parsed[k];
      out[k].eventId = (parsed[k].event as { id: string }).id;
    }
    return out;
  }
}

