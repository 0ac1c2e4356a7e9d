import { describe, expect, it } from "vitest";
import { FrameSplitter } from "./syslog.ts";

function split(chunks: Array<string | Buffer>, max = 64): { frames: string[]; overlong: Array<[string, number]> } {
  const frames: string[] = [];
  const overlong: Array<[string, number]> = [];
  const s = new FrameSplitter(max, (f) => frames.push(f.toString()), (head, size) => overlong.push([head.toString(), size]));
  for (const c of chunks) s.push(typeof c === "string" ? Buffer.from(c) : c);
  s.end();
  return { frames, overlong };
}

describe("syslog TCP framing", () => {
  it("reads octet-counted frames, also split across chunks and holding newlines", () => {
    const a = "<13>1 - h a - - - first";
    const b = "<13>1 - h a - - - line one\nline two";
    const stream = `${a.length} ${a}${Buffer.byteLength(b)} ${b}`;
    expect(split([stream]).frames).toEqual([a, b]);
    const chunks = stream.match(/.{1,5}/gs)!;
    expect(split(chunks).frames).toEqual([a, b]);
  });

  it("reads newline-framed messages, including ones that start with a digit, and the unterminated last one", () => {
    expect(split(["<13>Oct 30 09:00:00 h a: one\n<13>Oct 30 09:00:01 h a: two\r\n2024-10-31T10:00:00Z h a: three\nlast"]).frames).toEqual([
      "<13>Oct 30 09:00:00 h a: one",
      "<13>Oct 30 09:00:01 h a: two\r",
      "2024-10-31T10:00:00Z h a: three",
      "last",
    ]);
  });

  it("mixes both framings on one connection", () => {
    expect(split(["5 hello<13>x\n3 abc"]).frames).toEqual(["hello", "<13>x", "abc"]);
  });

  it("reports overlong frames with their first bytes and size, and skips exactly them", () => {
    const big = "x".repeat(100);
    const r = split([`${big.length} ${big}5 after`, `${"y".repeat(70)}\nnext\n`], 64);
    expect(r.overlong).toEqual([["x".repeat(64), 100], ["y".repeat(64), 70]]);
    expect(r.frames).toEqual(["after", "next"]);
    const chunked = split([`100 ${"x".repeat(40)}`, "x".repeat(60), "3 end"], 64);
    expect(chunked.overlong).toEqual([["x".repeat(40), 100]]);
    expect(chunked.frames).toEqual(["end"]);
  });
});
