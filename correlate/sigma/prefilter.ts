// Multi-literal scan for the prefilter: an Aho-Corasick automaton compiled to a dense transition
// table (typed arrays) over the characters the literals use, ASCII case folded in the character map,
// so one pass over a field value (one table read per character, no allocation) finds every literal it
// contains. Each literal is anchored by a window of at most WINDOW characters, the one the fewest
// other literals share, preferring ASCII; a longer literal is checked around its window's hit. That
// bounds the table (states are at most the windows' characters), so it stays cache-friendly.

/** Longest anchor window; a table larger than TABLE_BUDGET entries is rebuilt with SHORT_WINDOW. */
export const WINDOW = 8;
const SHORT_WINDOW = 4;
const TABLE_BUDGET = 1 << 22;
/** Non-ASCII characters get their own classes up to this many; beyond, they share hashed classes. */
const WIDE_CLASSES = 32;

/** Literal hits are reported as literal ids (indices into the array given to the constructor). */
export class LiteralIndex {
  readonly literals: string[];
  /** Number of states of the automaton (for stats and tests). */
  readonly states: number;
  private readonly k: number;
  private readonly ascii: Uint16Array;
  private readonly wide: Map<number, number>;
  /** Non-ASCII characters hashed into shared classes (more than WIDE_CLASSES of them). */
  private readonly wideHashed: boolean;
  private readonly wideBase: number;
  /** (state·k + class) → next state·k, or −(next state·k) − 1 when the next state reports literals. */
  private readonly delta: Int32Array;
  private readonly outStart: Int32Array;
  private readonly outIds: Int32Array;
  private readonly winOff: Int32Array;
  private readonly winLen: Int32Array;
  /** 1 when a window hit is a literal hit: the window is the whole literal and its classes are exact. */
  private readonly exact: Uint8Array;
  /** Per literal: the scan generation of its last reported hit (each literal reported once per generation). */
  private readonly seen: Uint32Array;
  private gen = 1;

  constructor(literals: string[]) {
    this.literals = literals;
    const n = literals.length;
    this.seen = new Uint32Array(n);
    for (const l of literals) if (l.length === 0) throw new Error("empty literal");
    let built = build(literals, WINDOW);
    if (built.states * built.k > TABLE_BUDGET) built = build(literals, SHORT_WINDOW);
    this.states = built.states;
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
  }

  /**
   * Calls onHit(literalId) for each literal found in s, case-insensitively (as in s.toLowerCase()),
   * once per generation. ASCII is folded on the fly; from the first non-ASCII character on, the scan
   * continues over s.toLowerCase() (identical up to there), which is exact for any text.
   */
  scan(s: string, onHit: (id: number) => void): void {
    const n = s.length;
    const delta = this.delta;
    const ascii = this.ascii;
    let st = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) {
        this.scanLowered(s.toLowerCase(), i, st, onHit);
        return;
      }
      const nx = delta[st + ascii[c]];
      if (nx >= 0) st = nx;
      else {
        st = -nx - 1;
        this.report(st, s, i, true, onHit);
      }
    }
  }

  private scanLowered(t: string, from: number, st: number, onHit: (id: number) => void): void {
    const delta = this.delta;
    const ascii = this.ascii;
    for (let i = from; i < t.length; i++) {
      const c = t.charCodeAt(i);
      const nx = delta[st + (c < 128 ? ascii[c] : this.wideClass(c))];
      if (nx >= 0) st = nx;
      else {
        st = -nx - 1;
        this.report(st, t, i, false, onHit);
      }
    }
  }

  private wideClass(c: number): number {
    if (this.wideHashed) return this.wideBase + (Math.imul(c, 0x9e3779b1) >>> 27);
    return this.wide.get(c) ?? 0;
  }

  private report(st: number, s: string, end: number, folding: boolean, onHit: (id: number) => void): void {
    const state = (st / this.k) | 0;
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
  k: number;
  ascii: Uint16Array;
  wide: Map<number, number>;
  wideHashed: boolean;
  wideBase: number;
  delta: Int32Array;
  outStart: Int32Array;
  outIds: Int32Array;
  winOff: Int32Array;
  winLen: Int32Array;
  exact: Uint8Array;
}

function build(literals: string[], window: number): Built {
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
  // Character classes: one per ASCII character used in a window (upper case shares lower case); the
  // non-ASCII ones exact up to WIDE_CLASSES, else hashed into WIDE_CLASSES shared classes; 0 = other.
  const ascii = new Uint16Array(128);
  const wideChars = new Set<number>();
  let k = 1;
  for (let id = 0; id < n; id++) {
    const l = literals[id];
    for (let i = winOff[id]; i < winOff[id] + winLen[id]; i++) {
      const c = l.charCodeAt(i);
      if (c < 128) {
        if (ascii[c] === 0) ascii[c] = k++;
      } else wideChars.add(c);
    }
  }
  for (let c = 65; c <= 90; c++) ascii[c] = ascii[c + 32];
  const wide = new Map<number, number>();
  const wideHashed = wideChars.size > WIDE_CLASSES;
  const wideBase = k;
  if (wideHashed) k += WIDE_CLASSES;
  else for (const c of wideChars) wide.set(c, k++);
  const classOf = (c: number) => (c < 128 ? ascii[c] : wideHashed ? wideBase + (Math.imul(c, 0x9e3779b1) >>> 27) : (wide.get(c) as number));
  for (let id = 0; id < n; id++) exact[id] = winLen[id] === literals[id].length && (!wideHashed || isAscii(literals[id], 0, literals[id].length)) ? 1 : 0;
  // Trie over the windows.
  let maxStates = 1;
  for (let id = 0; id < n; id++) maxStates += winLen[id];
  const go = new Int32Array(maxStates * k).fill(-1);
  const direct: number[][] = [[]];
  let states = 1;
  for (let id = 0; id < n; id++) {
    const l = literals[id];
    let s = 0;
    for (let i = winOff[id]; i < winOff[id] + winLen[id]; i++) {
      const at = s * k + classOf(l.charCodeAt(i));
      if (go[at] < 0) {
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
  // Pack: premultiplied next states, negative when the next state reports literals.
  const delta = new Int32Array(states * k);
  for (let i = 0; i < states * k; i++) {
    const v = go[i];
    delta[i] = out[v].length ? -(v * k) - 1 : v * k;
  }
  const outStart = new Int32Array(states + 1);
  let total = 0;
  for (let s = 0; s < states; s++) total += out[s].length;
  const outIds = new Int32Array(total);
  let p = 0;
  for (let s = 0; s < states; s++) {
    outStart[s] = p;
    for (const id of out[s]) outIds[p++] = id;
  }
  outStart[states] = p;
  return { states, k, ascii, wide, wideHashed, wideBase, delta, outStart, outIds, winOff, winLen, exact };
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
