import { describe, expect, it } from "vitest";
import { mulberry32 } from "./prng.ts";

describe("mulberry32", () => {
  it("gives the same sequence for the same seed, another for another seed, all in [0, 1)", () => {
    const take = (seed: number) => {
      const r = mulberry32(seed);
      return Array.from({ length: 1000 }, r);
    };
    const a = take(42);
    expect(take(42)).toEqual(a);
    expect(take(43)).not.toEqual(a);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
    // spread over the interval: each tenth gets a share
    const tenths = new Array(10).fill(0);
    for (const x of a) tenths[Math.floor(x * 10)]++;
    expect(Math.min(...tenths)).toBeGreaterThan(50);
  });
});
