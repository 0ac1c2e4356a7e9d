// The Sigma condition grammar (SIGMA.md 5.1): or < and < not < `x of` < parentheses, with `1 of`,
// `any of`, `all of` over name patterns and `them`. Patterns are resolved against identifiers here,
// at load time, so evaluation never looks names up.

export type CondNode =
  | { t: "id"; name: string }
  | { t: "and"; items: CondNode[] }
  | { t: "or"; items: CondNode[] }
  | { t: "not"; item: CondNode }
  | { t: "of"; all: boolean; names: string[]; pattern: string };

export class ConditionError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** 0-based column inside the condition text. */
    readonly column: number,
  ) {
    super(message);
  }
}

interface Tok {
  v: string;
  pos: number;
}

const MAX_DEPTH = 64;

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  const re = /\s*(\(|\)|\||[A-Za-z0-9_*.-]+|\S)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < src.length && (m = re.exec(src))) {
    if (m[1] === undefined) break;
    out.push({ v: m[1], pos: m.index + m[0].length - m[1].length });
  }
  return out;
}

/** Parses a condition; identifiers are the detection's search identifiers. Throws ConditionError. */
export function parseCondition(src: string, identifiers: string[]): CondNode {
  const toks = tokenize(src);
  let i = 0;
  const known = new Set(identifiers);
  const peek = () => toks[i];
  const fail = (code: string, msg: string, pos?: number): never => {
    throw new ConditionError(code, msg, pos ?? (toks[i]?.pos ?? src.length));
  };
  const expect = (v: string) => {
    if (peek()?.v !== v) fail("condition_syntax", `expected "${v}"${peek() ? ` but found "${peek().v}"` : " at the end"}`);
    i++;
  };
  const orExpr = (d: number): CondNode => {
    if (d > MAX_DEPTH) fail("condition_too_deep", `condition nests deeper than ${MAX_DEPTH}`);
    const items = [andExpr(d)];
    while (peek()?.v === "or") {
      i++;
      items.push(andExpr(d));
    }
    return items.length === 1 ? items[0] : { t: "or", items };
  };
  const andExpr = (d: number): CondNode => {
    const items = [notExpr(d)];
    while (peek()?.v === "and") {
      i++;
      items.push(notExpr(d));
    }
    return items.length === 1 ? items[0] : { t: "and", items };
  };
  const notExpr = (d: number): CondNode => {
    // `not not not ...` nests like parentheses do: bounded the same way (a hostile rule cannot exhaust the stack)
    if (d > MAX_DEPTH) fail("condition_too_deep", `condition nests deeper than ${MAX_DEPTH}`);
    if (peek()?.v === "not") {
      i++;
      return { t: "not", item: notExpr(d + 1) };
    }
    return atom(d);
  };
  const atom = (d: number): CondNode => {
    const tok = peek();
    if (!tok) return fail("condition_syntax", "condition ends where an identifier or '(' was expected");
    if (tok.v === "(") {
      i++;
      const inner = orExpr(d + 1);
      expect(")");
      return inner;
    }
    if (tok.v === "|") fail("condition_aggregation_unsupported", "aggregation expressions (`| count() ...`) are obsolete; write a Sigma correlation rule instead");
    if ((tok.v === "1" || tok.v === "any" || tok.v === "all") && toks[i + 1]?.v === "of") {
      i += 2;
      const pat = peek();
      if (!pat || !/^[A-Za-z0-9_*-]+$/.test(pat.v)) return fail("condition_syntax", "expected a name pattern or `them` after `of`");
      i++;
      let names: string[];
      if (pat.v === "them") names = identifiers.filter((n) => !n.startsWith("_"));
      else {
        const re = new RegExp("^" + pat.v.replace(/[.+?^${}()|[\]\\-]/g, "\\$&").replace(/\*/g, ".*") + "$");
        names = identifiers.filter((n) => re.test(n) && (pat.v.startsWith("_") || !n.startsWith("_")));
      }
      if (names.length === 0) fail("condition_pattern_matches_nothing", `pattern "${pat.v}" matches no search identifier`, pat.pos);
      return { t: "of", all: tok.v === "all", names, pattern: pat.v };
    }
    if (["and", "or", "not", "of", ")"].includes(tok.v)) return fail("condition_syntax", `unexpected "${tok.v}"`);
    if (!/^[A-Za-z0-9_.-]+$/.test(tok.v)) return fail("condition_syntax", `unexpected "${tok.v}"`);
    if (!known.has(tok.v)) fail("condition_unknown_identifier", `"${tok.v}" is not a search identifier of this rule (known: ${identifiers.join(", ") || "none"})`, tok.pos);
    i++;
    return { t: "id", name: tok.v };
  };
  if (toks.length === 0) fail("condition_syntax", "condition is empty", 0);
  const node = orExpr(0);
  if (i < toks.length) {
    if (toks[i].v === "|") fail("condition_aggregation_unsupported", "aggregation expressions (`| count() ...`) are obsolete; write a Sigma correlation rule instead");
    fail("condition_syntax", `unexpected "${toks[i].v}" after a complete condition`);
  }
  return node;
}

/** The identifiers a condition uses. */
export function identifiersOf(node: CondNode, out = new Set<string>()): Set<string> {
  switch (node.t) {
    case "id":
      out.add(node.name);
      break;
    case "of":
      node.names.forEach((n) => out.add(n));
      break;
    case "not":
      identifiersOf(node.item, out);
      break;
    default:
      node.items.forEach((x) => identifiersOf(x, out));
  }
  return out;
}
