// Document canonicalization, free-text tokens, case folding and date parsing: what both stores share.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalize, documentText, foldAscii, parseDate, parseDateBound, tokenText, tokens } from "./fields.ts";

describe("canonicalize", () => {
  const can = (doc: unknown, c: "events" | "state" = "state") => canonicalize(c, doc, 1 << 20);

  it("expands dotted keys, renames unsafe and reserved keys, keeps the rest as is", () => {
    const doc = JSON.parse('{"id":"x","a.b":1,"a":{"c":2},"__proto__":{"p":1},"_id":"y","sigil_fts":"z","":3,"k.":4}');
    const r = can(doc);
    expect("code" in r).toBe(false);
    if ("code" in r) return;
    expect(r.doc).toEqual({ id: "x", a: { b: 1, c: 2 }, _proto_: { p: 1 }, _id_: "y", sigil_fts_: "z", _empty_: 3, k: { _empty_: 4 } });
    expect(Object.getPrototypeOf(r.doc)).toBe(Object.prototype);
    expect(JSON.parse(r.json)).toEqual(r.doc);
  });

  it("returns the input untouched when nothing needs to change", () => {
    const doc = { id: "x", a: { b: [1, 2, { c: 3 }] } };
    const r = can(doc);
    if ("code" in r) throw new Error(r.reason);
    expect(r.doc).toBe(doc);
    expect([...(r.arrays ?? [])]).toEqual([["a.b", true]]);
  });

  it("refuses documents it cannot store, with a code", () => {
    expect(can({ a: 1 })).toMatchObject({ code: "doc_no_id" });
    expect(can({ id: "x", a: 1, "a.b": 2 })).toMatchObject({ code: "doc_field_conflict" });
    expect(can({ event: { id: "e" } }, "events")).toMatchObject({ code: "doc_bad_timestamp" });
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(can({ id: "x", deep })).toMatchObject({ code: "doc_too_deep" });
    expect(canonicalize("state", { id: "x", s: "y".repeat(2000) }, 1000)).toMatchObject({ code: "doc_too_large" });
    expect(can([1])).toMatchObject({ code: "doc_invalid" });
  });

  it("drops undefined, turns non-finite numbers into null", () => {
    const r = can({ id: "x", u: undefined, n: NaN, i: Infinity, arr: [undefined, 1] });
    if ("code" in r) throw new Error(r.reason);
    expect(r.doc).toEqual({ id: "x", n: null, i: null, arr: [null, 1] });
  });

  it("never throws on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const r = canonicalize("state", { id: "x", v }, 1 << 20);
        if (!("code" in r)) expect(() => JSON.parse(r.json)).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });
});

describe("free text", () => {
  it("splits on anything but letters, digits and marks, lowercases every script, splits ideographs", () => {
    expect(tokens("Powershell.EXE -enc SQBF")).toEqual(["powershell", "exe", "enc", "sqbf"]);
    expect(tokens("C:\\Windows\\System32")).toEqual(["c", "windows", "system32"]);
    expect(tokens("JÜRGEN straße")).toEqual(["jürgen", "straße"]);
    expect(tokens("漢字かな")).toEqual(["漢", "字", "か", "な"]);
    expect(tokens("10.0.0.1:443")).toEqual(["10", "0", "0", "1", "443"]);
    expect(tokens("%%")).toEqual([]);
    expect(tokenText("a".repeat(600)).split(" ").map((t) => t.length)).toEqual([255, 255, 90]);
  });

  it("covers every string and number except @timestamp, one entry per value", () => {
    expect(documentText({ "@timestamp": "2026-01-01T12:00:00Z", a: "Hello World", b: [1, "x y"], c: { d: true, e: null } })).toEqual(["hello world", "1", "x y"]);
  });

  it("leaves out values whose tokens the event's original holds, in order and whole, and keeps the rest", () => {
    const line = "Nov 22 06:01:02 web-1 sshd[812]: Failed password for root from 10.0.0.7 port 4242 ssh2";
    const doc = {
      "@timestamp": "2026-11-22T06:01:02Z",
      event: { kind: "event", outcome: "failure", original: line },
      message: "Failed password for root from 10.0.0.7 port 4242 ssh2",
      user: { name: "root" },
      source: { ip: "10.0.0.7", port: 4242 },
      process: { name: "sshd", pid: 812 },
      host: { name: "web-1", id: "eb" }, // "eb" is inside "web" but not a token of it
      service: { name: "password for" }, // in the original, words in order
      tags: ["root from password"], // its words, not in that order
    };
    expect(documentText(doc)).toEqual([tokenText(line), "event", "failure", "eb", "root from password"]);
    // every word and phrase a query could find in a left-out value is in the original's entry
    for (const v of ["failed password", "10 0 0 7", "4242", "web 1", "sshd"]) expect(` ${documentText(doc)[0]} `).toContain(` ${v} `);
  });

  it("leaves out exactly the values whose tokens stand in the original's, whatever their case, script and cut (property)", () => {
    // the reference: tokenize every value and search its tokens in the original's
    const reference = (original: string, values: Array<string | number>): string[] => {
      const o = tokenText(original);
      const out = o ? [o] : [];
      for (const v of values) {
        const t = tokenText(String(v));
        if (t && !(o && ` ${o} `.includes(` ${t} `))) out.push(t);
      }
      return out;
    };
    const char = fc.constantFrom(..."aAbBzZ09 -_.:/\\=\"[]éÉΣσς漢字İ\u0301x".split(""));
    const text = fc.array(char, { minLength: 1, maxLength: 40 }).map((cs) => cs.join(""));
    const doc = text.chain((original) =>
      fc.tuple(
        fc.constant(original),
        fc.array(
          fc.oneof(
            // cuts of the original, at any place, sometimes re-cased
            fc.tuple(fc.nat(original.length), fc.nat(original.length), fc.boolean()).map(([a, b, up]) => {
              const cut = original.slice(Math.min(a, b), Math.max(a, b));
              return up ? cut.toUpperCase() : cut;
            }),
            text,
            fc.integer({ min: 0, max: 99 }),
          ),
          { maxLength: 8 },
        ),
      ),
    );
    fc.assert(
      fc.property(doc, ([original, values]) => {
        const d = { event: { original }, v: values };
        expect(documentText(d)).toEqual(reference(original, values));
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps every value when the original is long (a Windows event's JSON), missing, or not a string", () => {
    const long = `{"EventData":{"CommandLine":"whoami /all"},"pad":"${"x ".repeat(1100)}"}`;
    expect(documentText({ event: { original: long }, process: { command_line: "whoami /all" } })).toEqual([tokenText(long), "whoami all"]);
    expect(documentText({ message: "a b", user: { name: "a" } })).toEqual(["a b", "a"]);
    expect(documentText({ event: { original: 42 }, n: 42 })).toEqual(["42", "42"]);
  });
});

describe("folding and dates", () => {
  it("field matches fold ASCII letters only", () => {
    expect(foldAscii("AbC-Ü")).toBe("abc-Ü");
  });

  it("parses ISO 8601 with offsets and fractions, and epoch milliseconds", () => {
    expect(parseDate("2026-01-10T14:30:00+02:00")).toBe(Date.UTC(2026, 0, 10, 12, 30));
    expect(parseDate("2026-01-10T12:00:00.123456Z")).toBe(Date.UTC(2026, 0, 10, 12, 0, 0, 123));
    expect(parseDate("2026-01-10")).toBe(Date.UTC(2026, 0, 10));
    expect(parseDate("1767225600000")).toBe(1767225600000);
    expect(parseDate(1767225600000)).toBe(1767225600000);
    expect(parseDate("2026-02-30")).toBeNull();
    expect(parseDate("yesterday")).toBeNull();
    expect(parseDateBound("now-15m", 1_000_000_000)).toBe(1_000_000_000 - 900_000);
    expect(parseDateBound("now", 5)).toBe(5);
  });
});
