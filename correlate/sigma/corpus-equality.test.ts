// The prefilter never changes a result: over the whole SigmaHQ corpus and events built from every kind
// of real sample in the shared data (the bench/detect lanes: Sysmon process and file events, Security
// logons, syslog lines, web access logs), the indexed match reports exactly the rules that evaluating
// every routed rule reports.
import { describe, expect, it } from "vitest";
import path from "node:path";
import { loadRules } from "./loader.ts";
import { loadPipelines } from "./pipeline.ts";
import { buildPlan } from "./plan.ts";
import { securityLogonLane, syslogLane, sysmonFileLane, sysmonProcessLane, webAccessLane } from "../../bench/detect/lanes.ts";
import { SHARED_DATA_MISSING, sharedDataDir } from "../../test/support/shared-data.ts";

const DATA = sharedDataDir();

describe.skipIf(!DATA)(`prefilter equality on the SigmaHQ corpus${DATA ? "" : ` (skipped: ${SHARED_DATA_MISSING})`}`, () => {
  it("match and matchExhaustive agree on every lane event", () => {
    const plan = buildPlan(loadRules([path.join(DATA as string, "sigmahq")]), loadPipelines("all"));
    const lanes = { sysmonProcessLane, sysmonFileLane, securityLogonLane, syslogLane, webAccessLane };
    let matched = 0;
    for (const [name, lane] of Object.entries(lanes)) {
      const lines = lane(500);
      for (let i = 0; i < lines.length; i++) {
        const ev = JSON.parse(lines[i]) as Record<string, unknown>;
        const a: string[] = [];
        const b: string[] = [];
        plan.match(ev, (r) => a.push(r.id));
        plan.matchExhaustive(ev, (r) => b.push(r.id));
        a.sort();
        b.sort();
        if (a.join() !== b.join()) expect({ lane: name, line: i, match: a }).toEqual({ lane: name, line: i, match: b });
        matched += a.length;
      }
    }
    // the lanes carry attacks: the comparison is over real matches, not only empty sets
    expect(matched).toBeGreaterThan(300);
  }, 180_000);
});
