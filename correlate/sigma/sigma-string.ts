// Sigma string values: parsing wildcards and escapes exactly per SIGMA.md 3.3, and the string-level
// modifiers (contains/startswith/endswith, windash, expand placeholders).

/** A parsed Sigma string: literal chunks and wildcard tokens. */
export type Token = string | typeof STAR | typeof QMARK;
export const STAR = Symbol("*");
export const QMARK = Symbol("?");

export interface SigmaString {
  tokens: Token[];
}

/** Parses a Sigma string value: `*` and `?` are wildcards; `\` escapes only `*`, `?` and `\`. */
export function parseSigmaString(s: string): SigmaString {
  const tokens: Token[] = [];
  let lit = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") {
      const n = s[i + 1];
      if (n === "*" || n === "?" || n === "\\") {
        lit += n;
        i++;
      } else lit += "\\";
    } else if (c === "*" || c === "?") {
      if (lit) tokens.push(lit);
      lit = "";
      tokens.push(c === "*" ? STAR : QMARK);
    } else lit += c;
  }
  if (lit) tokens.push(lit);
  return { tokens: normalize(tokens) };
}

/** A Sigma string holding only literal text (no wildcard processing). */
export function literalString(s: string): SigmaString {
  return { tokens: s ? [s] : [] };
}

function normalize(tokens: Token[]): Token[] {
  const out: Token[] = [];
  for (const t of tokens) {
    const prev = out[out.length - 1];
    if (typeof t === "string" && typeof prev === "string") out[out.length - 1] = prev + t;
    else if (t === STAR && prev === STAR) continue;
    else out.push(t);
  }
  return out;
}

export function hasWildcards(s: SigmaString): boolean {
  return s.tokens.some((t) => typeof t !== "string");
}

/** The plain text of a wildcard-free string. */
export function plainText(s: SigmaString): string {
  return s.tokens.map((t) => (typeof t === "string" ? t : t === STAR ? "*" : "?")).join("");
}

export function withPrefixStar(s: SigmaString): SigmaString {
  return s.tokens[0] === STAR ? s : { tokens: [STAR, ...s.tokens] };
}

export function withSuffixStar(s: SigmaString): SigmaString {
  return s.tokens[s.tokens.length - 1] === STAR ? s : { tokens: [...s.tokens, STAR] };
}

/** A printable form of the string with wildcards shown and literal wildcards escaped. */
export function sigmaToText(s: SigmaString): string {
  return s.tokens.map((t) => (typeof t === "string" ? t.replace(/[\\*?]/g, (m) => "\\" + m) : t === STAR ? "*" : "?")).join("");
}

const DASHES = ["-", "/", "\u2013", "\u2014", "\u2015"];
const PLACEHOLDER_CHAR = "\uE000";

/**
 * windash: every `-` or `/` at a position matching `\B[-/]\b` (pySigma) is replaced by each of
 * `-`, `/`, en dash, em dash and horizontal bar; all combinations. Returns the variants.
 */
export function windash(s: SigmaString, maxVariants: number): SigmaString[] | { error: string } {
  // Flatten with a non-word placeholder for wildcards so word boundaries see them as non-word.
  const flat = s.tokens.map((t) => (typeof t === "string" ? t : PLACEHOLDER_CHAR)).join("");
  const positions: number[] = [];
  const re = /\B[-/]\b/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(flat))) positions.push(m.index);
  if (positions.length === 0) return [s];
  const count = DASHES.length ** positions.length;
  if (count > maxVariants) return { error: `windash would produce ${count} variants (${positions.length} switch positions); the limit is ${maxVariants}` };
  const out: SigmaString[] = [];
  for (let k = 0; k < count; k++) {
    const chars = [...flat];
    let n = k;
    for (const p of positions) {
      chars[p] = DASHES[n % DASHES.length];
      n = Math.floor(n / DASHES.length);
    }
    out.push(rebuild(chars.join(""), s));
  }
  return out;
}

// Puts wildcard tokens back where the placeholder characters are (same order as in the original).
function rebuild(flat: string, orig: SigmaString): SigmaString {
  const wild = orig.tokens.filter((t) => typeof t !== "string");
  const tokens: Token[] = [];
  let lit = "";
  let w = 0;
  for (const c of flat) {
    if (c === PLACEHOLDER_CHAR) {
      if (lit) tokens.push(lit);
      lit = "";
      tokens.push(wild[w++]);
    } else lit += c;
  }
  if (lit) tokens.push(lit);
  return { tokens };
}

/** Names of `%placeholder%`s in a raw value (not preceded by a backslash). */
export function placeholderNames(raw: string): string[] {
  const out: string[] = [];
  const re = /(?<!\\)%([A-Za-z0-9_.-]+)%/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(raw))) out.push(m[1]);
  return out;
}

/**
 * expand: substitutes each `%name%` with each configured value (cartesian product); returns the raw
 * strings (to be parsed as Sigma strings) or the names that have no configured values.
 */
export function expandPlaceholders(raw: string, values: Record<string, string[]>, max: number): { out: string[] } | { missing: string[] } | { error: string } {
  const names = placeholderNames(raw);
  const missing = [...new Set(names.filter((n) => !Object.prototype.hasOwnProperty.call(values, n) || values[n].length === 0))];
  if (missing.length) return { missing };
  let acc = [""];
  const re = /(?<!\\)%([A-Za-z0-9_.-]+)%|\\%|[^%\\]+|\\|%/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(raw))) {
    const piece = m[0];
    if (m[1] !== undefined) {
      const vals = values[m[1]];
      const next: string[] = [];
      for (const a of acc) for (const v of vals) next.push(a + v);
      if (next.length > max) return { error: `placeholder expansion would produce more than ${max} values` };
      acc = next;
    } else {
      const text = piece === "\\%" ? "%" : piece;
      acc = acc.map((a) => a + text);
    }
  }
  return { out: acc };
}
