// Parity with Elastic's shippers on the core field set, per format (>= 98% agreement), over the real
// raw → expected pairs in ../shared/data/logs. Skips with the reason when the shared data is absent.
import { describe, expect, it } from "vitest";
import { SHARED_DATA_MISSING, sharedDataDir } from "../test/support/shared-data.ts";
import { parityCases, runParity, type ParityResult } from "./parity.ts";

const data = sharedDataDir();

describe.skipIf(!data)(`parity with Elastic's expected outputs${data ? "" : ` (${SHARED_DATA_MISSING})`}`, () => {
  const results: ParityResult[] = [];

  it("agrees on at least 98% of the core fields, format by format", async () => {
    for (const c of parityCases(data!)) results.push(await runParity(c));
    const byFormat = new Map<string, { compared: number; agreed: number; files: number }>();
    for (const r of results) {
      const f = byFormat.get(r.format) ?? { compared: 0, agreed: 0, files: 0 };
      f.compared += r.compared;
      f.agreed += r.agreed;
      f.files++;
      byFormat.set(r.format, f);
    }
    const table = [...byFormat].map(([format, f]) => ({ format, files: f.files, compared: f.compared, agreement: Math.round((f.agreed / f.compared) * 10000) / 100 }));
    console.log("parity per format (core fields):\n" + table.map((t) => `  ${t.format.padEnd(16)} ${String(t.agreement).padStart(6)}%  (${t.compared} fields, ${t.files} files)`).join("\n"));
    const misses = results.flatMap((r) => r.mismatches.map((m) => `${r.file.split("/logs/")[1]}:${m.line} ${m.field}: expected ${JSON.stringify(m.expected)} got ${JSON.stringify(m.actual)}`));
    if (misses.length) console.log("disagreements:\n  " + misses.slice(0, 80).join("\n  "));
    for (const t of table) {
      expect(t.compared, t.format).toBeGreaterThan(0);
      expect(t.agreement, `${t.format} agreement`).toBeGreaterThanOrEqual(98);
    }
  });
});
