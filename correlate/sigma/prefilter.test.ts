// The literal automaton finds every literal a text contains (against brute force over the lower-cased
// text): short literals, literals longer than the window, non-ASCII literals, and texts whose lower
// case changes length or turns non-ASCII characters into ASCII (İ, the Kelvin sign).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { LiteralIndex, WINDOW } from "./prefilter.ts";

const alphabet = ["a", "b", "c", "\\", ".", " ", "-", "é", "🤷", "A", "B", "K", "\u212a", "İ", "k", "i"];
const str = (min: number, max: number) => fc.array(fc.constantFrom(...alphabet), { minLength: min, maxLength: max }).map((xs) => xs.join(""));

function hitsOf(idx: LiteralIndex, text: string): Set<number> {
  const hits = new Set<number>();
  idx.next();
  idx.scan(text, (id) => {
    expect(hits.has(id)).toBe(false); // once per generation
    hits.add(id);
  });
  return hits;
}

describe("LiteralIndex", () => {
  it("reports every literal the lower-cased text contains; exactly those for ASCII text", () => {
    fc.assert(
      fc.property(fc.uniqueArray(str(1, 2 * WINDOW + 3).map((l) => l.toLowerCase()), { minLength: 1, maxLength: 40 }), fc.array(str(0, 80), { minLength: 1, maxLength: 5 }), (lits, texts) => {
        const usable = [...new Set(lits)].filter((l) => l.length >= 1);
        if (usable.length === 0) return;
        const idx = new LiteralIndex(usable);
        for (const t of texts) {
          const got = hitsOf(idx, t);
          const low = t.toLowerCase();
          const want = new Set(usable.map((l, i) => (low.includes(l) ? i : -1)).filter((i) => i >= 0));
          for (const w of want) expect(got.has(w)).toBe(true);
          if (/^[\u0000-\u007f]*$/.test(t)) expect([...got].sort()).toEqual([...want].sort());
        }
      }),
      { numRuns: 400 },
    );
  });

  it("finds literals at the start and the end of the text, and long literals through their window", () => {
    const long = "c:\\windows\\system32\\whoami.exe /all";
    const idx = new LiteralIndex(["ab", "abc", "abcd", "xyzzy", "é!", long]);
    expect([...hitsOf(idx, "abcd--xyzzy--é!")].sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...hitsOf(idx, `run C:\\Windows\\System32\\WHOAMI.EXE /ALL now`)]).toEqual([5]);
    expect([...hitsOf(idx, `C:\\Windows\\System32\\whoami.exe /al`)]).toEqual([]);
  });

  it("a text whose lower case is longer (İ) or ASCII (Kelvin sign) still finds the literal", () => {
    const idx = new LiteralIndex(["kelvin-scale", "i̇stanbul"]);
    expect([...hitsOf(idx, "the \u212aELVIN-SCALE")]).toEqual([0]);
    expect([...hitsOf(idx, "İSTANBUL")]).toEqual([1]);
    // verification that runs into a non-ASCII character may over-report, never miss
    const idx2 = new LiteralIndex(["abcdefghij-kelvin"]);
    expect([...hitsOf(idx2, "ABCDEFGHIJ-\u212aELVIN")]).toEqual([0]);
  });

  it("many distinct non-ASCII characters share hashed classes and are still found exactly", () => {
    const cyr = Array.from({ length: 64 }, (_, i) => String.fromCharCode(0x430 + i));
    const lits = cyr.map((c, i) => `x${c}${cyr[(i + 7) % 64]}y`.toLowerCase());
    const idx = new LiteralIndex(lits);
    for (let i = 0; i < lits.length; i += 5) expect([...hitsOf(idx, `-- ${lits[i].toUpperCase()} --`)]).toEqual([i]);
    expect([...hitsOf(idx, "x\u0430\u0431y")]).toEqual([]);
  });

  it("reports a literal once per generation and again after next()", () => {
    const idx = new LiteralIndex(["aa"]);
    let n = 0;
    idx.next();
    idx.scan("aaaa aa", () => n++);
    idx.scan("aa", () => n++);
    expect(n).toBe(1);
    idx.next();
    idx.scan("aa", () => n++);
    expect(n).toBe(2);
  });

  it("over the whole printable ASCII alphabet, exactly the literals the text holds are found", () => {
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
    const text = (min: number, max: number) => fc.array(fc.constantFrom(...printable), { minLength: min, maxLength: max }).map((xs) => xs.join(""));
    fc.assert(
      fc.property(fc.uniqueArray(text(2, 12).map((l) => l.toLowerCase()), { minLength: 60, maxLength: 120 }), fc.array(text(0, 120), { minLength: 1, maxLength: 4 }), (lits, texts) => {
        const idx = new LiteralIndex(lits);
        for (const t of texts) {
          const low = t.toLowerCase();
          // every literal placed in the text is found, and nothing else is reported
          const probe = `${t}${lits[0].toUpperCase()}${low}${lits[lits.length - 1]}`;
          const want = lits.map((l, i) => (probe.toLowerCase().includes(l) ? i : -1)).filter((i) => i >= 0);
          expect([...hitsOf(idx, probe)].sort((a, b) => a - b)).toEqual(want);
        }
      }),
      { numRuns: 60 },
    );
  });
});
