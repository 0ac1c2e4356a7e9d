// The literal scan finds exactly the literals a text contains (against brute force), for 2-, 3-, 4+
// character literals and literals with non-ASCII characters.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { GramIndex } from "./prefilter.ts";

const alphabet = ["a", "b", "c", "\\", ".", " ", "-", "é", "🤷", "A", "B"];
const str = (min: number, max: number) => fc.array(fc.constantFrom(...alphabet), { minLength: min, maxLength: max }).map((xs) => xs.join(""));

describe("GramIndex", () => {
  it("reports every literal contained in the text and no other", () => {
    fc.assert(
      fc.property(fc.uniqueArray(str(2, 7).map((l) => l.toLowerCase()), { minLength: 1, maxLength: 40 }), fc.array(str(0, 60), { minLength: 1, maxLength: 5 }), (lits, texts) => {
        const usable = [...new Set(lits)].filter((l) => l.length >= 2);
        if (usable.length === 0) return;
        const idx = new GramIndex(usable);
        for (let t of texts) {
          const hits = new Set<number>();
          idx.scan(t.toLowerCase(), (id) => hits.add(id));
          const folded = new Set<number>();
          idx.scanFolding(t, (id) => folded.add(id));
          expect([...folded].sort()).toEqual([...hits].sort());
          t = t.toLowerCase();
          const want = new Set(usable.map((l, i) => (t.includes(l) ? i : -1)).filter((i) => i >= 0));
          expect([...hits].sort()).toEqual([...want].sort());
        }
      }),
      { numRuns: 300 },
    );
  });
  it("finds literals at the start and the end of the text", () => {
    const idx = new GramIndex(["ab", "abc", "abcd", "xyzzy", "é!"]);
    const hits: number[] = [];
    idx.scan("abcd--xyzzy--é!", (id) => hits.push(id));
    expect([...new Set(hits)].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
