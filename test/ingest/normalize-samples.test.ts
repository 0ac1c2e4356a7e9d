// `sigil normalize` over every sample folder in ../shared/data/logs, as a real process: nothing
// crashes, every output line is a valid ECS event, and every line of every sample is accounted for:
// it is in the event.original of an event (multi-line records join several lines) or it was reported
// as rejected with its file, line and reason.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { validateEvent } from "../../schema/validate.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { opensJsonDocument } from "../../ingest/input.ts";
import { PROJECT_ROOT, SHARED_DATA_MISSING, sampleInputs, sharedDataDir } from "../support/shared-data.ts";

const data = sharedDataDir();
const BIN = path.join(PROJECT_ROOT, "bin", "sigil.js");

const folders = data ? fs.readdirSync(path.join(data, "logs"), { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== "LICENSES").map((d) => d.name) : [];

describe.skipIf(!data)(`sigil normalize over every sample folder${data ? "" : ` (${SHARED_DATA_MISSING})`}`, () => {
  it("finds the sample folders", () => {
    expect(folders.length).toBeGreaterThanOrEqual(13);
  });

  for (const folder of folders) {
    it(`normalizes or dead-letters every line of ${folder}`, () => {
      const files = sampleInputs(path.join(data!, "logs", folder));
      expect(files.length).toBeGreaterThan(0);
      const r = spawnSync(process.execPath, [BIN, "normalize", "--now", "2024-11-01T00:00:00Z", "--summary-json", ...files.flatMap((f) => ["--input", f])], { encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
      expect(r.stderr).not.toMatch(/internal error/);
      // 0, or 2 when a whole input was rejected (the OTLP metrics example); never 1 (a crash)
      expect([0, 2], r.stderr.slice(-2000)).toContain(r.status);
      const events = r.stdout.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as EcsEvent);
      for (const e of events) expect(validateEvent(e), JSON.stringify(e).slice(0, 300)).toEqual([]);
      const summary = JSON.parse(r.stderr.trim().split("\n").pop()!) as { records: number; normalized: number; rejected: number };
      expect(summary.normalized).toBe(events.length);

      const rejected = new Set<string>();
      for (const m of r.stderr.matchAll(/^(.+):(\d+): rejected ([a-z0-9_]+): /gm)) rejected.add(`${m[1]}:${m[2]}`);
      const originals = new Set<string>();
      const positions = new Set<string>();
      for (const e of events) {
        for (const l of (e.event.original ?? "").split("\n")) originals.add(l);
        const at = e.log as { file?: { path?: string }; offset?: number } | undefined;
        if (at?.file?.path !== undefined && at.offset !== undefined) positions.add(`${at.file.path}@${at.offset}`);
      }
      let lines = 0;
      for (const f of files) {
        const text = fs.readFileSync(f, "utf8");
        if (opensJsonDocument(text.trimStart().split("\n")[0] ?? "")) {
          // a whole-file JSON document: one record (or one per array element), each normalized or rejected
          const produced = events.filter((e) => (e.log?.file as { path?: string } | undefined)?.path === f).length;
          expect(produced > 0 || rejected.has(`${f}:1`), `${f}: neither events nor a rejection`).toBe(true);
          continue;
        }
        let offset = 0;
        text.split("\n").forEach((raw, i) => {
          const at = offset;
          offset += Buffer.byteLength(raw) + 1;
          const line = raw.replace(/\r$/, "");
          if (line.trim().length === 0) return;
          lines++;
          const ok = originals.has(line) || originals.has(line.replace(/^\ufeff/, "")) || positions.has(`${f}@${at}`) || rejected.has(`${f}:${i + 1}`);
          expect(ok, `${f}:${i + 1} was neither normalized nor rejected: ${line.slice(0, 120)}`).toBe(true);
        });
      }
      expect(summary.records).toBeGreaterThanOrEqual(Math.min(lines, 1));
    });
  }
});
