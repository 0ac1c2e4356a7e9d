// Golden fixtures for parser tests: fixtures/<case>.<ext> is raw input, fixtures/<case>.expected.json
// the normalized events (clock pinned to 2024-11-01T00:00:00Z, time zone UTC unless the case name says
// otherwise). `SIGIL_UPDATE_FIXTURES=1 npx vitest run <parser test>` rewrites the expected files; review
// the diff before committing it.

import fs from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { Parser } from "./types.ts";
import { fixtureInputs, runParser, checkOutput, type RunResult } from "./conformance.ts";

/** Time zone a fixture runs in: "<case>.tz-Europe~Berlin.log" → Europe/Berlin, "<case>.tz-+0530.log" → +05:30. */
function zoneOf(file: string): string {
  const m = /\.tz-([^.]+)\./.exec(file);
  if (!m) return "UTC";
  const v = m[1];
  return /^[+-]\d{4}$/.test(v) ? `${v.slice(0, 3)}:${v.slice(3)}` : v.replace(/~/g, "/");
}

/** Runs every fixture of a parser and compares it with its expected events. */
export function defineFixtureTests(parser: Parser, fixturesDir: string): void {
  for (const { file, lines } of fixtureInputs(fixturesDir)) {
    it(`normalizes fixtures/${file} as expected`, () => {
      const r = runParser(parser, lines, { source: file, path: file, timezone: zoneOf(file) });
      expect(checkOutput(r)).toEqual([]);
      const got = { events: r.events, rejected: r.rejections.map((j) => ({ line: j.record.line, code: j.code })) };
      const expectedFile = path.join(fixturesDir, file.replace(/\.[^.]+$/, "") + ".expected.json");
      if (process.env.SIGIL_UPDATE_FIXTURES === "1") fs.writeFileSync(expectedFile, JSON.stringify(got, null, 2) + "\n");
      expect(fs.existsSync(expectedFile), `${expectedFile} is missing; run with SIGIL_UPDATE_FIXTURES=1 and review it`).toBe(true);
      expect(JSON.parse(JSON.stringify(got))).toEqual(JSON.parse(fs.readFileSync(expectedFile, "utf8")));
    });
  }
}

/** Runs one fixture file and returns its events (for assertions on specific fields). */
export function fixtureEvents(parser: Parser, fixturesDir: string, file: string): RunResult & { byLine: Map<number, EcsEvent> } {
  const input = fixtureInputs(fixturesDir).find((f) => f.file === file);
  if (!input) throw new Error(`no fixture ${file} in ${fixturesDir}`);
  const r = runParser(parser, input.lines, { source: file, path: file, timezone: zoneOf(file) });
  const byLine = new Map<number, EcsEvent>();
  for (const e of r.events) {
    const off = e.log?.offset;
    if (typeof off === "number") {
      let acc = 0;
      for (let i = 0; i < input.lines.length; i++) {
        if (acc === off) byLine.set(i + 1, e);
        acc += Buffer.byteLength(input.lines[i]) + 1;
      }
    }
  }
  return { ...r, byLine };
}
