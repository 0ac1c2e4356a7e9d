import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { LineSplitter } from "./lines.ts";
import type { MultilineConfig } from "./config.ts";

type Rec = { text: string; start: number; end: number; truncated: boolean };

function split(chunks: (string | Buffer)[], opts: { max?: number; ml?: MultilineConfig | null; start?: number; finish?: boolean } = {}) {
  const out: Rec[] = [];
  const s = new LineSplitter((text, start, end, truncated) => out.push({ text, start, end, truncated }), {
    maxLineBytes: opts.max ?? 1024,
    multiline: opts.ml ?? null,
    startOffset: opts.start ?? 0,
  });
  for (const c of chunks) {
    const b = typeof c === "string" ? Buffer.from(c) : c;
    s.push(b, b.length, 0);
  }
  if (opts.finish) s.finish();
  return { out, s };
}

describe("LineSplitter", () => {
  it("splits lines with exact byte offsets, strips CR, skips empty lines", () => {
    const { out, s } = split(["ab\r\ncd\n\nef\n"]);
    expect(out).toEqual([
      { text: "ab", start: 0, end: 4, truncated: false },
      { text: "cd", start: 4, end: 7, truncated: false },
      { text: "ef", start: 8, end: 11, truncated: false },
    ]);
    expect(s.emittedUpTo).toBe(11);
  });

  it("holds a partial line until its newline, across chunks, and counts offsets from startOffset", () => {
    const { out, s } = split(["héllo wo", "rld\nnext"], { start: 100 });
    expect(out).toEqual([{ text: "héllo world", start: 100, end: 113, truncated: false }]);
    expect(s.emittedUpTo).toBe(113);
    expect(s.offset).toBe(117);
    expect(s.holding).toBe(true);
  });

  it("cuts a line longer than the limit, keeps its head, flags it, and ends it after its newline", () => {
    const long = "x".repeat(5000);
    const { out, s } = split([long + "\nok\n"], { max: 1000 });
    expect(out[0]).toEqual({ text: "x".repeat(1000), start: 0, end: 5001, truncated: true });
    expect(out[1]).toEqual({ text: "ok", start: 5001, end: 5004, truncated: false });
    expect(s.truncatedCount).toBe(1);
  });

  it("cuts a long line arriving in many chunks the same way", () => {
    const chunks = Array.from({ length: 50 }, () => "y".repeat(300));
    const { out } = split([...chunks, "\nz\n"], { max: 1000 });
    expect(out[0]).toEqual({ text: "y".repeat(1000), start: 0, end: 15001, truncated: true });
    expect(out[1].text).toBe("z");
  });

  it("never splits a UTF-8 character when cutting", () => {
    const line = "€".repeat(400); // 3 bytes each
    const { out } = split([line + "\n"], { max: 1000 });
    expect(out[0].truncated).toBe(true);
    expect(out[0].text).toBe("€".repeat(333));
    const { out: out2 } = split([Buffer.from(line.slice(0, 200)), Buffer.from(line.slice(200) + "\n")], { max: 1000 });
    expect(out2[0].text).toBe("€".repeat(333));
  });

  it("emits a final line without newline only on finish()", () => {
    const { out, s } = split(["a\nb"]);
    expect(out.map((r) => r.text)).toEqual(["a"]);
    s.finish();
    expect(out[1]).toEqual({ text: "b", start: 2, end: 3, truncated: false });
  });

  it("joins Java stack traces with a continue pattern", () => {
    const ml: MultilineConfig = { pattern: "^[ \\t]+at |^Caused by:|^[ \\t]+\\.\\.\\. \\d+ more", match: "continue", max_lines: 500, timeout_ms: 1000 };
    const text = [
      "2026-01-01 ERROR boom",
      "java.lang.IllegalStateException: bad",
      "\tat a.b.C.d(C.java:10)",
      "\tat a.b.C.e(C.java:20)",
      "Caused by: java.io.IOException: io",
      "\t... 3 more",
      "2026-01-01 INFO fine",
      "",
    ].join("\n");
    const { out, s } = split([text], { ml });
    // "java.lang..." does not match, so it starts its own event; the trace lines join it.
    expect(out.map((r) => r.text)).toEqual(["2026-01-01 ERROR boom", "java.lang.IllegalStateException: bad\n\tat a.b.C.d(C.java:10)\n\tat a.b.C.e(C.java:20)\nCaused by: java.io.IOException: io\n\t... 3 more"]);
    expect(s.emittedUpTo).toBe(text.indexOf("2026-01-01 INFO"));
    s.finish();
    expect(out[2].text).toBe("2026-01-01 INFO fine");
  });

  it("joins by start pattern: lines not matching belong to the previous event", () => {
    const ml: MultilineConfig = { pattern: "^\\d{4}-", match: "start", max_lines: 500, timeout_ms: 1000 };
    const { out, s } = split(["2026-1 a\n  more\n  more2\n2026-2 b\n"], { ml });
    expect(out).toEqual([{ text: "2026-1 a\n  more\n  more2", start: 0, end: 24, truncated: false }]);
    s.finish();
    expect(out[1]).toMatchObject({ text: "2026-2 b", start: 24, end: 33 });
  });

  it("caps a multiline event at max_lines and at the byte limit (flagged)", () => {
    const ml: MultilineConfig = { pattern: "^ ", match: "continue", max_lines: 3, timeout_ms: 1000 };
    const { out } = split(["a\n 1\n 2\n 3\n 4\n"], { ml, finish: true });
    expect(out.map((r) => r.text)).toEqual(["a\n 1\n 2", " 3\n 4"]);
    const ml2: MultilineConfig = { pattern: "^ ", match: "continue", max_lines: 100, timeout_ms: 1000 };
    const { out: o2 } = split(["a\n" + " xxxxxxxxxx\n".repeat(50)], { ml: ml2, max: 300, finish: true });
    expect(o2).toHaveLength(1);
    expect(o2[0].truncated).toBe(true);
    expect(Buffer.byteLength(o2[0].text)).toBeLessThanOrEqual(300);
    expect(o2[0].end).toBe(2 + 12 * 50);
  });

  it("emits a pending multiline event after its timeout", () => {
    const out: Rec[] = [];
    const ml: MultilineConfig = { pattern: "^ ", match: "continue", max_lines: 10, timeout_ms: 100 };
    const s = new LineSplitter((text, start, end, truncated) => out.push({ text, start, end, truncated }), { maxLineBytes: 1000, multiline: ml, startOffset: 0 });
    s.push(Buffer.from("a\n b\n"), 5, 1000);
    expect(out).toHaveLength(0);
    expect(s.flushIdle(1050)).toBe(false);
    expect(s.flushIdle(1100)).toBe(true);
    expect(out[0]).toEqual({ text: "a\n b", start: 0, end: 5, truncated: false });
  });

  it("gives the same records however the bytes are chunked (property)", () => {
    const lineArb = fc.string({ unit: fc.constantFrom("a", "b", "é", "€", " ", "\r", "\t"), maxLength: 40 });
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (lines, cuts) => {
        const all = Buffer.from(lines.join("\n") + "\n");
        const whole = split([all], { max: 64 }).out;
        const parts: Buffer[] = [];
        let p = 0;
        let i = 0;
        while (p < all.length) {
          const n = cuts[i++ % cuts.length];
          parts.push(all.subarray(p, p + n));
          p += n;
        }
        expect(split(parts, { max: 64 }).out).toEqual(whole);
        for (const r of whole) expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(64);
      }),
      { numRuns: 300 },
    );
  });
});
