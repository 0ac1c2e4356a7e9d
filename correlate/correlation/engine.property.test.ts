// The engine (incremental windows, purging, expiry, snapshots) against a naive reference that
// recomputes every candidate window from the full list of events, on random streams.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { testNumeric, type NumericCondition } from "./condition.ts";
import type { CorrelationPlan } from "./plan.ts";
import { at, detectionRule, planFromYaml, recorder } from "./testing.ts";

const T = 10_000;
const BASE = at("00:00");

interface Ev {
  g: string;
  rule: number;
  t: number;
  v: number;
}

/** Semantics of docs/decisions/0015 for arrival-mode conditions, computed the slow way. */
function reference(type: string, cond: NumericCondition, events: Ev[], lateness: number, nRules: number): { lines: number[]; value: number }[] {
  const hits: { lines: number[]; value: number }[] = [];
  let maxTime = -Infinity;
  const groups = new Map<string, { floor: number; es: (Ev & { line: number })[] }>();
  events.forEach((e, i) => {
    if (e.t > maxTime) maxTime = e.t;
    if (e.t < maxTime - lateness) return; // late
    let g = groups.get(e.g);
    if (!g) groups.set(e.g, (g = { floor: -Infinity, es: [] }));
    if (e.t < g.floor) return; // suppressed
    let p = g.es.length;
    while (p > 0 && g.es[p - 1].t > e.t) p--;
    g.es.splice(p, 0, { ...e, line: i + 1 });
    for (let j = p; j < g.es.length && g.es[j].t <= e.t + T; j++) {
      const win = g.es.slice(0, j + 1).filter((x) => x.t >= g.es[j].t - T);
      const value = aggregate(type, win, nRules);
      if (testNumeric(cond, value)) {
        hits.push({ lines: win.map((x) => x.line), value });
        g.floor = g.es[j].t;
        g.es = g.es.slice(j + 1);
        break;
      }
    }
  });
  return hits;
}

function aggregate(type: string, win: Ev[], nRules: number): number {
  switch (type) {
    case "event_count":
      return win.length;
    case "value_count":
      return new Set(win.map((x) => x.v)).size;
    case "value_sum":
      return win.reduce((s, x) => s + x.v, 0);
    case "value_avg":
      return win.reduce((s, x) => s + x.v, 0) / win.length;
    case "value_median":
      return percentile(win, 50);
    case "value_percentile":
      return percentile(win, PERCENTILE);
    case "temporal":
      return new Set(win.map((x) => x.rule)).size;
    case "temporal_ordered": {
      const best = new Array<number>(nRules).fill(0);
      let max = 0;
      for (const x of win) {
        let L = 1;
        for (let q = 0; q < x.rule; q++) L = Math.max(L, best[q] + 1);
        best[x.rule] = Math.max(best[x.rule], L);
        max = Math.max(max, L);
      }
      return max;
    }
  }
  throw new Error(type);
}

/** Linear interpolation between closest ranks (numpy's default), written out independently. */
function percentile(win: Ev[], p: number): number {
  const xs = win.map((x) => x.v).sort((a, b) => a - b);
  const pos = ((xs.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  return lo + 1 < xs.length ? xs[lo] + (pos - lo) * (xs[lo + 1] - xs[lo]) : xs[lo];
}

const PERCENTILE = 90;
const VALUE_TYPES = new Set(["value_count", "value_sum", "value_avg", "value_median", "value_percentile"]);

const rules = ["ra", "rb", "rc"];
const ruleDocs = rules.map((r, i) => detectionRule(r, String(i + 1))).join("");

function planFor(type: string, threshold: number): CorrelationPlan {
  const pct = type === "value_percentile" ? `percentile: ${PERCENTILE}, ` : "";
  const field = VALUE_TYPES.has(type) ? `\n  condition: {field: v, ${pct}gte: ${threshold}}` : `\n  condition: {gte: ${threshold}}`;
  return planFromYaml(`${ruleDocs}---
title: P
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
  type: ${type}
  rules: [${type.startsWith("temporal") ? rules.join(", ") : "ra"}]
  group-by: [g]
  timespan: 10s${field}
level: high
`);
}

const streamArb = (multiRule: boolean) =>
  fc.array(
    fc.record({
      g: fc.constantFrom("a", "b", "c"),
      rule: multiRule ? fc.integer({ min: 0, max: 2 }) : fc.constant(0),
      dt: fc.integer({ min: -6_000, max: 5_000 }),
      v: fc.integer({ min: 0, max: 5 }),
    }),
    { minLength: 1, maxLength: 80 },
  );

function toEvents(raw: { g: string; rule: number; dt: number; v: number }[]): Ev[] {
  let clock = BASE;
  return raw.map((r) => {
    clock += Math.max(0, r.dt);
    return { g: r.g, rule: r.rule, t: r.dt < 0 ? clock + r.dt : clock, v: r.v };
  });
}

function run(plan: CorrelationPlan, events: Ev[], lateness: number, snapshotEvery = 0) {
  let r = recorder(plan, { allowedLatenessMs: lateness, maxWindowEvents: 1_000_000 });
  const hits: { lines: number[]; value: number }[] = [];
  let seen = 0;
  const collect = () => {
    for (; seen < r.hits.length; seen++) hits.push({ lines: r.hits[seen].events.map((e) => e.line!), value: r.hits[seen].value });
  };
  events.forEach((e, i) => {
    const idx = i + 1;
    r.feed(rules[e.rule], e.t, { g: e.g, v: e.v }, idx);
    collect();
    if (snapshotEvery && idx % snapshotEvery === 0) {
      // restart from a snapshot into a fresh engine, as after a crash or a rebalance
      const snap = r.engine.snapshot();
      const fresh = recorder(plan, { allowedLatenessMs: lateness, maxWindowEvents: 1_000_000 });
      fresh.engine.restore(JSON.parse(JSON.stringify(snap)));
      r = fresh;
      seen = 0;
    }
  });
  return hits;
}

/** The engine's hits equal the reference's, run straight through and (every > 0) restored from a snapshot every `every` events. */
function expectReference(type: string, threshold: number, events: Ev[], lateness: number, every: number): void {
  const plan = planFor(type, threshold);
  const want = reference(type, plan.correlations[0].rule.condition as NumericCondition, events, lateness, 3);
  expect(run(plan, events, lateness)).toEqual(want);
  if (every > 0) expect(run(plan, events, lateness, every)).toEqual(want);
}

describe.each(["event_count", "value_count", "value_sum", "value_avg", "value_median", "value_percentile", "temporal", "temporal_ordered"])("%s matches the reference semantics", (type) => {
  const multi = type.startsWith("temporal");
  it("on random streams with out-of-order and late events", () => {
    fc.assert(
      fc.property(streamArb(multi), fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 2_000, 20_000), (raw, threshold, lateness) => {
        const events = toEvents(raw);
        const plan = planFor(type, threshold);
        const cond = plan.correlations[0].rule.condition as NumericCondition;
        const want = reference(type, cond, events, lateness, 3);
        expect(run(plan, events, lateness)).toEqual(want);
      }),
      { numRuns: 150 },
    );
  });

  it("and across snapshot/restore every few events", () => {
    fc.assert(
      fc.property(streamArb(multi), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 7 }), (raw, threshold, every) => {
        const events = toEvents(raw);
        const plan = planFor(type, threshold);
        expect(run(plan, events, 2_000, every)).toEqual(run(plan, events, 2_000));
      }),
      { numRuns: 100 },
    );
  });

  // whole milliseconds within ±2^47 are the usual case (and the packed form of the temporal types); a
  // fractional time, or a stream crossing 2^47 ms, arriving mid-window must change nothing for any type,
  // nor once the group has emptied and fills again
  it("with fractional-millisecond times and times crossing 2^47 ms, and across snapshot/restore", () => {
    const fracStream = fc.array(
      fc.record({
        g: fc.constantFrom("a", "b"),
        rule: multi ? fc.integer({ min: 0, max: 2 }) : fc.constant(0),
        dt: fc.integer({ min: -6_000, max: 5_000 }),
        v: fc.integer({ min: 0, max: 5 }),
        frac: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.constantFrom(0.25, 0.5, 0.75), weight: 1 }),
      }),
      { minLength: 1, maxLength: 80 },
    );
    fc.assert(
      fc.property(fracStream, fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 2_000), fc.boolean(), fc.integer({ min: 0, max: 7 }), (raw, threshold, lateness, far, every) => {
        const shift = far ? 2 ** 47 - 30_000 - BASE : 0;
        const events = toEvents(raw).map((e, i) => ({ ...e, t: e.t + shift + raw[i].frac }));
        expectReference(type, threshold, events, lateness, every);
      }),
      { numRuns: 100 },
    );
  });
});

describe.each(["temporal", "temporal_ordered"])("%s over long windows where referenced rules leave and come back", (type) => {
  // one group, many events per window, one rule rare: the rules present change as the window
  // slides (a rule's last event leaving, or an older one of several), which is what the
  // incremental presence tracking must get right
  const longStream = fc.array(
    fc.record({
      rule: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.constant(1), weight: 2 }, { arbitrary: fc.constant(2), weight: 1 }),
      dt: fc.integer({ min: -2_000, max: 4_000 }),
    }),
    { minLength: 20, maxLength: 300 },
  );
  it("matches the reference semantics", () => {
    fc.assert(
      fc.property(longStream, fc.integer({ min: 2, max: 3 }), fc.constantFrom(0, 2_000), (raw, threshold, lateness) => {
        const events = toEvents(raw.map((r) => ({ g: "a", rule: r.rule, dt: r.dt, v: 0 })));
        const plan = planFor(type, threshold);
        const cond = plan.correlations[0].rule.condition as NumericCondition;
        expect(run(plan, events, lateness)).toEqual(reference(type, cond, events, lateness, 3));
      }),
      { numRuns: 150 },
    );
  });

  // whole milliseconds are packed with the rule position into one number; the first fractional one
  // switches the group to time and position side by side, mid-window, and must change nothing
  it("with fractional-millisecond times arriving mid-window, and across snapshot/restore", () => {
    const fracStream = fc.array(
      fc.record({
        rule: fc.integer({ min: 0, max: 2 }),
        dt: fc.integer({ min: -2_000, max: 4_000 }),
        frac: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.constantFrom(0.25, 0.5, 0.75), weight: 1 }),
      }),
      { minLength: 20, maxLength: 200 },
    );
    fc.assert(
      fc.property(fracStream, fc.integer({ min: 2, max: 3 }), fc.constantFrom(0, 2_000), fc.integer({ min: 0, max: 9 }), (raw, threshold, lateness, every) => {
        const events = toEvents(raw.map((r) => ({ g: "a", rule: r.rule, dt: r.dt, v: 0 }))).map((e, i) => ({ ...e, t: e.t + raw[i].frac }));
        expectReference(type, threshold, events, lateness, every);
      }),
      { numRuns: 100 },
    );
  });
});

/**
 * Close-mode semantics (docs/decisions/0015, upper bounds and absence), computed the slow way: a
 * group's window opens at its earliest remaining event and is decided when the watermark passes
 * `first + timespan`, over the events in [first, first + timespan]; the next window opens at the next
 * remaining event. Hits are compared as a set (groups closing at the same time may come in any order).
 */
function closeReference(test: (win: Ev[]) => number | null, events: Ev[], lateness: number): { lines: number[]; value: number }[] {
  const hits: { lines: number[]; value: number }[] = [];
  let maxTime = -Infinity;
  const groups = new Map<string, (Ev & { line: number })[]>();
  const drain = (wm: number) => {
    for (;;) {
      let next: string | null = null;
      for (const [k, es] of groups) if (es[0].t + T < wm && (next === null || es[0].t < groups.get(next)![0].t)) next = k;
      if (next === null) return;
      const es = groups.get(next)!;
      const close = es[0].t + T;
      const win = es.filter((x) => x.t <= close);
      const value = test(win);
      if (value !== null) hits.push({ lines: win.map((x) => x.line), value });
      const rest = es.filter((x) => x.t > close);
      if (rest.length) groups.set(next, rest);
      else groups.delete(next);
    }
  };
  events.forEach((e, i) => {
    if (e.t > maxTime) maxTime = e.t;
    const wm = maxTime - lateness;
    if (e.t < wm) return; // late
    let es = groups.get(e.g);
    if (!es) groups.set(e.g, (es = []));
    let p = es.length;
    while (p > 0 && es[p - 1].t > e.t) p--;
    es.splice(p, 0, { ...e, line: i + 1 });
    drain(wm);
  });
  drain(Infinity);
  return hits;
}

const byLines = (hs: { lines: number[]; value: number }[]) => [...hs].sort((a, b) => a.lines[0] - b.lines[0]);

function closePlan(type: string, rulesList: string[], condition: string): CorrelationPlan {
  return planFromYaml(`${ruleDocs}---
title: P
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
  type: ${type}
  rules: [${rulesList.join(", ")}]
  group-by: [g]
  timespan: 10s
  condition: ${condition}
level: high
`);
}

const has = (win: Ev[], r: number) => win.some((x) => x.rule === r);
/** rb absent, and ra before rc (in window order: time, then arrival). */
function raThenRcWithoutRb(win: Ev[]): boolean {
  if (has(win, 1)) return false;
  const a = win.findIndex((x) => x.rule === 0);
  return a >= 0 && win.slice(a + 1).some((x) => x.rule === 2);
}

describe("windows decided at close (upper bounds and absence) match the reference semantics", () => {
  const cases: [string, (k: number) => CorrelationPlan, boolean, (k: number) => (win: Ev[]) => number | null][] = [
    ["event_count lt", (k) => closePlan("event_count", ["ra"], `{lt: ${k}}`), false, (k) => (w) => (w.length < k ? w.length : null)],
    ["event_count range (gt + lte)", (k) => closePlan("event_count", ["ra"], `{gt: 1, lte: ${k}}`), false, (k) => (w) => (w.length > 1 && w.length <= k ? w.length : null)],
    ["value_count lte", (k) => closePlan("value_count", ["ra"], `{field: v, lte: ${k}}`), false, (k) => (w) => (aggregate("value_count", w, 3) <= k ? aggregate("value_count", w, 3) : null)],
    ["value_sum lt", (k) => closePlan("value_sum", ["ra"], `{field: v, lt: ${k * 3}}`), false, (k) => (w) => (aggregate("value_sum", w, 3) < k * 3 ? aggregate("value_sum", w, 3) : null)],
    ["temporal with not", () => closePlan("temporal", rules, `"(ra or rc) and not rb"`), true, () => (w) => ((has(w, 0) || has(w, 2)) && !has(w, 1) ? aggregate("temporal", w, 3) : null)],
    ["temporal_ordered with not", () => closePlan("temporal_ordered", rules, `"ra and rc and not rb"`), true, () => (w) => (raThenRcWithoutRb(w) ? aggregate("temporal_ordered", w, 3) : null)],
  ];
  it.each(cases)("%s, on random streams with out-of-order and late events", (_name, plan, multi, test) => {
    fc.assert(
      fc.property(streamArb(multi), fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 2_000, 20_000), (raw, k, lateness) => {
        const events = toEvents(raw);
        const p = plan(k);
        let r = recorder(p, { allowedLatenessMs: lateness, maxWindowEvents: 1_000_000 });
        events.forEach((e, i) => r.feed(rules[e.rule], e.t, { g: e.g, v: e.v }, i + 1));
        r.engine.flush();
        const got = r.hits.map((h) => ({ lines: h.events.map((x) => x.line!), value: h.value }));
        expect(byLines(got)).toEqual(byLines(closeReference(test(k), events, lateness)));
        // and across a snapshot/restore in the middle of the stream
        const half = Math.floor(events.length / 2);
        r = recorder(p, { allowedLatenessMs: lateness, maxWindowEvents: 1_000_000 });
        const all: typeof got = [];
        events.forEach((e, i) => {
          r.feed(rules[e.rule], e.t, { g: e.g, v: e.v }, i + 1);
          if (i + 1 === half) {
            all.push(...r.hits.map((h) => ({ lines: h.events.map((x) => x.line!), value: h.value })));
            const snap = JSON.parse(JSON.stringify(r.engine.snapshot()));
            r = recorder(p, { allowedLatenessMs: lateness, maxWindowEvents: 1_000_000 });
            r.engine.restore(snap);
          }
        });
        r.engine.flush();
        all.push(...r.hits.map((h) => ({ lines: h.events.map((x) => x.line!), value: h.value })));
        expect(byLines(all)).toEqual(byLines(got));
      }),
      { numRuns: 150 },
    );
  });
});
