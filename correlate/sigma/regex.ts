// Regular expressions that cannot stall the engine: a pattern runs on V8's backtracking RegExp only
// when analysis proves its backtracking is bounded by a constant per start position (no unbounded
// or nested quantifier, few bounded ones); everything else runs on RE2JS, a linear-time engine.

import { RE2JS } from "re2js";

export type RegexEngine = "v8" | "re2" | "length";

export interface CompiledRegex {
  test(s: string): boolean;
  engine: RegexEngine;
  /** Case-folded literals that any match must contain (for the prefilter); empty when unknown. */
  literals: string[];
  source: string;
  flags: string;
}

export interface RegexFlags {
  i?: boolean;
  m?: boolean;
  s?: boolean;
}

/** Largest number of backtracking paths per start position we accept on V8. */
const MAX_V8_PATHS = 4096;

export class RegexError extends Error {}

/**
 * Compiles a Sigma `re` value with search semantics. A leading PCRE inline flag group such as `(?i)`
 * or `(?is)` becomes a flag. Throws RegexError for patterns no engine here accepts.
 */
export function compileRegex(pattern: string, flags: RegexFlags = {}): CompiledRegex {
  let src = pattern;
  const f = { ...flags };
  const lead = /^\(\?([ims]+)\)/.exec(src);
  if (lead) {
    for (const c of lead[1]) f[c as "i" | "m" | "s"] = true;
    src = src.slice(lead[0].length);
  }
  if (/\(\?<?[=!]/.test(src)) throw new RegexError("lookahead and lookbehind are not supported (they are not linear-time)");
  if (/\\[1-9]|\\k</.test(src)) throw new RegexError("backreferences are not supported (they are not linear-time)");
  const jsFlags = (f.i ? "i" : "") + (f.m ? "m" : "") + (f.s ? "s" : "");
  // `.{n,}` (SigmaHQ's "abnormally long command line"): a length test, which RE2 would expand into n states.
  const long = /^\.\{(\d+),\}$/.exec(src);
  if (long) {
    const n = Number(long[1]);
    const test = f.s ? (s: string) => s.length >= n : (s: string) => longestLine(s) >= n;
    return { test, engine: "length", literals: [], source: src, flags: jsFlags };
  }
  const analysis = analyse(src);
  const literals = analysis.literals.map((l) => l.toLowerCase()).filter((l) => l.length > 0);
  if (analysis.safe) {
    let re: RegExp;
    try {
      re = new RegExp(src, jsFlags);
    } catch (err) {
      throw new RegexError((err as Error).message);
    }
    return { test: (s) => re.test(s), engine: "v8", literals, source: src, flags: jsFlags };
  }
  let re2: RE2JS;
  try {
    re2 = RE2JS.compile(src, (f.i ? RE2JS.CASE_INSENSITIVE : 0) | (f.m ? RE2JS.MULTILINE : 0) | (f.s ? RE2JS.DOTALL : 0));
  } catch (err) {
    throw new RegexError((err as Error).message);
  }
  return { test: (s) => re2.test(s), engine: "re2", literals, source: src, flags: jsFlags };
}

/** Length of the longest run without a line terminator (what `.` cannot cross). */
function longestLine(s: string): number {
  let best = 0;
  let cur = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13 || c === 0x2028 || c === 0x2029) cur = 0;
    else if (++cur > best) best = cur;
  }
  return best;
}

interface Analysis {
  safe: boolean;
  literals: string[];
}

/**
 * Conservative scan of a JS-flavoured pattern: unsafe when it has an unbounded quantifier (`*`, `+`,
 * `{n,}`), a quantified group (nested quantification), inline flag groups, or a path count above
 * MAX_V8_PATHS. Also collects the literal runs of the top-level sequence when it has no alternation.
 */
export function analyse(src: string): Analysis {
  let safe = true;
  let paths = 1;
  let depth = 0;
  let topAlternation = false;
  const literals: string[] = [];
  let run = "";
  let lastAtomLiteral = false; // whether the last top-level atom was a literal char appended to run
  const endRun = () => {
    if (run) literals.push(run);
    run = "";
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "\\") {
      const n = src[i + 1] ?? "";
      i++;
      if (depth === 0) {
        if (/[dDwWsSbBntrfv0cxup]/.test(n)) {
          endRun();
          lastAtomLiteral = false;
        } else {
          run += n;
          lastAtomLiteral = true;
        }
      }
      continue;
    }
    if (c === "[") {
      // skip class
      let j = i + 1;
      if (src[j] === "^") j++;
      if (src[j] === "]") j++;
      while (j < src.length && src[j] !== "]") j += src[j] === "\\" ? 2 : 1;
      i = j;
      if (depth === 0) {
        endRun();
        lastAtomLiteral = false;
      }
      continue;
    }
    if (c === "(") {
      if (src[i + 1] === "?" && src[i + 2] !== ":") safe = false; // inline flags or named groups
      depth++;
      if (depth === 1) endRun();
      lastAtomLiteral = false;
      continue;
    }
    if (c === ")") {
      depth = Math.max(0, depth - 1);
      const q = src[i + 1];
      if (q === "*" || q === "+" || q === "?" || q === "{") safe = false; // quantified group
      lastAtomLiteral = false;
      continue;
    }
    if (c === "|") {
      if (depth === 0) topAlternation = true;
      paths *= 2;
      if (depth === 0) endRun();
      continue;
    }
    if (c === "*" || c === "+") {
      safe = false;
      if (depth === 0) {
        if (c === "*" && lastAtomLiteral) run = run.slice(0, -1);
        endRun();
      }
      if (src[i + 1] === "?") i++;
      lastAtomLiteral = false;
      continue;
    }
    if (c === "?") {
      paths *= 2;
      if (depth === 0) {
        if (lastAtomLiteral) run = run.slice(0, -1);
        endRun();
      }
      if (src[i + 1] === "?") i++;
      lastAtomLiteral = false;
      continue;
    }
    if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
      if (m) {
        const min = Number(m[1]);
        const max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
        if (max === Infinity) safe = false;
        else paths *= max - min + 1;
        if (depth === 0) {
          if (lastAtomLiteral && min === 0) run = run.slice(0, -1);
          endRun();
        }
        i += m[0].length - 1;
        lastAtomLiteral = false;
        continue;
      }
    }
    if (c === "." || c === "^" || c === "$") {
      if (depth === 0) endRun();
      lastAtomLiteral = false;
      continue;
    }
    if (depth === 0) {
      run += c;
      lastAtomLiteral = true;
    }
  }
  endRun();
  if (paths > MAX_V8_PATHS) safe = false;
  return { safe, literals: topAlternation ? [] : literals };
}
