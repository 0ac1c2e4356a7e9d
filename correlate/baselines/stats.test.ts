import fc from "fast-check";
import { median, medianAbsoluteDeviation, quantileSorted } from "simple-statistics";
import { describe, expect, it } from "vitest";
import { ewmaUpdate, expectation, madSorted, quantile, score } from "./stats.ts";

describe("robust statistics", () => {
  it("quantile and MAD over a sorted buffer agree with simple-statistics", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 200 }), fc.oneof(fc.constantFrom(0, 0.05, 0.25, 0.5, 0.75, 0.95, 1), fc.integer({ min: 1, max: 999 }).map((x) => x / 1000)), (xs, p) => {
        const sorted = Float64Array.from(xs).sort();
        const plain = [...sorted];
        expect(quantile(sorted, sorted.length, p)).toBe(quantileSorted(plain, p));
        expect(madSorted(sorted, sorted.length, median(plain))).toBeCloseTo(medianAbsoluteDeviation(plain), 6);
      }),
      { numRuns: 300 },
    );
  });

  it("scores a spike in spreads of the robust scale, and never expects counts below zero", () => {
    const e = expectation([8, 9, 10, 11, 12, 10, 9, 11], "robust", 4, 1);
    expect(e.center).toBe(10);
    expect(e.spread).toBeCloseTo(1.4826, 3);
    expect(e.low).toBeCloseTo(10 - 4 * 1.4826, 3);
    expect(score(40, e, "robust", 4)).toBeCloseTo(30 / 1.4826, 3);
    const zeros = expectation([0, 0, 0, 0, 1], "robust", 3, 1);
    expect(zeros.spread).toBe(1); // MAD 0, mean absolute deviation 0.25: the floor wins
    expect(zeros.low).toBe(0);
  });

  it("quantile method: distance beyond the 5-95% range", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i);
    const e = expectation(xs, "quantile", 2, 1);
    expect(score(50, e, "quantile", 2)).toBe(0);
    expect(score(200, e, "quantile", 2)).toBeGreaterThan(2);
  });

  it("EWMA follows a level change", () => {
    const s = { mean: 0, variance: 0, n: 0 };
    for (let i = 0; i < 50; i++) ewmaUpdate(s, 10, 0.2);
    expect(s.mean).toBeCloseTo(10, 6);
    for (let i = 0; i < 50; i++) ewmaUpdate(s, 20, 0.2);
    expect(s.mean).toBeCloseTo(20, 3);
  });
});
