// Multi-literal scan for the prefilter: an Aho-Corasick automaton compiled to a dense transition
// table (typed arrays) over the characters the literals use, ASCII case folded in the character map,
// so one pass over a field value (one table read per character, no allocation) finds every literal it
// contains. Each literal is anchored by a window of at most WINDOW characters, the one the fewest
// other literals share, preferring ASCII; a longer literal is checked around its window's hit. That
// bounds the table (states are at most the windows' characters). The table is what every scanned
// character reads, so it is kept small enough to stay in cache: 16-bit state ids (states that report
// literals numbered last, so one compare tells), at most MAX_ASCII_CLASSES character classes (the
// rarest characters share one class; windows holding them are verified), shorter windows or several
// automata when a literal set is large (SigmaHQ's 10,000-literal command-line set: a 10 MB table before,
// under 2 MB now). A set too large for the budget is abandoned while its trie is built, before the
// costly failure links.

/** Longest anchor window; a table larger than TABLE_BUDGET entries is rebuilt with shorter windows. */
export const WINDOW = 8;
const SHORTER_WINDOWS = [4, 3];
const TABLE_BUDGET = 1 << 20;
/** State ids are 16-bit; an automaton that needs more is split in two (recursively). */
const MAX_STATES = 0xffff;
/** ASCII classes beyond this many: the rarest characters share one class (hits through it are verified). */
const MAX_ASCII_CLASSES = 48;
/** Non-ASCII characters get their own classes up to this many; beyond, they share hashed classes. */
const WIDE_CLASSES = 32;

/** Literal hits are reported as literal ids (indices into the array given to the constructor). */
export class LiteralIndex {
  readonly literals: string[];
  /** Number of states of the automaton (for stats and tests). */
  readonly states: number;
  /** Number of automata the literals are spread over (1 unless the set is very large). */
  readonly automata: number;
  private readonly k: number;
  /** State ids at or above this one report literals. */
  private readonly firstOut: number;
  /** Set when the literals were split over several automata (too many states for one). */
  private readonly parts: { index: LiteralIndex; offset: number }[] | null = null;
  private partHit: (id: number) => void = () => {};
  private partOffset = 0;
  private readonly onPartHit: (id: number) => void;
  private readonly ascii: Uint16Array;
  private readonly wide: Map<number, number>;
  /** Non-ASCII characters hashed into shared classes (more than WIDE_CLASSES of them). */
  private readonly wideHashed: boolean;
  private readonly wideBase: number;
  /** (state·k + class) → next state (states >= firstOut report literals). */
  private readonly delta: Uint16Array;
  private readonly outStart: Int32Array;
  private readonly outIds: Int32Array;
  private readonly winOff: Int32Array;
  private readonly winLen: Int32Array;
  /** 1 when a window hit is a literal hit: the window is the whole literal and its classes are exact. */
  private readonly exact: Uint8Array;
  /** Per literal: the scan generation of its last reported hit (each literal reported once per generation). */
  private readonly seen: Uint32Array;
  private gen = 1;

  /**
   * `windows`: the anchor window lengths to try, longest first (halves of a split set start short);
   * `budget`: table entries one automaton should stay within (a set needing 4× more is split).
   */
  constructor(literals: string[], windows: readonly number[] = [WINDOW, ...SHORTER_WINDOWS], budget = TABLE_BUDGET) {
    this.literals = literals;
    const n = literals.length;
    this.seen = new Uint32Array(n);
    for (const l of literals) if (l.length === 0) throw new Error("empty literal");
    this.onPartHit = (id) => this.partHit(id + this.partOffset);
    // A set whose shortest windows alone exceed the state budget is split without trying to build it.
    const last = windows[windows.length - 1];
    let shortest = 1;
    for (const l of literals) shortest += Math.min(l.length, last);
    let built: Built | null = null;
    if (shortest <= 4 * MAX_STATES || literals.length === 1)
      for (let i = 0; i < windows.length && built === null; i++) {
        // a longer window is kept only within the budget; the shortest within four times it
        built = build(literals, windows[i], i === windows.length - 1 ? 4 * budget : budget);
      }
    if (built === null || built.states * built.k > 4 * budget) {
      if (literals.length > 1) {
        // Too large for one cache-friendly automaton: two halves, each scanned in turn.
        const half = literals.length >> 1;
        this.parts = [
          { index: new LiteralIndex(literals.slice(0, half), [last], budget), offset: 0 },
          { index: new LiteralIndex(literals.slice(half), [last], budget), offset: half },
        ];
        built = build([" "], 1) as Built;
      } else built = build(literals, last) as Built;
    }
    this.states = this.parts === null ? built.states : this.parts.reduce((n, p) => n + p.index.states, 0);
    this.automata = this.parts === null ? 1 : this.parts.reduce((n, p) => n + p.index.automata, 0);
    this.firstOut = built.firstOut;
    this.k = built.k;
    this.ascii = built.ascii;
    this.wide = built.wide;
    this.wideHashed = built.wideHashed;
    this.wideBase = built.wideBase;
    this.delta = built.delta;
    this.outStart = built.outStart;
    this.outIds = built.outIds;
    this.winOff = built.winOff;
    this.winLen = built.winLen;
    this.exact = built.exact;
  }

  /** Starts a new scan generation: literals found before are reported again. */
  next(): void {
    this.gen = (this.gen + 1) >>> 0 || 1;
    if (this.parts !== null) for (const p of this.parts) p.index.next();
  }

  /**
   * Calls onHit(literalId) for each literal found in s, case-insensitively (as in s.toLowerCase()),
   * once per generation. ASCII is folded on the fly; from the first non-ASCII character on, the scan
   * continues over s.toLowerCase() (identical up to there), which is exact for any text.
   */
  scan(s: string, onHit: (id: number) => void): void {
    if (this.parts !== null) return this.scanParts(s, onHit);
    const n = s.length;
    const delta = this.delta;
    const ascii = this.ascii;
    const k = this.k;
    const firstOut = this.firstOut;
    let st = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) {
        this.scanLowered(s.toLowerCase(), i, st, onHit);
        return;
      }
      st = delta[st * k + ascii[c]];
      if (st >= firstOut) this.report(st, s, i, true, onHit);
    }
  }

  private scanParts(s: string, onHit: (id: number) => void): void {
    const prev = this.partHit;
    const prevOffset = this.partOffset;
    this.partHit = onHit;
    for (const p of this.parts as { index: LiteralIndex; offset: number }[]) {
      this.partOffset = p.offset;
      p.index.scan(s, this.onPartHit);
    }
    this.partHit = prev;
    this.partOffset = prevOffset;
  }

  private scanLowered(t: string, from: number, st: number, onHit: (id: number) => void): void {
    const delta = this.delta;
    const ascii = this.ascii;
    const k = this.k;
    const firstOut = this.firstOut;
    for (let i = from; i < t.length; i++) {
      const c = t.charCodeAt(i);
      st = delta[st * k + (c < 128 ? ascii[c] : this.wideClass(c))];
      if (st >= firstOut) this.report(st, t, i, false, onHit);
    }
  }

  private wideClass(c: number): number {
    if (this.wideHashed) return this.wideBase + (Math.imul(c, 0x9e3779b1) >>> 27);
    return this.wide.get(c) ?? 0;
  }

  private report(state: number, s: string, end: number, folding: boolean, onHit: (id: number) => void): void {
    const ids = this.outIds;
    for (let j = this.outStart[state], e = this.outStart[state + 1]; j < e; j++) {
      const id = ids[j];
      if (this.seen[id] === this.gen) continue;
      if (this.exact[id] === 0) {
        const lit = this.literals[id];
        const at = end + 1 - this.winLen[id] - this.winOff[id];
        if (folding ? !foldedMayHold(s, lit, at) : at < 0 || !s.startsWith(lit, at)) continue;
      }
      this.seen[id] = this.gen;
      onHit(id);
    }
  }
}

function isAscii(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

interface Built {
  states: number;
  firstOut: number;
  k: number;
  ascii: Uint16Array;
  wide: Map<number, number>;
  wideHashed: boolean;
  wideBase: number;
  delta: Uint16Array;
  outStart: Int32Array;
  outIds: Int32Array;
  winOff: Int32Array;
  winLen: Int32Array;
  exact: Uint8Array;
}

/**
 * Builds the automaton with anchor windows of `window` characters. Returns null, before the costly
 * failure links, when the trie alone shows the table would exceed `maxEntries` (or 16-bit state ids).
 */
function build(literals: string[], window: number, maxEntries = Infinity): Built | null {
  const n = literals.length;
  const winOff = new Int32Array(n);
  const winLen = new Int32Array(n);
  const exact = new Uint8Array(n);
  // Window choice: the substring of `window` characters that the fewest literals contain, ASCII first.
  const share = new Map<string, number>();
  for (const l of literals) {
    if (l.length <= window) continue;
    const mine = new Set<string>();
    for (let i = 0; i + window <= l.length; i++) mine.add(l.slice(i, i + window));
    for (const w of mine) share.set(w, (share.get(w) ?? 0) + 1);
  }
  for (let id = 0; id < n; id++) {
    const l = literals[id];
    if (l.length <= window) {
      winLen[id] = l.length;
      continue;
    }
    let best = 0;
    let bestScore = Infinity;
    for (let i = 0; i + window <= l.length; i++) {
      const score = (share.get(l.slice(i, i + window)) ?? 0) + (isAscii(l, i, i + window) ? 0 : 1e9);
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    }
    winOff[id] = best;
    winLen[id] = window;
  }
  // Character classes: one per ASCII character used in a window (upper case shares lower case), the
  // rarest sharing class 1 beyond MAX_ASCII_CLASSES; the non-ASCII ones exact up to WIDE_CLASSES, else
  // hashed into WIDE_CLASSES shared classes; 0 = other.
  const ascii = new Uint16Array(128);
  const wideChars = new Set<number>();
  const freq = new Float64Array(128);
  for (let id = 0; id < n; id++) {
    const l = literals[id];
    for (let i = winOff[id]; i < winOff[id] + winLen[id]; i++) {
      let c = l.charCodeAt(i);
      if (c < 128) {
        if (c >= 65 && c <= 90) c += 32;
        freq[c] += 1 + 1e-6 * (128 - c);
      } else wideChars.add(c);
    }
  }
  const used: number[] = [];
  for (let c = 0; c < 128; c++) if (freq[c] > 0) used.push(c);
  used.sort((x, y) => freq[y] - freq[x]);
  const shared = used.length > MAX_ASCII_CLASSES;
  let k = shared ? 2 : 1;
  const sharedClass = new Uint8Array(128);
  used.forEach((c, rank) => {
    if (shared && rank >= MAX_ASCII_CLASSES - 2) {
      ascii[c] = 1;
      sharedClass[c] = 1;
    } else ascii[c] = k++;
  });
  for (let c = 65; c <= 90; c++) {
    ascii[c] = ascii[c + 32];
    sharedClass[c] = sharedClass[c + 32];
  }
  const wide = new Map<number, number>();
  const wideHashed = wideChars.size > WIDE_CLASSES;
  const wideBase = k;
  if (wideHashed) k += WIDE_CLASSES;
  else for (const c of wideChars) wide.set(c, k++);
  const classOf = (c: number) => (c < 128 ? ascii[c] : wideHashed ? wideBase + (Math.imul(c, 0x9e3779b1) >>> 27) : (wide.get(c) as number));
  const exactWindow = (l: string, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const c = l.charCodeAt(i);
      if (c < 128 ? sharedClass[c] === 1 : wideHashed) return false;
    }
    return true;
  };
  for (let id = 0; id < n; id++) exact[id] = winLen[id] === literals[id].length && exactWindow(literals[id], 0, literals[id].length) ? 1 : 0;
  // Trie over the windows, abandoned as soon as it holds more states than the budget allows.
  let maxStates = 1;
  for (let id = 0; id < n; id++) maxStates += winLen[id];
  const cap = Math.max(1, Math.min(maxStates, MAX_STATES, Math.floor(maxEntries / k)));
  const go = new Int32Array(cap * k).fill(-1);
  const direct: number[][] = [[]];
  let states = 1;
  for (let id = 0; id < n; id++) {
    const l = literals[id];
    let s = 0;
    for (let i = winOff[id]; i < winOff[id] + winLen[id]; i++) {
      const at = s * k + classOf(l.charCodeAt(i));
      if (go[at] < 0) {
        if (states >= cap) return null;
        go[at] = states++;
        direct.push([]);
      }
      s = go[at];
    }
    direct[s].push(id);
  }
  // Failure links in breadth-first order; missing edges become failure transitions (a full DFA).
  const fail = new Int32Array(states);
  const out: number[][] = new Array(states);
  out[0] = direct[0];
  const queue = new Int32Array(states);
  let qh = 0;
  let qt = 0;
  for (let c = 0; c < k; c++) {
    const v = go[c];
    if (v > 0) {
      fail[v] = 0;
      queue[qt++] = v;
    } else go[c] = 0;
  }
  while (qh < qt) {
    const u = queue[qh++];
    const f = fail[u];
    out[u] = direct[u].length ? (out[f].length ? [...direct[u], ...out[f]] : direct[u]) : out[f];
    for (let c = 0; c < k; c++) {
      const at = u * k + c;
      const v = go[at];
      if (v >= 0) {
        fail[v] = go[f * k + c];
        queue[qt++] = v;
      } else go[at] = go[f * k + c];
    }
  }
  // Renumber: states that report literals last (ids >= firstOut), so the scan tells them by one compare.
  const id = new Int32Array(states);
  let next = 0;
  for (let s = 0; s < states; s++) if (out[s].length === 0) id[s] = next++;
  const firstOut = next;
  for (let s = 0; s < states; s++) if (out[s].length !== 0) id[s] = next++;
  const delta = new Uint16Array(states * k);
  for (let s = 0; s < states; s++) for (let c = 0; c < k; c++) delta[id[s] * k + c] = id[go[s * k + c]];
  const outStart = new Int32Array(states + 1);
  let total = 0;
  for (let s = 0; s < states; s++) total += out[s].length;
  const outIds = new Int32Array(total);
  const byId = new Int32Array(states);
  for (let s = 0; s < states; s++) byId[id[s]] = s;
  let p = 0;
  for (let t = 0; t < states; t++) {
    outStart[t] = p;
    for (const x of out[byId[t]]) outIds[p++] = x;
  }
  outStart[states] = p;
  return { states, firstOut, k, ascii, wide, wideHashed, wideBase, delta, outStart, outIds, winOff, winLen, exact };
}

/**
 * Whether `lit` (case-folded) occurs in `s` at `at`, folding ASCII in `s` on the fly. Everything up
 * to the window hit is ASCII (the scan is still folding); a non-ASCII character further on, whose
 * lower case may differ in length or be ASCII (the Kelvin sign), answers "maybe" (true): the
 * prefilter may over-report, never miss.
 */
function foldedMayHold(s: string, lit: string, at: number): boolean {
  if (at < 0) return false;
  const n = s.length;
  for (let k = 0; k < lit.length; k++) {
    if (at + k >= n) return false;
    let c = s.charCodeAt(at + k);
    if (c > 127) return true;
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lit.charCodeAt(k)) return false;
  }
  return true;
}
