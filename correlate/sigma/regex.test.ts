// No rule can stall the engine: catastrophic patterns run on the linear-time engine (asserted by engine
// choice, not by wall time), safe bounded ones on V8, and the literal extraction feeds the prefilter.
import { describe, expect, it } from "vitest";
import { analyse, compileRegex } from "./regex.ts";

describe("regex engine choice", () => {
  // pattern → [matches "a…a!", matches "a…az"]; a backtracking engine needs exponential time on these.
  const catastrophic: [string, boolean, boolean][] = [
    ["(a+)+$", false, false],
    ["(a|a)*b", false, false],
    ["(a*)*$", true, true],
    ["(x+x+)+y", false, false],
    ["(\\w+\\s?)+$", false, true],
    ["^(a|aa)+$", false, false],
    ["(.*a){12}", true, true],
    [`(${Array.from({ length: 300 }, (_, i) => `w${i}`).join("|")})+z`, false, false],
  ];
  for (const [p, bang, zed] of catastrophic) {
    it(`${p.slice(0, 40)} runs on RE2 and answers exactly on a hostile input`, () => {
      const re = compileRegex(p);
      expect(re.engine).toBe("re2");
      expect(re.test("a".repeat(20_000) + "!")).toBe(bang);
      expect(re.test("a".repeat(20_000) + "z")).toBe(zed);
    });
  }
  it("(a+)+$ on 'aaaa…b' is decided without backtracking", () => {
    const re = compileRegex("^(a+)+$");
    expect(re.engine).toBe("re2");
    expect(re.test("a".repeat(50_000) + "b")).toBe(false);
    expect(re.test("a".repeat(50_000))).toBe(true);
  });
  it("bounded patterns stay on V8; unbounded or nested quantifiers do not", () => {
    expect(compileRegex("\\.exe\\s\\d{2,10}").engine).toBe("v8");
    expect(compileRegex("ab?c|d").engine).toBe("v8");
    expect(compileRegex("\\s-H\\s").engine).toBe("v8");
    expect(compileRegex("a.*b").engine).toBe("re2");
    expect(compileRegex("(ab){2}").engine).toBe("re2");
    expect(compileRegex("a{1,}").engine).toBe("re2");
    expect(analyse("a?".repeat(20)).safe).toBe(false);
  });
  it("'.{n,}' is a length test", () => {
    const re = compileRegex(".{1000,}");
    expect(re.engine).toBe("length");
    expect(re.test("x".repeat(1000))).toBe(true);
    expect(re.test("x".repeat(999) + "\n" + "y".repeat(999))).toBe(false);
  });
  it("PCRE inline flags at the start become flags, on both engines", () => {
    expect(compileRegex("(?i)abc").test("xABCx")).toBe(true);
    expect(compileRegex("(?i)a.*c").test("A--C")).toBe(true);
    expect(compileRegex("(?s)a.c").test("a\nc")).toBe(true);
    expect(compileRegex("abc").test("ABC")).toBe(false);
  });
  it("rejects lookaround and backreferences (not linear-time)", () => {
    expect(() => compileRegex("(?=a)b")).toThrow(/lookahead/);
    expect(() => compileRegex("(a)\\1")).toThrow(/backreference/);
  });
  it("extracts literals every match must contain", () => {
    expect(analyse("\\s-H\\s").literals).toEqual(["-H"]);
    expect(analyse("foo(bar|baz)qux").literals).toEqual(["foo", "qux"]);
    expect(analyse("abc?d").literals).toEqual(["ab", "d"]);
    expect(analyse("a|b").literals).toEqual([]);
    expect(analyse("\\.exe\\s+\\d").literals).toEqual([".exe"]);
  });
});
