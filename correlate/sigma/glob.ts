// Wildcard matching for Sigma strings in linear time: a pattern is split at `*` into segments that are
// matched leftmost in order (optimal for `*`-only separators), so no input can make it backtrack.

import { QMARK, STAR, type SigmaString } from "./sigma-string.ts";

/** A compiled string test over an already case-folded (or, for `cased`, raw) value. */
export type StringTest = (s: string) => boolean;

export interface CompiledString {
  test: StringTest;
  /** Literal chunks that every match must contain (case-folded when the test is case-insensitive). */
  literals: string[];
  /** What the test does, for explain output and tests: eq, contains, prefix, suffix, glob, any. */
  shape: "eq" | "contains" | "prefix" | "suffix" | "glob" | "any";
  /** For shape eq: the one string the test accepts. */
  eqText?: string;
  /** For shapes prefix and suffix: the literal the value must start or end with. */
  affixText?: string;
}

/** Segment: literal text where `\u0000`-free positions listed in `q` are single-character wildcards. */
interface Segment {
  text: string;
  q: number[] | null;
}

function segmentsOf(s: SigmaString): { segs: Segment[]; leadStar: boolean; trailStar: boolean } {
  const segs: Segment[] = [];
  let cur: Segment = { text: "", q: null };
  let leadStar = false;
  let trailStar = false;
  s.tokens.forEach((t, i) => {
    if (t === STAR) {
      if (i === 0) leadStar = true;
      if (i === s.tokens.length - 1) trailStar = true;
      segs.push(cur);
      cur = { text: "", q: null };
    } else if (t === QMARK) {
      (cur.q ??= []).push(cur.text.length);
      cur.text += "?";
    } else cur.text += t;
  });
  segs.push(cur);
  return { segs, leadStar, trailStar };
}

function segAt(s: string, seg: Segment, pos: number): boolean {
  if (seg.q === null) return s.startsWith(seg.text, pos);
  const t = seg.text;
  if (pos + t.length > s.length) return false;
  let qi = 0;
  for (let i = 0; i < t.length; i++) {
    if (seg.q[qi] === i) {
      qi++;
      continue;
    }
    if (s.charCodeAt(pos + i) !== t.charCodeAt(i)) return false;
  }
  return true;
}

function segFind(s: string, seg: Segment, from: number): number {
  if (seg.q === null) return s.indexOf(seg.text, from);
  // Find by the longest literal run, then verify; linear in practice and bounded by rule size.
  const last = s.length - seg.text.length;
  for (let p = from; p <= last; p++) if (segAt(s, seg, p)) return p;
  return -1;
}

function literalRuns(seg: Segment): string[] {
  if (seg.q === null) return seg.text ? [seg.text] : [];
  const out: string[] = [];
  let run = "";
  let qi = 0;
  for (let i = 0; i < seg.text.length; i++) {
    if (seg.q[qi] === i) {
      qi++;
      if (run) out.push(run);
      run = "";
    } else run += seg.text[i];
  }
  if (run) out.push(run);
  return out;
}

/** Compiles a Sigma string (case already folded by the caller when needed) into a linear-time test. */
export function compileString(s: SigmaString): CompiledString {
  const { segs, leadStar, trailStar } = segmentsOf(s);
  const literals = segs.flatMap(literalRuns);
  if (segs.length === 1) {
    const seg = segs[0];
    if (seg.q === null) {
      const t = seg.text;
      return { test: (v) => v === t, literals, shape: "eq", eqText: t };
    }
    return { test: (v) => v.length === seg.text.length && segAt(v, seg, 0), literals, shape: "glob" };
  }
  const first = segs[0];
  const lastSeg = segs[segs.length - 1];
  const middle = segs.slice(1, -1).filter((x) => x.text.length > 0);
  if (middle.length === 0 && first.text === "" && lastSeg.text === "") return { test: () => true, literals, shape: "any" };
  if (leadStar && trailStar && middle.length === 1 && middle[0].q === null) {
    const t = middle[0].text;
    return { test: (v) => v.includes(t), literals, shape: "contains" };
  }
  if (!leadStar && trailStar && middle.length === 0 && first.q === null) {
    const t = first.text;
    return { test: (v) => v.startsWith(t), literals, shape: "prefix", affixText: t };
  }
  if (leadStar && !trailStar && middle.length === 0 && lastSeg.q === null) {
    const t = lastSeg.text;
    return { test: (v) => v.endsWith(t), literals, shape: "suffix", affixText: t };
  }
  const minLen = segs.reduce((n, x) => n + x.text.length, 0);
  const test: StringTest = (v) => {
    if (v.length < minLen) return false;
    if (!segAt(v, first, 0)) return false;
    let pos = first.text.length;
    const end = v.length - lastSeg.text.length;
    for (const m of middle) {
      const at = segFind(v, m, pos);
      if (at < 0 || at + m.text.length > end) return false;
      pos = at + m.text.length;
    }
    return pos <= end && segAt(v, lastSeg, end);
  };
  return { test, literals, shape: "glob" };
}

/** Case-folds the literal chunks of a Sigma string (Unicode-aware). */
export function foldCase(s: SigmaString): SigmaString {
  return { tokens: s.tokens.map((t) => (typeof t === "string" ? t.toLowerCase() : t)) };
}
