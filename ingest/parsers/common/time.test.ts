// Calendar arithmetic the parsers use on every line agrees with the Date object it replaces.
import { describe, expect, it } from "vitest";
import { isoUtc, toIso, utcYear, validDate } from "./time.ts";

function byDate(y: number, mo: number, d: number): boolean {
  if (mo < 0 || mo > 11 || d < 1 || d > 31) return false;
  const t = new Date(Date.UTC(y, mo, d));
  return t.getUTCDate() === d && t.getUTCMonth() === mo;
}

describe("validDate", () => {
  it("agrees with Date.UTC for every day of years around every leap-year rule, and odd inputs", () => {
    const years = [0, 4, 99, 100, 101, 1600, 1700, 1899, 1900, 1970, 1999, 2000, 2023, 2024, 2100, 2199, 2400, 9999, 10000, -1, 2024.5, NaN];
    let checked = 0;
    for (const y of years)
      for (let mo = -1; mo <= 12; mo++)
        for (const d of [0, 1, 27, 28, 29, 30, 31, 32, 1.5, NaN]) {
          expect(validDate(y, mo, d), `${y}-${mo}-${d}`).toBe(byDate(y, mo, d));
          checked++;
        }
    expect(checked).toBe(years.length * 14 * 10);
    expect(validDate(2024, 1, 29)).toBe(true);
    expect(validDate(2100, 1, 29)).toBe(false);
  });
});

describe("utcYear", () => {
  it("gives the UTC year of an instant, across year boundaries and back", () => {
    for (const ms of [Date.UTC(2024, 11, 31, 23, 59, 59, 999), Date.UTC(2025, 0, 1), Date.UTC(2024, 5, 1), Date.UTC(1969, 11, 31), Date.UTC(2025, 0, 1) - 1, 0, -1, new Date(0).setUTCFullYear(50), new Date(0).setUTCFullYear(50) + 1, Date.UTC(2024, 5, 1)]) {
      expect(utcYear(ms), String(ms)).toBe(new Date(ms).getUTCFullYear());
    }
    expect(Number.isNaN(utcYear(NaN))).toBe(true);
  });
});

describe("isoUtc", () => {
  it("formats every instant as Date#toISOString does (1970 .. 9999, leap days, fractions, day boundaries)", () => {
    const cases = [0, 1, 999, 1000, DAY - 1, DAY, Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(2000, 2, 1), Date.UTC(2100, 1, 28, 12), Date.UTC(2100, 2, 1), Date.UTC(1972, 1, 29), Date.UTC(2024, 11, 31, 23, 59, 59, 999), Date.UTC(2199, 11, 31, 23, 59, 59, 999), Date.UTC(9999, 11, 31, 23, 59, 59, 999), 1.7, 1_730_000_000_123.9];
    let seed = 11;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      cases.push(Math.floor((seed / 0x7fffffff) * Date.UTC(2200, 0, 1)) + (i % 7 === 0 ? 0.5 : 0));
    }
    const wrong = cases.filter((ms) => isoUtc(ms) !== new Date(ms).toISOString());
    expect(wrong).toEqual([]);
    expect(toIso(Date.UTC(2024, 1, 29, 1, 2, 3, 4))).toBe("2024-02-29T01:02:03.004Z");
  });
});

const DAY = 86_400_000;
