// The conformance suite every parser runs (conformance.test.ts calls it for each registry entry): a
// parser never throws, whatever it is fed (random text, mutated and truncated fixtures, huge lines,
// binary, hostile JSON); every event it emits validates against the common schema and carries a
// deterministic id; every record it does not turn into an event comes back as a rejection with a
// stable code and a reason; the same input always gives the same events.

import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { expect, it } from "vitest";
import type { EcsEvent } from "../../schema/ecs.ts";
import { EVENT_ID_PATTERN } from "../../schema/event-id.ts";
import { validateEvent } from "../../schema/validate.ts";
import type { Parser, RawRecord, Rejection } from "./types.ts";
import { defaultParseContext } from "./types.ts";
import { opensJsonDocument } from "../input.ts";

const CODE = /^[a-z][a-z0-9_]*$/;
const PINNED_NOW = new Date("2024-11-01T00:00:00Z");

export interface RunResult {
  events: EcsEvent[];
  rejections: Rejection[];
}

/** Feeds records to a fresh session (pinned clock) and flushes it. Lets exceptions escape: callers assert none. */
export function runParser(parser: Parser, lines: readonly string[], opts: { source?: string; path?: string; timezone?: string } = {}): RunResult {
  const session = parser.open(defaultParseContext({ now: () => PINNED_NOW, timezone: opts.timezone ?? "UTC" }));
  const out: RunResult = { events: [], rejections: [] };
  const emit = { event: (e: EcsEvent) => out.events.push(e), reject: (r: Rejection) => out.rejections.push(r) };
  let offset = 0;
  lines.forEach((data, i) => {
    const rec: RawRecord = { data, source: opts.source ?? "conformance", line: i + 1, offset };
    if (opts.path !== undefined) rec.path = opts.path;
    session.push(rec, emit);
    offset += Buffer.byteLength(data) + 1;
  });
  session.flush(emit);
  return out;
}

/** Schema problems of the events and shape problems of the rejections a run produced. */
export function checkOutput(r: RunResult): string[] {
  const problems: string[] = [];
  for (const e of r.events) {
    for (const p of validateEvent(e)) problems.push(`event ${e.event?.id}: ${p.location?.key}: ${p.message}`);
    if (typeof e.event?.id !== "string" || !EVENT_ID_PATTERN.test(e.event.id)) problems.push(`event.id ${JSON.stringify(e.event?.id)} is not 32 lower-case hex characters`);
    if (Object.prototype.hasOwnProperty.call(e, "__proto__")) problems.push("event has an own __proto__ key");
    try {
      JSON.stringify(e);
    } catch (err) {
      problems.push(`event does not serialize: ${(err as Error).message}`);
    }
  }
  for (const j of r.rejections) {
    if (typeof j.code !== "string" || !CODE.test(j.code)) problems.push(`rejection code ${JSON.stringify(j.code)} is not snake_case`);
    if (typeof j.reason !== "string" || j.reason.trim().length === 0) problems.push(`rejection ${j.code} has no reason`);
    if (!j.record || typeof j.record.data !== "string" || typeof j.record.source !== "string") problems.push(`rejection ${j.code} does not carry its record`);
  }
  return problems;
}

/** The fixture inputs of a parser (every file in fixtures/ that is not an expected output). */
export function fixtureInputs(dir: string): Array<{ file: string; lines: string[] }> {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => !f.endsWith(".expected.json") && !f.startsWith("."))
    .sort()
    .map((f) => {
      const text = fs.readFileSync(path.join(dir, f), "utf8");
      return { file: f, lines: isDocument(text) ? [text.trim()] : text.split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l.length > 0) };
    });
}

/** A file whose first line opens a JSON document it does not complete (read whole, like ingest/input.ts does). */
function isDocument(text: string): boolean {
  return opensJsonDocument(text.trimStart().split("\n")[0] ?? "");
}

/** A line turned hostile: cut, spliced with random text, characters replaced, duplicated. */
function mutations(seeds: string[]): fc.Arbitrary<string> {
  const seed = seeds.length > 0 ? fc.constantFrom(...seeds) : fc.string();
  return fc.oneof(
    fc.tuple(seed, fc.nat()).map(([s, n]) => s.slice(0, s.length === 0 ? 0 : n % s.length)),
    fc.tuple(seed, fc.nat(), fc.string({ maxLength: 40 })).map(([s, n, x]) => {
      const i = s.length === 0 ? 0 : n % s.length;
      return s.slice(0, i) + x + s.slice(i);
    }),
    fc.tuple(seed, fc.nat(), fc.string({ unit: "binary", maxLength: 8 })).map(([s, n, x]) => {
      const i = s.length === 0 ? 0 : n % s.length;
      return s.slice(0, i) + x + s.slice(i + x.length);
    }),
    fc.tuple(seed, fc.constantFrom('"', "\\", "{", "}", "[", "]", ":", ",", "=", " ", "\t", "\u0000", "\uffff", "\ud800", "<", ">", "#")).map(([s, c]) => s.replace(/[":=\] ]/g, c)),
    seed.map((s) => s + s),
    seed.map((s) => s.replace(/\d/g, "9")),
    seed.map((s) => s.replace(/\d/g, "0")),
  );
}

/** JSON objects with prototype-polluting keys, deep nesting and odd values. */
const HOSTILE_JSON = [
  '{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 2}}}',
  '{"timestamp":"2024-01-01T00:00:00Z","event_type":"alert","__proto__":{"polluted":3},"src_ip":"1.2.3.4"}',
  '{"eventName":"x","eventSource":"y","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"__proto__":{"polluted":4}}}',
  '{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get","stageTimestamp":"2024-01-01T00:00:00Z","annotations":{"__proto__":"x","constructor":"y"}}',
  '{"ts":1700000000,"uid":"C1","id.orig_h":"1.2.3.4","constructor":{"name":"x"},"_path":"conn"}',
  '{"resourceLogs":[{"resource":{"attributes":[{"key":"__proto__","value":{"stringValue":"x"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","attributes":[{"key":"constructor","value":{"kvlistValue":{"values":[{"key":"__proto__","value":{"intValue":"1"}}]}}}]}]}]}]}',
  '{"@timestamp":"2024-01-01T00:00:00Z","event":{"kind":"event","dataset":"x","__proto__":{"polluted":5}}}',
  '{"message":"x","level":"info","\\u005f_proto__":{"polluted":6}}',
  "[".repeat(5000) + "]".repeat(5000),
  '{"a":' .repeat(3000) + "1" + "}".repeat(3000),
  '{"ts": 1e400, "timestamp": -1, "eventTime": "9999-99-99T99:99:99Z", "time": NaN}',
  '{"ts":1700000000,"uid":"C1","id.orig_h":"999.1.1.1","id.orig_p":999999,"_path":"conn"}',
  "{}",
  "[]",
  "null",
  '"just a string"',
  "12345",
];

/** Inputs meant to be far too big or too odd: each must come back quickly, without a throw. */
function hugeInputs(seeds: string[]): string[] {
  const seed = seeds[0] ?? "x";
  return [
    "A".repeat(1 << 20),
    seed + " " + "x".repeat(1 << 19),
    `{"message":"${"\\\\".repeat(1 << 17)}"}`,
    "<13>" + "Jan  1 00:00:00 host prog[1]: " + " from 1.2.3.4 port 22".repeat(20000),
    `{"a":[${"1,".repeat(200000)}1]}`,
    "\u0000".repeat(4096),
    Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString("latin1"),
    "\ufeff" + seed,
    "\ud800\udc00\ud800" + seed,
    "",
    " ",
    "\t\t",
  ];
}

/**
 * Declares the suite for one parser inside the caller's describe(). `fixturesDir` seeds mutations with
 * real lines of the format.
 */
export function defineConformance(parser: Parser, fixturesDir: string, runs = 150): void {
  const seeds = fixtureInputs(fixturesDir).flatMap((f) => f.lines).filter((l) => l.length < 20_000);
  const accounted = (line: string, r: RunResult) => r.events.length + r.rejections.length > 0 || (parser.isHeader?.(line) ?? false) || line.trim().length === 0;

  it("has a name, a description and a detect() in 0..1", () => {
    expect(parser.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(parser.description.length).toBeGreaterThan(10);
    for (const s of [...seeds.slice(0, 20), "", "garbage", "{}", "A".repeat(100_000)]) {
      const v = parser.detect(s);
      expect(Number.isFinite(v) && v >= 0 && v <= 1).toBe(true);
    }
  });

  it("recognizes its own fixtures", () => {
    if (seeds.length === 0) return;
    const scores = seeds.slice(0, 50).map((s) => parser.detect(s));
    expect(Math.max(...scores)).toBeGreaterThanOrEqual(0.5);
  });

  it("turns its fixtures into valid events", () => {
    for (const f of fixtureInputs(fixturesDir)) {
      const r = runParser(parser, f.lines, { source: f.file, path: f.file });
      expect(checkOutput(r), f.file).toEqual([]);
      expect(r.events.length, f.file).toBeGreaterThan(0);
    }
  });

  it("never throws on random text, and answers every record with an event or a rejection", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 300 }), fc.json(), fc.constantFrom(...(seeds.length ? seeds : ["x"]))), (line) => {
        const r = runParser(parser, [line]);
        expect(checkOutput(r)).toEqual([]);
        expect(accounted(line, r)).toBe(true);
      }),
      { numRuns: runs },
    );
  });

  it("never throws on mutated and truncated fixtures", () => {
    fc.assert(
      fc.property(fc.array(mutations(seeds), { minLength: 1, maxLength: 6 }), (lines) => {
        const r = runParser(parser, lines);
        expect(checkOutput(r)).toEqual([]);
      }),
      { numRuns: runs },
    );
    for (const s of seeds.slice(0, 10)) {
      for (let cut = 0; cut < s.length; cut += Math.max(1, Math.floor(s.length / 40))) {
        const line = s.slice(0, cut);
        const r = runParser(parser, [line]);
        expect(checkOutput(r)).toEqual([]);
        expect(accounted(line, r), `truncated at ${cut}: ${JSON.stringify(line.slice(0, 80))}`).toBe(true);
      }
    }
  });

  it("survives huge lines, binary and hostile JSON without polluting prototypes", () => {
    for (const line of [...hugeInputs(seeds), ...HOSTILE_JSON]) {
      const r = runParser(parser, [line]);
      expect(checkOutput(r)).toEqual([]);
      expect(accounted(line, r), JSON.stringify(line.slice(0, 80))).toBe(true);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("gives the same events for the same input", () => {
    if (seeds.length === 0) return;
    const a = runParser(parser, seeds, { source: "x" });
    const b = runParser(parser, seeds, { source: "x" });
    expect(b.events.map((e) => e.event.id)).toEqual(a.events.map((e) => e.event.id));
    expect(JSON.stringify(b.events)).toEqual(JSON.stringify(a.events));
  });
}
