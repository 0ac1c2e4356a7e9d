// Timespans and conditions of correlation rules: `{gte: 3}` (several operators are AND-ed), and the
// extended temporal conditions, boolean expressions over rule names ("a and (b or not c)").

export const TIMESPAN_UNITS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  M: 2_629_746_000, // 30.44 days, as pySigma
  y: 31_556_952_000,
};

/** "90m" → 5,400,000 ms; null when malformed or not positive. Units are case-sensitive (M = month). */
export function parseTimespan(spec: unknown): number | null {
  if (typeof spec !== "string") return null;
  const m = /^([0-9]{1,9})([smhdwMy])$/.exec(spec.trim());
  if (!m) return null;
  const n = Number(m[1]);
  if (n <= 0) return null;
  return n * TIMESPAN_UNITS[m[2]];
}

export const CONDITION_OPS = ["gt", "gte", "lt", "lte", "eq", "neq"] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

/** A numeric condition: every clause must hold. */
export interface NumericCondition {
  kind: "numeric";
  clauses: { op: ConditionOp; value: number }[];
}

/** Boolean expression over referenced rules (by position in the correlation's `rules`). */
export type Expr =
  | { t: "ref"; name: string; index: number }
  | { t: "not"; arg: Expr }
  | { t: "and"; args: Expr[] }
  | { t: "or"; args: Expr[] };

export interface ExpressionCondition {
  kind: "expression";
  source: string;
  expr: Expr;
  /** Negation normal form: nots pushed onto references. */
  nnf: Expr;
  /** True when some reference is negated: absence can only be decided when the window closes. */
  hasNegation: boolean;
}

export type Condition = NumericCondition | ExpressionCondition;

export function testNumeric(c: NumericCondition, v: number): boolean {
  for (const cl of c.clauses) {
    switch (cl.op) {
      case "gt":
        if (!(v > cl.value)) return false;
        break;
      case "gte":
        if (!(v >= cl.value)) return false;
        break;
      case "lt":
        if (!(v < cl.value)) return false;
        break;
      case "lte":
        if (!(v <= cl.value)) return false;
        break;
      case "eq":
        if (v !== cl.value) return false;
        break;
      case "neq":
        if (v === cl.value) return false;
        break;
    }
  }
  return true;
}

/**
 * When a condition can be decided: `arrival` conditions (gt, gte, eq, neq, and expressions without
 * `not`) are checked after every contributing event and fire at once; `close` conditions (an upper
 * bound lt/lte, or an expression with `not`) need the whole window, so they are checked when the
 * window closes in event time.
 */
export function firingMode(c: Condition): "arrival" | "close" {
  if (c.kind === "expression") return c.hasNegation ? "close" : "arrival";
  return c.clauses.some((cl) => cl.op === "lt" || cl.op === "lte") ? "close" : "arrival";
}

export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(message);
  }
}

/**
 * Parses an extended condition. Identifiers are rule names (`[A-Za-z_][A-Za-z0-9_]*`); precedence
 * not > and > or; parentheses group. Resolution of names to positions is done by the caller.
 */
export function parseExpression(src: string): Expr {
  const toks: { v: string; col: number }[] = [];
  const re = /\s*(\(|\)|[A-Za-z_][A-Za-z0-9_-]*|\S)/gy;
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < src.length && (m = re.exec(src))) {
    if (!m[1]) break;
    toks.push({ v: m[1], col: m.index + m[0].length - m[1].length + 1 });
  }
  if (src.length > 10_000) throw new ExpressionError("expression longer than 10,000 characters", 1);
  let i = 0;
  const peek = () => toks[i]?.v;
  const parseOr = (depth: number): Expr => {
    const args = [parseAnd(depth)];
    while (peek() === "or") {
      i++;
      args.push(parseAnd(depth));
    }
    return args.length === 1 ? args[0] : { t: "or", args };
  };
  const parseAnd = (depth: number): Expr => {
    const args = [parseNot(depth)];
    while (peek() === "and") {
      i++;
      args.push(parseNot(depth));
    }
    return args.length === 1 ? args[0] : { t: "and", args };
  };
  const parseNot = (depth: number): Expr => {
    if (depth > 64) throw new ExpressionError("expression nested deeper than 64 levels", toks[i]?.col ?? 1);
    const tok = toks[i];
    if (!tok) throw new ExpressionError("expression ends where a rule name was expected", src.length + 1);
    if (tok.v === "not") {
      i++;
      return { t: "not", arg: parseNot(depth + 1) };
    }
    if (tok.v === "(") {
      i++;
      const e = parseOr(depth + 1);
      if (peek() !== ")") throw new ExpressionError("missing closing parenthesis", toks[i]?.col ?? src.length + 1);
      i++;
      return e;
    }
    if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(tok.v) && tok.v !== "and" && tok.v !== "or") {
      i++;
      return { t: "ref", name: tok.v, index: -1 };
    }
    throw new ExpressionError(`unexpected "${tok.v}" where a rule name was expected`, tok.col);
  };
  const e = parseOr(0);
  if (i < toks.length) throw new ExpressionError(`unexpected "${toks[i].v}" after the end of the expression`, toks[i].col);
  return e;
}

/** Rule names in an expression, in order of first appearance. */
export function expressionRefs(e: Expr, out: string[] = []): string[] {
  if (e.t === "ref") {
    if (!out.includes(e.name)) out.push(e.name);
  } else if (e.t === "not") expressionRefs(e.arg, out);
  else for (const a of e.args) expressionRefs(a, out);
  return out;
}

/** Negation normal form: `not` only directly on references. */
export function toNnf(e: Expr, neg = false): Expr {
  switch (e.t) {
    case "ref":
      return neg ? { t: "not", arg: e } : e;
    case "not":
      return toNnf(e.arg, !neg);
    case "and":
      return { t: neg ? "or" : "and", args: e.args.map((a) => toNnf(a, neg)) };
    case "or":
      return { t: neg ? "and" : "or", args: e.args.map((a) => toNnf(a, neg)) };
  }
}

export function hasNegation(nnf: Expr): boolean {
  if (nnf.t === "not") return true;
  if (nnf.t === "ref") return false;
  return nnf.args.some(hasNegation);
}

/**
 * Evaluates an NNF expression: a positive reference holds when its rule is in `pos` (a bitmask of rule
 * positions), a negated one when its rule is absent from `present`. For `temporal` both are the set of
 * rules seen in the window; for `temporal_ordered`, `pos` is the set of rules of one in-order chain.
 */
export function evalNnf(e: Expr, pos: number, present: number): boolean {
  switch (e.t) {
    case "ref":
      return (pos & (1 << e.index)) !== 0;
    case "not":
      return (present & (1 << (e.arg as { index: number }).index)) === 0;
    case "and":
      for (const a of e.args) if (!evalNnf(a, pos, present)) return false;
      return true;
    case "or":
      for (const a of e.args) if (evalNnf(a, pos, present)) return true;
      return false;
  }
}

/** Sets each reference's `index` from a name → position map; returns the names that did not resolve. */
export function resolveExpression(e: Expr, positions: Map<string, number>): string[] {
  const missing: string[] = [];
  const walk = (x: Expr) => {
    if (x.t === "ref") {
      const p = positions.get(x.name);
      if (p === undefined) missing.push(x.name);
      else x.index = p;
    } else if (x.t === "not") walk(x.arg);
    else x.args.forEach(walk);
  };
  walk(e);
  return missing;
}
