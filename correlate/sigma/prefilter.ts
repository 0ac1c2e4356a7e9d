// Multi-literal scan for the prefilter: each literal is indexed by its rarest 3- or 4-character gram
// (or, when it has one, by a non-ASCII character, which text rarely holds), so one pass over a
// case-folded field value finds every literal it contains, at a few array reads per character,
// without per-character allocation.

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
  private readonly hasRare: boolean;
  /** Two-character literals by their folded pair. */
  private readonly pairLits = new Map<number, number[]>();
  /** Per (7-bit folded) character pair: bit 1 starts an indexed 4-gram, bit 2 a 3-gram literal, bit 4 is a 2-character literal. */
  private readonly pairs = new Uint8Array(128 * 128);
  /** Literals holding a non-ASCII character, by that character (only scanned at non-ASCII positions). */
  private readonly rare = new Map<number, number[]>();

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
      this.lit[id] = id;
      this.next[id] = -1;
      const nonAscii = firstNonAscii(l);
      if (nonAscii >= 0) {
        this.off[id] = nonAscii;
        const code = l.charCodeAt(nonAscii);
        const list = this.rare.get(code);
        if (list) list.push(id);
        else this.rare.set(code, [id]);
        return;
      }
      if (l.length < 2) throw new Error(`literal "${l}" is shorter than 2 characters`);
      if (l.length === 2) {
        const key = ((l.charCodeAt(0) & 0x7f) << 7) | (l.charCodeAt(1) & 0x7f);
        const list = this.pairLits.get(key);
        if (list) list.push(id);
        else this.pairLits.set(key, [id]);
        this.off[id] = 0;
        return;
      }
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
        const h = hashAt4(l, bestOff) & this.mask4;
        this.next[id] = this.head4[h];
        this.head4[h] = id;
      } else {
        const h = hash3(l, 0) & this.mask3;
        this.next[id] = this.head3[h];
        this.head3[h] = id;
      }
      this.off[id] = bestOff;
    });
    this.hasRare = this.rare.size > 0;
    for (let id = 0; id < literals.length; id++) {
      const l = literals[id];
      if (firstNonAscii(l) >= 0) continue;
      const o = this.off[id];
      this.pairs[((l.charCodeAt(o) & 0x7f) << 7) | (l.charCodeAt(o + 1) & 0x7f)] |= l.length >= GRAM ? 1 : l.length === SHORT ? 2 : 4;
    }
  }

  /**
   * Calls onHit(literalId) for each literal found in s (a literal may be reported more than once).
   * One pass: a character-pair table rejects most positions with one read; 4-grams, 3-grams and
   * non-ASCII characters are looked up only where the pair table says some literal could start.
   */
  scan(s: string, onHit: (id: number) => void): void {
    const n = s.length;
    if (n === 0) return;
    const head4 = this.head4;
    const mask4 = this.mask4;
    const head3 = this.head3;
    const mask3 = this.mask3;
    const pairs = this.pairs;
    const next = this.next;
    const off = this.off;
    const lits = this.literals;
    const hasRare = this.hasRare;
    let c1 = s.charCodeAt(0);
    for (let i = 0; i < n; i++) {
      const c0 = c1;
      if (c0 > 127 && hasRare) this.rareAt(s, i, c0, onHit);
      if (i + 1 >= n) break;
      c1 = s.charCodeAt(i + 1);
      const pk = ((c0 & 0x7f) << 7) | (c1 & 0x7f);
      const f = pairs[pk];
      if (f === 0) continue;
      if (f & 4) {
        const list = this.pairLits.get(pk) as number[];
        for (const id of list) if (s.startsWith(lits[id], i)) onHit(id);
      }
      if (f & 1 && i + GRAM <= n) {
        let id = head4[hashAt4(s, i) & mask4];
        while (id >= 0) {
          const start = i - off[id];
          if (start >= 0 && s.startsWith(lits[id], start)) onHit(id);
          id = next[id];
        }
      }
      if (f & 2 && i + SHORT <= n) {
        let id = head3[hash3(s, i) & mask3];
        while (id >= 0) {
          if (s.startsWith(lits[id], i)) onHit(id);
          id = next[id];
        }
      }
    }
  }

  /**
   * scan() over a string that is not case-folded yet: ASCII letters are folded on the fly, so nothing is
   * allocated; a string with a non-ASCII character is folded with toLowerCase() and scanned as usual.
   */
  scanFolding(s: string, onHit: (id: number) => void): void {
    const n = s.length;
    if (n === 0) return;
    const head4 = this.head4;
    const mask4 = this.mask4;
    const head3 = this.head3;
    const mask3 = this.mask3;
    const pairs = this.pairs;
    const next = this.next;
    const off = this.off;
    const lits = this.literals;
    let c1 = fold(s.charCodeAt(0));
    for (let i = 0; i < n; i++) {
      const c0 = c1;
      if (c0 > 127) {
        this.scan(s.toLowerCase(), onHit);
        return;
      }
      if (i + 1 >= n) break;
      c1 = fold(s.charCodeAt(i + 1));
      const pk = (c0 << 7) | (c1 & 0x7f);
      const f = pairs[pk];
      if (f === 0) continue;
      if (f & 4) {
        const list = this.pairLits.get(pk) as number[];
        for (const id of list) if (foldedAt(s, lits[id], i)) onHit(id);
      }
      if (f & 1 && i + GRAM <= n) {
        let id = head4[hashFolded4(s, i) & mask4];
        while (id >= 0) {
          const start = i - off[id];
          if (start >= 0 && foldedAt(s, lits[id], start)) onHit(id);
          id = next[id];
        }
      }
      if (f & 2 && i + SHORT <= n) {
        let id = head3[hash3Folded(s, i) & mask3];
        while (id >= 0) {
          if (foldedAt(s, lits[id], i)) onHit(id);
          id = next[id];
        }
      }
    }
  }

  private rareAt(s: string, i: number, c: number, onHit: (id: number) => void): void {
    const list = this.rare.get(c);
    if (list === undefined) return;
    for (const id of list) {
      const start = i - this.off[id];
      if (start >= 0 && s.startsWith(this.literals[id], start)) onHit(id);
    }
  }
}

/** ASCII upper case to lower case; other code units unchanged. */
function fold(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Whether `lit` (case-folded, ASCII here) occurs in `s` at `at`, folding `s` on the fly. */
function foldedAt(s: string, lit: string, at: number): boolean {
  if (at + lit.length > s.length) return false;
  for (let k = 0; k < lit.length; k++) if (fold(s.charCodeAt(at + k)) !== lit.charCodeAt(k)) return false;
  return true;
}

function hashFolded4(s: string, i: number): number {
  const h = (fold(s.charCodeAt(i)) * 0x2f0b3) ^ (fold(s.charCodeAt(i + 1)) * 0x1e9d) ^ (fold(s.charCodeAt(i + 2)) * 0x9b) ^ fold(s.charCodeAt(i + 3));
  return (h ^ (h >>> 11)) >>> 0;
}

function hash3Folded(s: string, i: number): number {
  let h = Math.imul(fold(s.charCodeAt(i)), 0x9e3779b1);
  h = Math.imul(h ^ fold(s.charCodeAt(i + 1)), 0x85ebca77);
  h = Math.imul(h ^ fold(s.charCodeAt(i + 2)), 0xc2b2ae3d);
  return (h ^ (h >>> 15)) >>> 0;
}

function firstNonAscii(l: string): number {
  for (let i = 0; i < l.length; i++) if (l.charCodeAt(i) > 127) return i;
  return -1;
}

function pow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/** Cheap 4-gram hash (collisions only cost a verification). */
function hashAt4(s: string, i: number): number {
  const h = (s.charCodeAt(i) * 0x2f0b3) ^ (s.charCodeAt(i + 1) * 0x1e9d) ^ (s.charCodeAt(i + 2) * 0x9b) ^ s.charCodeAt(i + 3);
  return (h ^ (h >>> 11)) >>> 0;
}

function hash3(s: string, i: number): number {
  let h = Math.imul(s.charCodeAt(i), 0x9e3779b1);
  h = Math.imul(h ^ s.charCodeAt(i + 1), 0x85ebca77);
  h = Math.imul(h ^ s.charCodeAt(i + 2), 0xc2b2ae3d);
  return (h ^ (h >>> 15)) >>> 0;
}
