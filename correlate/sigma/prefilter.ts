// Multi-literal scan for the prefilter: each literal is indexed by its rarest 3- or 4-character gram,
// so one pass over a case-folded field value finds every literal it contains, at a few array reads
// per character, without per-character allocation.

const GRAM = 4;
const SHORT = 3;

/** Literal hits are reported as literal ids (indices into the array given to the constructor). */
export class GramIndex {
  private readonly mask4: number;
  private readonly head4: Int32Array;
  private readonly mask3: number;
  private readonly head3: Int32Array;
  private readonly next: Int32Array;
  private readonly lit: Int32Array;
  private readonly off: Int32Array;
  readonly literals: string[];
  readonly hasShort: boolean;

  constructor(literals: string[]) {
    this.literals = literals;
    const n = literals.length;
    const size4 = pow2(Math.max(64, n * 2));
    this.mask4 = size4 - 1;
    this.head4 = new Int32Array(size4).fill(-1);
    const nShort = literals.filter((l) => l.length === SHORT).length;
    this.hasShort = nShort > 0;
    const size3 = pow2(Math.max(16, nShort * 2));
    this.mask3 = size3 - 1;
    this.head3 = new Int32Array(size3).fill(-1);
    this.next = new Int32Array(n);
    this.lit = new Int32Array(n);
    this.off = new Int32Array(n);
    // Gram frequency over the literal set: a literal is indexed by its least shared gram.
    const freq = new Map<string, number>();
    for (const l of literals) {
      if (l.length < GRAM) continue;
      const seen = new Set<string>();
      for (let i = 0; i + GRAM <= l.length; i++) seen.add(l.slice(i, i + GRAM));
      for (const g of seen) freq.set(g, (freq.get(g) ?? 0) + 1);
    }
    literals.forEach((l, id) => {
      if (l.length < SHORT) throw new Error(`literal "${l}" is shorter than ${SHORT} characters`);
      let bestOff = 0;
      if (l.length >= GRAM) {
        let bestF = Infinity;
        for (let i = 0; i + GRAM <= l.length; i++) {
          const f = freq.get(l.slice(i, i + GRAM)) ?? 0;
          if (f < bestF) {
            bestF = f;
            bestOff = i;
          }
        }
        const h = hash4(l, bestOff) & this.mask4;
        this.next[id] = this.head4[h];
        this.head4[h] = id;
      } else {
        const h = hash3(l, 0) & this.mask3;
        this.next[id] = this.head3[h];
        this.head3[h] = id;
      }
      this.lit[id] = id;
      this.off[id] = bestOff;
    });
  }

  /** Calls onHit(literalId) for each literal found in s (a literal may be reported more than once). */
  scan(s: string, onHit: (id: number) => void): void {
    const n = s.length;
    if (n < SHORT) return;
    const head4 = this.head4;
    const mask4 = this.mask4;
    const next = this.next;
    const off = this.off;
    const lits = this.literals;
    let c0 = s.charCodeAt(0);
    let c1 = s.charCodeAt(1);
    let c2 = s.charCodeAt(2);
    for (let i = 0; i + GRAM <= n; i++) {
      const c3 = s.charCodeAt(i + 3);
      let id = head4[mix4(c0, c1, c2, c3) & mask4];
      while (id >= 0) {
        const start = i - off[id];
        if (start >= 0 && s.startsWith(lits[id], start)) onHit(id);
        id = next[id];
      }
      c0 = c1;
      c1 = c2;
      c2 = c3;
    }
    if (this.hasShort) {
      const head3 = this.head3;
      const mask3 = this.mask3;
      for (let i = 0; i + SHORT <= n; i++) {
        let id = head3[hash3(s, i) & mask3];
        while (id >= 0) {
          if (s.startsWith(lits[id], i)) onHit(id);
          id = next[id];
        }
      }
    }
  }
}

function pow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

function mix4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a, 0x9e3779b1);
  h = Math.imul(h ^ b, 0x85ebca77);
  h = Math.imul(h ^ c, 0xc2b2ae3d);
  h = Math.imul(h ^ d, 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

function hash4(s: string, i: number): number {
  return mix4(s.charCodeAt(i), s.charCodeAt(i + 1), s.charCodeAt(i + 2), s.charCodeAt(i + 3));
}

function hash3(s: string, i: number): number {
  let h = Math.imul(s.charCodeAt(i), 0x9e3779b1);
  h = Math.imul(h ^ s.charCodeAt(i + 1), 0x85ebca77);
  h = Math.imul(h ^ s.charCodeAt(i + 2), 0xc2b2ae3d);
  return (h ^ (h >>> 15)) >>> 0;
}
