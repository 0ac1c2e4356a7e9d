// The query language: every construct, every error code with its column, the limits, and a fuzz run
// (random and mutated queries never throw anything but a SigilError, never hang).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { SigilError } from "../errors.ts";
import { parseQuery, patternParts, queryFields } from "./query.ts";
import type { QueryNode } from "./types.ts";

const t = (field: string | null, value: string, extra: Partial<{ wildcard: boolean; phrase: boolean }> = {}): QueryNode => ({
  op: "term",
  field,
  value,
  wildcard: extra.wildcard ?? false,
  phrase: extra.phrase ?? false,
});

function fails(text: string, limits = {}): SigilError {
  try {
    parseQuery(text, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(SigilError);
    return e as SigilError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail`);
}

describe("parseQuery: constructs", () => {
  it("empty text matches everything", () => {
    expect(parseQuery("")).toEqual({ op: "all" });
    expect(parseQuery("   \n ")).toEqual({ op: "all" });
    expect(parseQuery("*")).toEqual({ op: "all" });
  });

  it("field:value, quoted phrases and wildcards", () => {
    expect(parseQuery("host.name:web-01")).toEqual(t("host.name", "web-01"));
    expect(parseQuery('message:"failed password"')).toEqual(t("message", "failed password", { phrase: true }));
    expect(parseQuery("process.name:power*")).toEqual(t("process.name", "power*", { wildcard: true }));
    expect(parseQuery("user.name:adm?n")).toEqual(t("user.name", "adm?n", { wildcard: true }));
    expect(parseQuery("host.name: spaced")).toEqual(t("host.name", "spaced"));
  });

  it("values keep colons, and backslashes before ordinary characters are literal", () => {
    expect(parseQuery("@timestamp:2026-01-01T10:00:00Z")).toEqual(t("@timestamp", "2026-01-01T10:00:00Z"));
    expect(parseQuery("url.original:http://x/y?z")).toEqual(t("url.original", "http://x/y?z", { wildcard: true }));
    expect(parseQuery("process.executable:C\\:\\Windows\\System32\\cmd.exe")).toEqual(t("process.executable", "C:\\Windows\\System32\\cmd.exe"));
    expect(parseQuery('file.path:"C:\\Windows\\x.dll"')).toEqual(t("file.path", "C:\\Windows\\x.dll", { phrase: true }));
  });

  it("escaped wildcards are literal; in a wildcard pattern they stay escaped", () => {
    expect(parseQuery("file.name:a\\*b")).toEqual(t("file.name", "a*b"));
    expect(parseQuery("file.name:a\\*b*")).toEqual(t("file.name", "a\\*b*", { wildcard: true }));
    expect(parseQuery("file.path:C\\:\\\\dir\\\\*")).toEqual(t("file.path", "C:\\\\dir\\\\*", { wildcard: true }));
    expect(patternParts("a\\*b*")).toEqual([{ lit: "a*b" }, { any: true }]);
    expect(patternParts("**x?")).toEqual([{ any: true }, { lit: "x" }, { one: true }]);
  });

  it("bare words and phrases are free text", () => {
    expect(parseQuery("mimikatz")).toEqual(t(null, "mimikatz"));
    expect(parseQuery('"lsass dump"')).toEqual(t(null, "lsass dump", { phrase: true }));
    expect(parseQuery("powershell.exe")).toEqual(t(null, "powershell.exe"));
    expect(parseQuery("power*")).toEqual(t(null, "power*", { wildcard: true }));
  });

  it("AND, OR, NOT, -term, +term, implicit AND and precedence", () => {
    expect(parseQuery("a b")).toEqual({ op: "and", args: [t(null, "a"), t(null, "b")] });
    expect(parseQuery("a AND b OR c")).toEqual({ op: "or", args: [{ op: "and", args: [t(null, "a"), t(null, "b")] }, t(null, "c")] });
    expect(parseQuery("a or b and c")).toEqual({ op: "or", args: [t(null, "a"), { op: "and", args: [t(null, "b"), t(null, "c")] }] });
    expect(parseQuery("NOT a b")).toEqual({ op: "and", args: [{ op: "not", arg: t(null, "a") }, t(null, "b")] });
    expect(parseQuery("-host.name:x +y")).toEqual({ op: "and", args: [{ op: "not", arg: t("host.name", "x") }, t(null, "y")] });
    expect(parseQuery("a && b || !c")).toEqual({ op: "or", args: [{ op: "and", args: [t(null, "a"), t(null, "b")] }, { op: "not", arg: t(null, "c") }] });
    expect(parseQuery("NOT NOT a")).toEqual(t(null, "a"));
    expect(parseQuery('"or"')).toEqual(t(null, "or", { phrase: true }));
  });

  it("parentheses and field groups", () => {
    expect(parseQuery("(a OR b) c")).toEqual({ op: "and", args: [{ op: "or", args: [t(null, "a"), t(null, "b")] }, t(null, "c")] });
    expect(parseQuery('user.name:(alice OR "bob smith" OR adm*)')).toEqual({
      op: "or",
      args: [t("user.name", "alice"), t("user.name", "bob smith", { phrase: true }), t("user.name", "adm*", { wildcard: true })],
    });
    expect(parseQuery("-(a b)")).toEqual({ op: "not", arg: { op: "and", args: [t(null, "a"), t(null, "b")] } });
    expect(parseQuery("NOT(a)")).toEqual({ op: "not", arg: t(null, "a") });
  });

  it("_exists_ and field:*", () => {
    expect(parseQuery("_exists_:user.name")).toEqual({ op: "exists", field: "user.name" });
    expect(parseQuery("user.name:*")).toEqual({ op: "exists", field: "user.name" });
    expect(parseQuery("NOT _exists_:assignee")).toEqual({ op: "not", arg: { op: "exists", field: "assignee" } });
  });

  it("ranges: comparisons, brackets, open ends, dates and now", () => {
    expect(parseQuery("destination.port:>=1024")).toEqual({ op: "range", field: "destination.port", gte: 1024 });
    expect(parseQuery("destination.port:<80")).toEqual({ op: "range", field: "destination.port", lt: 80 });
    expect(parseQuery("x:>1.5e3")).toEqual({ op: "range", field: "x", gt: 1500 });
    expect(parseQuery("x:<=abc")).toEqual({ op: "range", field: "x", lte: "abc" });
    expect(parseQuery("x:[1 TO 5]")).toEqual({ op: "range", field: "x", gte: 1, lte: 5 });
    expect(parseQuery("x:{1 TO 5]")).toEqual({ op: "range", field: "x", gt: 1, lte: 5 });
    expect(parseQuery("x:[a TO *}")).toEqual({ op: "range", field: "x", gte: "a" });
    expect(parseQuery("x:[* TO *]")).toEqual({ op: "exists", field: "x" });
    expect(parseQuery("@timestamp:[2026-01-01 TO 2026-01-02T12:00:00Z]")).toEqual({ op: "range", field: "@timestamp", gte: "2026-01-01", lte: "2026-01-02T12:00:00Z" });
    expect(parseQuery("@timestamp:>now-15m")).toEqual({ op: "range", field: "@timestamp", gt: "now-15m" });
    expect(parseQuery('x:["a b" TO "c"]')).toEqual({ op: "range", field: "x", gte: "a b", lte: "c" });
  });

  it("prototype-polluting field names are renamed the way stored documents are", () => {
    expect(parseQuery("__proto__.x:1")).toEqual(t("_proto_.x", "1"));
    expect(parseQuery("a.constructor:1")).toEqual(t("a._constructor_", "1"));
    expect(({} as Record<string, unknown>)["x"]).toBeUndefined();
  });

  it("collects the fields a query names", () => {
    expect([...queryFields(parseQuery("a:1 OR (b:2 -_exists_:c) d x:>3"))].sort()).toEqual(["a", "b", "c", "x"]);
  });
});

describe("parseQuery: errors carry a code and the column", () => {
  const cases: Array<[string, string, number]> = [
    ["(a OR b", "query_syntax", 1],
    ["a OR b)", "query_syntax", 7],
    ['msg:"open', "query_syntax", 5],
    ["OR a", "query_syntax", 1],
    ["a OR", "query_syntax", 3],
    ["a AND", "query_syntax", 3],
    ["NOT", "query_syntax", 1],
    ["host.name:", "query_syntax", 11],
    [":x", "query_syntax", 1],
    ["x:[1 5]", "query_syntax", 6],
    ["x:[1 TO 5", "query_syntax", 10],
    ["x:[5 TO 1]", "query_bad_range", 1],
    ["a b ()", "query_syntax", 5],
    ["10.0.0.1:443", "query_bad_field", 1],
    ["a..b:1", "query_bad_field", 1],
    ["*mimikatz", "query_unsupported", 1],
    ["mimi?atz", "query_unsupported", 5],
    ["%%", "query_unsupported", 1],
    ["a\u0000b", "query_syntax", 2],
    ["x:>*", "query_syntax", 4],
  ];
  it.each(cases)("%j → %s at column %i", (text, code, column) => {
    const e = fails(text);
    expect(e.code).toBe(code);
    expect(e.location?.column).toBe(column);
    expect(e.exitCode).toBe(2);
  });

  it("reports line and column on multi-line queries", () => {
    const e = fails("a\nb OR");
    expect(e.location).toMatchObject({ line: 2, column: 3 });
  });
});

describe("parseQuery: limits", () => {
  it("query length", () => {
    expect(fails("a".repeat(101), { maxLength: 100 }).code).toBe("query_too_long");
    expect(parseQuery("a".repeat(100), { maxLength: 100 })).toEqual(t(null, "a".repeat(100)));
  });
  it("number of clauses", () => {
    const q = Array.from({ length: 11 }, (_, i) => `w${i}`).join(" OR ");
    const e = fails(q, { maxClauses: 10 });
    expect(e.code).toBe("query_too_many_clauses");
    expect(e.location?.column).toBe(q.indexOf("w10") + 1);
  });
  it("nesting depth, for parentheses and NOT alike", () => {
    expect(fails("(".repeat(6) + "a" + ")".repeat(6), { maxDepth: 5 }).code).toBe("query_too_deep");
    expect(fails("NOT ".repeat(6) + "a", { maxDepth: 5 }).code).toBe("query_too_deep");
    expect(parseQuery("(".repeat(5) + "a" + ")".repeat(5), { maxDepth: 5 })).toEqual(t(null, "a"));
    // deep input far beyond any limit fails cleanly, not with a stack overflow
    expect(fails("(".repeat(100_000), { maxLength: 1_000_000 }).code).toBe("query_too_deep");
  });
  it("distinct fields per query", () => {
    const q = Array.from({ length: 5 }, (_, i) => `f${i}:x`).join(" ");
    expect(fails(q, { maxFields: 4 }).code).toBe("query_too_many_fields");
    expect(() => parseQuery("f:1 f:2 f:3 f:4 f:5", { maxFields: 1 })).not.toThrow();
  });
});

describe("parseQuery: fuzz", () => {
  const alphabet = fc.constantFrom(..."ab:*?\"\\()[]{}<>=!-+ &|TOANDORNOT._@~^/'\n\t0123456789é中".split(""));
  const expectOnlySigilErrors = (s: string) => {
    try {
      const n = parseQuery(s);
      expect(typeof n.op).toBe("string");
    } catch (e) {
      if (!(e instanceof SigilError)) throw e;
      expect(e.code).toMatch(/^query_/);
      expect(e.location?.column).toBeGreaterThan(0);
    }
  };

  it("random strings over the syntax alphabet", () => {
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 80 }).map((a) => a.join("")), expectOnlySigilErrors), { numRuns: 3000 });
  });

  it("arbitrary unicode", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 200 }), expectOnlySigilErrors), { numRuns: 2000 });
  });

  it("mutations of valid queries", () => {
    const seeds = ['host.name:web* AND NOT (user.name:"a b" OR x:[1 TO 5])', "_exists_:a -b:c d*", "@timestamp:>=now-1h process.name:(cmd.exe OR powershell.exe)"];
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.nat(), fc.nat(), alphabet, (seed, a, b, ch) => {
        const i = a % (seed.length + 1);
        const j = Math.min(seed.length, i + (b % 4));
        expectOnlySigilErrors(seed.slice(0, i) + ch + seed.slice(j));
        expectOnlySigilErrors(seed.slice(0, i) + seed.slice(j));
      }),
      { numRuns: 3000 },
    );
  });

  it("pathological inputs finish quickly (linear parsing)", () => {
    const big = { maxLength: 1_000_000, maxClauses: 1_000_000, maxDepth: 100, maxFields: 1000 };
    const inputs = ["a ".repeat(200_000), "\\".repeat(500_000), '"'.repeat(400_001), "a:".repeat(300_000), "-".repeat(500_000), "NOT ".repeat(200_000)];
    for (const s of inputs) {
      const start = process.hrtime.bigint();
      expectOnlySigilErrors(s);
      try {
        parseQuery(s, big);
      } catch (e) {
        if (!(e instanceof SigilError)) throw e;
      }
      // a generous bound: quadratic behaviour on these inputs would take minutes
      expect(Number(process.hrtime.bigint() - start) / 1e9).toBeLessThan(5);
    }
  });
});
