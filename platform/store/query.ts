// The console's query language, parsed into a QueryNode that both stores execute the same way.
// Lucene/KQL-like: field:value, "phrases", wildcards, bare words as free text, AND/OR/NOT, -term,
// parentheses, _exists_:field, ranges. Every error is a UsageError with a code and the column.

import { UsageError } from "../errors.ts";
import { isUnsafeKey, safeKeyName } from "../../schema/fields.ts";
import { tokens } from "./fields.ts";
import type { QueryNode } from "./types.ts";

export interface QueryLimits {
  /** Characters of query text. */
  maxLength: number;
  /** Leaf clauses (terms, ranges, exists). */
  maxClauses: number;
  /** Nesting of parentheses, NOT and field groups. */
  maxDepth: number;
  /** Distinct fields named in one query (issue 9: fields in a query). */
  maxFields: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxLength: 8192, maxClauses: 1024, maxDepth: 20, maxFields: 64 };

/** Limits from the store config section (`store.query`). */
export function queryLimitsFromConfig(q: { max_length: number; max_clauses: number; max_depth: number; max_fields: number }): QueryLimits {
  return { maxLength: q.max_length, maxClauses: q.max_clauses, maxDepth: q.max_depth, maxFields: q.max_fields };
}

/** Field names: at most this long, starting with a letter or _ @ $ #, segments of letters, digits and _ @ $ # -, separated by single dots. */
export const MAX_FIELD_CHARS = 256;
const FIELD_RE = /^[\p{L}_@$#][\p{L}\p{N}_@$#-]*(?:\.[\p{L}\p{N}_@$#-]+)*$/u;

/** Characters a backslash escapes outside quotes; before any other character a backslash is literal (C:\Windows). */
const ESCAPABLE = new Set([..."\\():<>\"*?{}[]=!+-&| \t~^/'"]);
/** Characters that end an unquoted word. */
const WORD_END = new Set([" ", "\t", "\n", "\r", "(", ")", '"']);

interface Word {
  /** Unescaped text. */
  text: string;
  /** Same length as text: true where the character was escaped (so never a wildcard or operator). */
  escaped: boolean[];
  start: number;
  end: number;
  /** Stopped at an unescaped colon (field separator). */
  colon: boolean;
}

/**
 * Parses query text into a QueryNode. Empty text (or only whitespace) matches everything.
 * Throws a UsageError with code query_syntax, query_too_long, query_too_many_clauses,
 * query_too_deep, query_too_many_fields, query_bad_field or query_unsupported, located at the column.
 */
export function parseQuery(text: string, limits: Partial<QueryLimits> = {}): QueryNode {
  const lim = { ...DEFAULT_QUERY_LIMITS, ...limits };
  if (typeof text !== "string") throw new UsageError("query_syntax", "the query must be text", { location: { source: "query", line: 1, column: 1 } });
  if (text.length > lim.maxLength) {
    throw err("query_too_long", `the query is ${text.length} characters long; at most ${lim.maxLength} are allowed`, text, lim.maxLength, "shorten the query, or split it into several searches");
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 9 && c !== 10 && c !== 13) || c === 0x7f) {
      throw err("query_syntax", `control character U+${c.toString(16).padStart(4, "0").toUpperCase()} in the query`, text, i, "remove it; search for such values with a field wildcard");
    }
  }
  const p = new Parser(text, lim);
  return p.parseAll();
}

function location(text: string, at: number): { source: string; line: number; column: number; offset: number } {
  let line = 1;
  let col = 1;
  for (let i = 0; i < at && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      col = 1;
    } else col++;
  }
  return { source: "query", line, column: col, offset: at };
}

function err(code: string, message: string, text: string, at: number, hint?: string): UsageError {
  const loc = location(text, at);
  return new UsageError(code, `${message} (column ${loc.column})`, { location: loc, hint });
}

class Parser {
  private pos = 0;
  private clauses = 0;
  private readonly fields = new Set<string>();

  constructor(private readonly s: string, private readonly lim: QueryLimits) {}

  parseAll(): QueryNode {
    this.skipWs();
    if (this.pos >= this.s.length) return { op: "all" };
    const node = this.parseOr(null, 0);
    this.skipWs();
    if (this.pos < this.s.length) {
      if (this.s[this.pos] === ")") throw this.fail("query_syntax", "unbalanced ')': no '(' opens it", this.pos, "remove the ')' or add the '(' that it closes");
      throw this.fail("query_syntax", `unexpected '${this.s[this.pos]}'`, this.pos);
    }
    return node;
  }

  private fail(code: string, message: string, at: number, hint?: string): UsageError {
    return err(code, message, this.s, at, hint);
  }

  private skipWs(): void {
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") this.pos++;
      else break;
    }
  }

  private enter(depth: number, at: number): number {
    if (depth + 1 > this.lim.maxDepth) {
      throw this.fail("query_too_deep", `the query nests deeper than ${this.lim.maxDepth} levels`, at, "remove parentheses or NOTs that are not needed");
    }
    return depth + 1;
  }

  private leaf(at: number): void {
    if (++this.clauses > this.lim.maxClauses) {
      throw this.fail("query_too_many_clauses", `the query has more than ${this.lim.maxClauses} clauses`, at, "narrow the query, or split it into several searches");
    }
  }

  private useField(name: string, at: number): string {
    if (name.length > MAX_FIELD_CHARS) throw this.fail("query_bad_field", `field name longer than ${MAX_FIELD_CHARS} characters`, at);
    if (!FIELD_RE.test(name)) {
      throw this.fail("query_bad_field", `'${name.length > 40 ? name.slice(0, 40) + "…" : name}' is not a field name`, at, "field names are letters, digits and _ @ $ # - separated by single dots; to search for text with a colon, quote it or escape the colon as \\:");
    }
    const canonical = name.split(".").map((seg) => (isUnsafeKey(seg) ? safeKeyName(seg) : seg)).join(".");
    if (!this.fields.has(canonical)) {
      this.fields.add(canonical);
      if (this.fields.size > this.lim.maxFields) {
        throw this.fail("query_too_many_fields", `the query names more than ${this.lim.maxFields} fields`, at, "search fewer fields at once");
      }
    }
    return canonical;
  }

  /** Looks at the keyword (AND, OR, NOT, && , ||) at pos without consuming it. */
  private peekKeyword(): "and" | "or" | "not" | null {
    const s = this.s;
    const p = this.pos;
    if (s.startsWith("&&", p)) return "and";
    if (s.startsWith("||", p)) return "or";
    for (const kw of ["and", "or", "not"] as const) {
      const end = p + kw.length;
      if (s.slice(p, end).toLowerCase() === kw && (end >= s.length || WORD_END.has(s[end]))) {
        // "not(" and "and(" are keywords followed by a group; "not:" would be a field, handled by the word reader
        return kw;
      }
    }
    return null;
  }

  private consumeKeyword(kw: "and" | "or" | "not"): void {
    if (this.s.startsWith("&&", this.pos) || this.s.startsWith("||", this.pos)) this.pos += 2;
    else this.pos += kw.length;
  }

  private parseOr(field: string | null, depth: number): QueryNode {
    const args: QueryNode[] = [this.parseAnd(field, depth)];
    for (;;) {
      this.skipWs();
      if (this.peekKeyword() !== "or") break;
      const at = this.pos;
      this.consumeKeyword("or");
      this.skipWs();
      if (this.pos >= this.s.length || this.s[this.pos] === ")") throw this.fail("query_syntax", "OR needs a term on its right", at);
      args.push(this.parseAnd(field, depth));
    }
    return combine("or", args);
  }

  private parseAnd(field: string | null, depth: number): QueryNode {
    this.skipWs();
    const kw = this.peekKeyword();
    if (kw === "and" || kw === "or") throw this.fail("query_syntax", `${kw.toUpperCase()} needs a term on its left`, this.pos, `to search for the word ${kw}, quote it: "${kw}"`);
    const args: QueryNode[] = [this.parseUnary(field, depth)];
    for (;;) {
      this.skipWs();
      if (this.pos >= this.s.length || this.s[this.pos] === ")") break;
      const k = this.peekKeyword();
      if (k === "or") break;
      if (k === "and") {
        const at = this.pos;
        this.consumeKeyword("and");
        this.skipWs();
        if (this.pos >= this.s.length || this.s[this.pos] === ")") throw this.fail("query_syntax", "AND needs a term on its right", at);
        const k2 = this.peekKeyword();
        if (k2 === "and" || k2 === "or") throw this.fail("query_syntax", `${k2.toUpperCase()} right after AND`, this.pos);
      }
      args.push(this.parseUnary(field, depth));
    }
    return combine("and", args);
  }

  private parseUnary(field: string | null, depth: number): QueryNode {
    this.skipWs();
    const at = this.pos;
    if (this.peekKeyword() === "not" || (this.s[this.pos] === "!" && this.pos + 1 < this.s.length && !WORD_END.has(this.s[this.pos + 1]))) {
      if (this.s[this.pos] === "!") this.pos++;
      else this.consumeKeyword("not");
      this.skipWs();
      if (this.pos >= this.s.length || this.s[this.pos] === ")") throw this.fail("query_syntax", "NOT needs a term after it", at);
      const inner = this.parseUnary(field, this.enter(depth, at));
      return negate(inner);
    }
    const c = this.s[this.pos];
    const next = this.s[this.pos + 1];
    if ((c === "-" || c === "+") && next !== undefined && next !== ")" && next !== " " && next !== "\t" && next !== "\n" && next !== "\r") {
      this.pos++;
      const inner = this.parsePrimary(field, c === "-" ? this.enter(depth, at) : depth);
      return c === "-" ? negate(inner) : inner;
    }
    return this.parsePrimary(field, depth);
  }

  private parsePrimary(field: string | null, depth: number): QueryNode {
    this.skipWs();
    const at = this.pos;
    if (at >= this.s.length) throw this.fail("query_syntax", "the query ends where a term was expected", at);
    const c = this.s[at];
    if (c === "(") {
      const d = this.enter(depth, at);
      this.pos++;
      this.skipWs();
      if (this.s[this.pos] === ")") throw this.fail("query_syntax", "empty parentheses", at);
      const node = this.parseOr(field, d);
      this.skipWs();
      if (this.s[this.pos] !== ")") throw this.fail("query_syntax", "unbalanced '(': no ')' closes it", at, "add the missing ')'");
      this.pos++;
      return node;
    }
    if (c === ")") throw this.fail("query_syntax", "unbalanced ')': no '(' opens it", at);
    if (c === '"') {
      const value = this.readQuoted();
      return field === null ? this.freeText(value, true, false, at) : this.fieldTerm(field, value, false, true, at);
    }
    const w = this.readWord(true);
    if (w.text.length === 0 && !w.colon) throw this.fail("query_syntax", `unexpected '${this.s[at]}'`, at);
    if (w.colon) {
      if (w.text.length === 0) throw this.fail("query_syntax", "a field name is missing before ':'", at);
      return this.fieldExpr(w, depth);
    }
    if (field !== null) return this.fieldValue(field, w, at);
    if (w.text === "*" && !w.escaped[0]) {
      this.leaf(at);
      return { op: "all" };
    }
    return this.freeTextWord(w);
  }

  /** After `name:` — a value, a phrase, a group, a comparison or a range. */
  private fieldExpr(w: Word, depth: number): QueryNode {
    const at = w.start;
    const rawName = w.text;
    if (w.escaped.some(Boolean)) throw this.fail("query_bad_field", "escaped characters are not allowed in field names", at);
    this.skipWs();
    const vat = this.pos;
    if (vat >= this.s.length || this.s[vat] === ")") throw this.fail("query_syntax", `a value is missing after '${rawName}:'`, vat, `for example ${rawName}:value, ${rawName}:"a phrase" or _exists_:${rawName}`);
    if (rawName === "_exists_") {
      const fw = this.s[vat] === '"' ? { text: this.readQuoted(), start: vat } : this.readWord(false);
      const f = this.useField(fw.text, vat);
      this.leaf(at);
      return { op: "exists", field: f };
    }
    const field = this.useField(rawName, at);
    const c = this.s[vat];
    if (c === "(") {
      const d = this.enter(depth, vat);
      this.pos++;
      this.skipWs();
      if (this.s[this.pos] === ")") throw this.fail("query_syntax", "empty parentheses", vat);
      const node = this.parseOr(field, d);
      this.skipWs();
      if (this.s[this.pos] !== ")") throw this.fail("query_syntax", "unbalanced '(': no ')' closes it", vat, "add the missing ')'");
      this.pos++;
      return node;
    }
    if (c === "[" || c === "{") return this.rangeBrackets(field, at);
    if (c === ">" || c === "<") return this.comparison(field, at);
    if (c === '"') {
      const value = this.readQuoted();
      return this.fieldTerm(field, value, false, true, at);
    }
    const v = this.readWord(false);
    if (v.text.length === 0) throw this.fail("query_syntax", `a value is missing after '${rawName}:'`, vat);
    return this.fieldValue(field, v, at);
  }

  private fieldValue(field: string, v: Word, at: number): QueryNode {
    const wildcard = hasWildcard(v);
    if (wildcard && v.text === "*") {
      this.leaf(at);
      return { op: "exists", field };
    }
    return this.fieldTerm(field, wildcard ? toPattern(v) : v.text, wildcard, false, at);
  }

  private fieldTerm(field: string, value: string, wildcard: boolean, phrase: boolean, at: number): QueryNode {
    this.leaf(at);
    return { op: "term", field, value, wildcard, phrase };
  }

  private comparison(field: string, at: number): QueryNode {
    const opAt = this.pos;
    let op = this.s[this.pos++];
    if (this.s[this.pos] === "=") {
      op += "=";
      this.pos++;
    }
    this.skipWs();
    const vat = this.pos;
    if (vat >= this.s.length || WORD_END.has(this.s[vat]) && this.s[vat] !== '"') throw this.fail("query_syntax", `a value is missing after '${op}'`, opAt);
    const bound = this.readBound(vat);
    if (bound === null) throw this.fail("query_syntax", `'*' cannot follow '${op}'`, vat);
    this.leaf(at);
    const key = op === ">" ? "gt" : op === ">=" ? "gte" : op === "<" ? "lt" : "lte";
    return { op: "range", field, [key]: bound } as QueryNode;
  }

  private rangeBrackets(field: string, at: number): QueryNode {
    const open = this.s[this.pos++];
    this.skipWs();
    const lo = this.readBound(this.pos, true);
    this.skipWs();
    if (!this.s.startsWith("TO", this.pos) || (this.pos + 2 < this.s.length && !" \t\n\r".includes(this.s[this.pos + 2]))) {
      throw this.fail("query_syntax", "expected 'TO' in the range", this.pos, `write ${field}:[low TO high], with * for an open end`);
    }
    this.pos += 2;
    this.skipWs();
    const hi = this.readBound(this.pos, true);
    this.skipWs();
    const close = this.s[this.pos];
    if (close !== "]" && close !== "}") throw this.fail("query_syntax", "the range is not closed with ']' or '}'", this.pos);
    this.pos++;
    this.leaf(at);
    if (lo === null && hi === null) return { op: "exists", field };
    const node: { op: "range"; field: string; gt?: number | string; gte?: number | string; lt?: number | string; lte?: number | string } = { op: "range", field };
    if (lo !== null) node[open === "[" ? "gte" : "gt"] = lo;
    if (hi !== null) node[close === "]" ? "lte" : "lt"] = hi;
    if (typeof lo === "number" && typeof hi === "number" && lo > hi) {
      throw this.fail("query_bad_range", "the range's lower bound is above its upper bound", at);
    }
    return node;
  }

  /** A range bound: a quoted string, a number, a word, or * (null: open). */
  private readBound(at: number, inBrackets = false): number | string | null {
    if (this.s[at] === '"') return this.readQuoted();
    const w = this.readWord(false, inBrackets);
    if (w.text.length === 0) throw this.fail("query_syntax", "a range bound is missing", at);
    if (w.text === "*" && !w.escaped[0]) return null;
    if (hasWildcard(w)) throw this.fail("query_syntax", "wildcards are not allowed in range bounds", at);
    return NUMBER_RE.test(w.text) && Number.isFinite(Number(w.text)) ? Number(w.text) : w.text;
  }

  private readQuoted(): string {
    const start = this.pos;
    this.pos++; // opening quote
    let out = "";
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c === "\\" && (this.s[this.pos + 1] === '"' || this.s[this.pos + 1] === "\\")) {
        out += this.s[this.pos + 1];
        this.pos += 2;
        continue;
      }
      if (c === '"') {
        this.pos++;
        return out;
      }
      out += c;
      this.pos++;
    }
    throw this.fail("query_syntax", "unbalanced '\"': the quoted text is not closed", start, 'close it with ", or escape a quote inside as \\"');
  }

  /**
   * An unquoted word. With stopAtColon, an unescaped ':' ends it (field separator); in range
   * brackets ']' and '}' end it too.
   */
  private readWord(stopAtColon: boolean, inBrackets = false): Word {
    const start = this.pos;
    let text = "";
    const escaped: boolean[] = [];
    let colon = false;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (WORD_END.has(c)) break;
      if (inBrackets && (c === "]" || c === "}")) break;
      if (c === "\\" && this.pos + 1 < this.s.length && ESCAPABLE.has(this.s[this.pos + 1])) {
        text += this.s[this.pos + 1];
        escaped.push(true);
        this.pos += 2;
        continue;
      }
      if (c === ":" && stopAtColon) {
        colon = true;
        this.pos++;
        break;
      }
      text += c;
      escaped.push(false);
      this.pos++;
    }
    return { text, escaped, start, end: this.pos, colon };
  }

  private freeTextWord(w: Word): QueryNode {
    if (!hasWildcard(w)) return this.freeText(w.text, false, false, w.start);
    // Free text takes a trailing * only (a prefix of the last word); anything else needs a field.
    const last = w.text.length - 1;
    for (let i = 0; i < w.text.length; i++) {
      const ch = w.text[i];
      if ((ch === "*" || ch === "?") && !w.escaped[i] && i !== last) {
        throw this.fail("query_unsupported", "free text takes a wildcard only as a trailing * (a word prefix)", w.start + i, "search a field instead, e.g. process.command_line:*mimikatz*, or write a prefix: power*");
      }
    }
    if (w.text[last] === "?") throw this.fail("query_unsupported", "free text takes a wildcard only as a trailing * (a word prefix)", w.start + last, "use a field for ? wildcards");
    const literal = w.text.slice(0, last);
    const toks = tokens(literal);
    if (toks.length === 0) throw this.fail("query_unsupported", "a free-text prefix needs letters or digits before the *", w.start, "e.g. power*");
    if (/[^\p{L}\p{N}\p{M}]$/u.test(literal)) {
      // "foo.*" — the * follows a separator: it means any word after foo; a prefix of nothing is any word
      throw this.fail("query_unsupported", "a free-text * must directly follow letters or digits", w.start + last, "e.g. power*");
    }
    this.leaf(w.start);
    return { op: "term", field: null, value: literal + "*", wildcard: true, phrase: false };
  }

  private freeText(value: string, phrase: boolean, wildcard: boolean, at: number): QueryNode {
    if (tokens(value).length === 0) {
      throw this.fail("query_unsupported", `'${value.length > 40 ? value.slice(0, 40) + "…" : value}' has no letters or digits to search for`, at, "free text finds words; to match other characters use a field, e.g. message:*%*");
    }
    this.leaf(at);
    return { op: "term", field: null, value, wildcard, phrase };
  }
}

const NUMBER_RE = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function hasWildcard(w: { text: string; escaped: boolean[] }): boolean {
  for (let i = 0; i < w.text.length; i++) {
    const c = w.text[i];
    if ((c === "*" || c === "?") && !w.escaped[i]) return true;
  }
  return false;
}

/** The wildcard pattern of a word: unescaped * and ? stay wildcards; escaped ones and backslashes are escaped with \. */
function toPattern(w: Word): string {
  let out = "";
  for (let i = 0; i < w.text.length; i++) {
    const c = w.text[i];
    if (c === "\\" || ((c === "*" || c === "?") && w.escaped[i])) out += "\\" + c;
    else out += c;
  }
  return out;
}

function combine(op: "and" | "or", args: QueryNode[]): QueryNode {
  if (args.length === 1) return args[0];
  const flat: QueryNode[] = [];
  for (const a of args) {
    if (a.op === op) flat.push(...a.args);
    else flat.push(a);
  }
  return { op, args: flat };
}

function negate(n: QueryNode): QueryNode {
  if (n.op === "not") return n.arg;
  return { op: "not", arg: n };
}

/**
 * Pieces of a wildcard pattern (QueryNode term with wildcard: true): literal runs and the
 * wildcards `*` (any run) and `?` (one character). `\` escapes the next character.
 */
export function patternParts(pattern: string): Array<{ lit: string } | { any: true } | { one: true }> {
  const parts: Array<{ lit: string } | { any: true } | { one: true }> = [];
  let lit = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\" && i + 1 < pattern.length) {
      lit += pattern[++i];
    } else if (c === "*" || c === "?") {
      if (lit) parts.push({ lit });
      lit = "";
      const last = parts[parts.length - 1];
      if (c === "*" && last && "any" in last) continue;
      parts.push(c === "*" ? { any: true } : { one: true });
    } else lit += c;
  }
  if (lit) parts.push({ lit });
  return parts;
}

/** Collects every field a query names (for field-type lookups and limits). */
export function queryFields(q: QueryNode | undefined, out = new Set<string>()): Set<string> {
  if (!q) return out;
  switch (q.op) {
    case "and":
    case "or":
      for (const a of q.args) queryFields(a, out);
      break;
    case "not":
      queryFields(q.arg, out);
      break;
    case "term":
      if (q.field !== null) out.add(q.field);
      break;
    case "range":
    case "exists":
      out.add(q.field);
      break;
  }
  return out;
}
