// The HTTP receiver's shortcuts against the general path, on every sample file in ../shared/data/logs
// (its first records): each line as the agent sends it is read by the tail cache exactly as JSON.parse
// reads it, and each event the samples normalize to, serialized with the agent spliced in as its last
// member, is the bytes of JSON.stringify of the event with that agent (so it parses to the same object).

import fs from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import type { EcsEvent } from "../../schema/ecs.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import { SHARED_DATA_MISSING, sampleInputs, sharedDataDir } from "../../test/support/shared-data.ts";
import { RecordEncoder } from "../agent/batch.ts";
import { readRecords } from "../input.ts";
import { Normalizer } from "../normalize.ts";
import { defaultParseContext } from "../parsers/types.ts";
import { Slab } from "../publisher.ts";
import { TailCache, agentFields } from "./ndjson.ts";

const data = sharedDataDir();
/** Records read from each sample file. */
const PER_FILE = 400;

const general = (line: string) => {
  try {
    const v = safeJsonParse(line);
    return agentFields(v !== null && typeof v === "object" && !Array.isArray(v) ? v : undefined);
  } catch {
    return undefined;
  }
};

describe.skipIf(!data)(`HTTP receiver shortcuts on every sample${data ? "" : ` (${SHARED_DATA_MISSING})`}`, () => {
  it("reads every sample record as the agent sends it the same as JSON.parse, and splices the agent into every event as JSON.stringify would write it", async () => {
    const files = sampleInputs(path.join(data!, "logs"));
    expect(files.length).toBeGreaterThan(13);
    const agent = { id: "0a1b2c3d", type: "sigil-agent", version: "0.1.0", name: "tök \u2028 \"q\" \\ \ud800" };
    const member = Buffer.from(`"agent":${JSON.stringify(agent)}}`);
    const slab = new Slab(1 << 16);
    let records = 0;
    let hits = 0;
    let events = 0;
    const mismatches: string[] = [];
    for (const file of files) {
      const enc = new RecordEncoder({ hostName: "web-1", agentId: agent.id, agentVersion: agent.version, service: null, tags: [], format: null }, "file", "5eed", file);
      enc.setCreated("2026-11-21T10:00:00.000Z");
      const tc = new TailCache();
      const n = new Normalizer({ format: "auto", pathHint: file, ctx: defaultParseContext({ now: () => new Date("2024-11-01T00:00:00Z") }) });
      const out: EcsEvent[] = [];
      const emit = { event: (e: EcsEvent) => void out.push(e), reject: () => {} };
      let taken = 0;
      for await (const batch of readRecords(fs.createReadStream(file), { source: file, path: file })) {
        // the first records of each file: every file and format, in a second or two
        if (taken >= PER_FILE) break;
        for (const rec of batch.records.slice(0, PER_FILE - taken)) {
          const line = enc.encode(rec.data, rec.offset ?? 0, false);
          if (!isDeepStrictEqual(tc.read(line), general(line))) mismatches.push(line.slice(0, 200));
          n.push(rec, emit);
        }
        taken += Math.min(batch.records.length, PER_FILE - taken);
      }
      records += taken;
      n.flush(emit);
      hits += tc.hits;
      for (const e of out) {
        if (e.agent !== undefined) continue;
        const text = JSON.stringify(e);
        const bytes = slab.putWithMember(text, member);
        if (bytes.toString("utf8") !== JSON.stringify({ ...e, agent })) mismatches.push(text.slice(0, 200));
        events++;
      }
    }
    expect(mismatches).toEqual([]);
    expect(records).toBeGreaterThan(3_000);
    // most records of a stream are read from the skeleton (those with escapes in the message are parsed)
    expect(hits).toBeGreaterThan(records / 2);
    expect(events).toBeGreaterThan(1_500);
  });
});
