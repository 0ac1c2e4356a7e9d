// What an interval is expected to look like, from an entity's history: robust statistics (median and
// MAD), quantiles, or an exponentially weighted mean; and how far an observed value is from it.

import type { Method } from "./rule.ts";

export interface Expectation {
  center: number;
  /** The scale a deviation is divided by (never below the configured minimum). */
  spread: number;
  /** Expected range at the alert threshold: observed values outside it are anomalous. */
  low: number;
  high: number;
}

/** 1/Φ⁻¹(3/4): makes the MAD a consistent estimator of the standard deviation for normal data. */
const MAD_SCALE = 1.4826;
/** IQR of a standard normal distribution. */
const IQR_SCALE = 1.349;

/**
 * Expectation from past interval values, sorted ascending in `sorted[0..n)` (a reused scratch buffer).
 * `threshold` is the alert score, so low/high are the boundaries an observation must cross to
 * alert; counts and sums are never expected below zero. `minSpread` may depend on the center.
 */
export function expectationSorted(sorted: Float64Array, n: number, method: Exclude<Method, "ewma">, threshold: number, minSpreadArg: number | ((center: number) => number)): Expectation {
  if (method === "quantile") {
    const center = quantile(sorted, n, 0.5);
    const q05 = quantile(sorted, n, 0.05);
    const q95 = quantile(sorted, n, 0.95);
    const iqr = quantile(sorted, n, 0.75) - quantile(sorted, n, 0.25);
    const spread = Math.max(iqr / IQR_SCALE, floorOf(minSpreadArg, center));
    return { center, spread, low: Math.max(0, q05 - threshold * spread), high: q95 + threshold * spread };
  }
  const center = quantile(sorted, n, 0.5);
  let spread = MAD_SCALE * madSorted(sorted, n, center);
  if (spread === 0) {
    // more than half the samples are equal: fall back to the mean absolute deviation (x1.2533 ≈ σ)
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(sorted[i] - center);
    spread = (1.2533 * s) / n;
  }
  spread = Math.max(spread, floorOf(minSpreadArg, center));
  return { center, spread, low: Math.max(0, center - threshold * spread), high: center + threshold * spread };
}

function floorOf(arg: number | ((center: number) => number), center: number): number {
  return typeof arg === "number" ? arg : arg(center);
}

/** The same over an unsorted array (tests, tools). */
export function expectation(samples: number[], method: Exclude<Method, "ewma">, threshold: number, minSpread: number): Expectation {
  const buf = Float64Array.from(samples).sort();
  return expectationSorted(buf, buf.length, method, threshold, minSpread);
}

/** Linear interpolation between closest ranks (numpy's default, simple-statistics' quantileSorted), over a prefix of a typed array. */
export function quantile(sorted: Float64Array, n: number, p: number): number {
  if (n === 0) return NaN;
  if (p <= 0) return sorted[0];
  if (p >= 1) return sorted[n - 1];
  const idx = (n - 1) * p;
  const lo = Math.floor(idx);
  if (lo === idx) return sorted[lo];
  return sorted[lo] + (idx - lo) * (sorted[lo + 1] - sorted[lo]);
}

/**
 * Median absolute deviation of sorted values around their median `m`, without another sort: the
 * deviations left of the median grow leftwards and those right of it grow rightwards, so merging the
 * two runs from the middle yields them in order.
 */
export function madSorted(sorted: Float64Array, n: number, m: number): number {
  if (n === 0) return NaN;
  let r = 0;
  while (r < n && sorted[r] < m) r++;
  let l = r - 1;
  const want = n % 2 === 1 ? [(n - 1) / 2] : [n / 2 - 1, n / 2];
  let k = 0;
  let sum = 0;
  let wi = 0;
  while (wi < want.length) {
    let d: number;
    if (l < 0) d = sorted[r++] - m;
    else if (r >= n) d = m - sorted[l--];
    else if (m - sorted[l] <= sorted[r] - m) d = m - sorted[l--];
    else d = sorted[r++] - m;
    if (k === want[wi]) {
      sum += d;
      wi++;
    }
    k++;
  }
  return sum / want.length;
}

/** How far `x` lies from the expectation, in spreads (signed). For quantile, distance beyond the 5-95% range. */
export function score(x: number, e: Expectation, method: Method, threshold: number): number {
  if (method === "quantile") {
    const hi = e.high - threshold * e.spread; // q95
    const lo = e.low === 0 ? Math.min(e.center, 0) : e.low + threshold * e.spread; // q05
    if (x > hi) return (x - hi) / e.spread;
    if (x < lo) return -(lo - x) / e.spread;
    return 0;
  }
  return (x - e.center) / e.spread;
}

/** Exponentially weighted mean and variance (West's incremental form). */
export interface Ewma {
  mean: number;
  variance: number;
  n: number;
}

export function ewmaUpdate(s: Ewma, x: number, alpha: number): void {
  if (s.n === 0) {
    s.mean = x;
    s.variance = 0;
  } else {
    const diff = x - s.mean;
    const incr = alpha * diff;
    s.mean += incr;
    s.variance = (1 - alpha) * (s.variance + diff * incr);
  }
  s.n++;
}

export function ewmaExpectation(s: Ewma, threshold: number, minSpread: number): Expectation {
  const spread = Math.max(Math.sqrt(Math.max(0, s.variance)), minSpread);
  return { center: s.mean, spread, low: Math.max(0, s.mean - threshold * spread), high: s.mean + threshold * spread };
}
