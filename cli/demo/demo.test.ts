// The demo's promise: its intrusion forms exactly one chain, from the first step to the last, with no
// benign signal in it, and benign traffic alone forms no chain. Checked through the real `sigil replay`
// pipeline (parsers, the project's rule pack, correlation, chain builder) over the generated files.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config/load.ts";
import { PROJECT_RULE_DIRS } from "../../correlate/engine.ts";
import { runReplay } from "../replay/run.ts";
import { DEMO_FACTS, DEMO_STREAMS, INTRUSION_STEPS, demoFiles, generateDemo, type DemoRecord } from "./generate.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-demo-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const quiet = new Writable({ write: (_c, _e, cb) => cb() });

function write(dir: string, records: DemoRecord[]): { files: string[]; stepOf: Map<string, string> } {
  fs.mkdirSync(dir, { recursive: true });
  const stepOf = new Map<string, string>();
  const lineNo = new Map<string, number>();
  for (const r of records) {
    const file = path.join(dir, DEMO_STREAMS[r.stream].file);
    const n = (lineNo.get(file) ?? 0) + 1;
    lineNo.set(file, n);
    if (r.step) stepOf.set(`${file}:${n}`, r.step);
  }
  const files: string[] = [];
  for (const [stream, text] of demoFiles(records)) {
    const f = path.join(dir, DEMO_STREAMS[stream].file);
    fs.writeFileSync(f, text);
    files.push(f);
  }
  return { files, stepOf };
}

const replay = (files: string[]) => runReplay({ inputs: files, rules: PROJECT_RULE_DIRS, config: loadConfig({ env: {} }), cwd: tmp, stderr: quiet, progress: false });

describe("sigil demo through sigil replay", () => {
  it("forms exactly one chain from the intrusion's first step to its last, with no benign signal", async () => {
    const records = generateDemo({ seed: 11, minutes: 40, requestsPerMinute: 120 });
    const { files, stepOf } = write(path.join(tmp, "full"), records);
    const { chains, summary } = await replay(files);
    expect(summary.records_rejected).toBe(0);
    expect(chains).toHaveLength(1);
    const chain = chains[0];
    // every step of the chain points at input lines of the intrusion, never at benign lines
    const stepsSeen: string[] = [];
    for (const s of chain.steps) {
      const steps = new Set(s.events.map((e) => stepOf.get(`${path.resolve(tmp, String(e.file))}:${e.line}`)));
      expect(steps.has(undefined), `${s.rule.title} points at a benign line`).toBe(false);
      for (const st of steps) if (st && !stepsSeen.includes(st)) stepsSeen.push(st);
    }
    // every intrusion step left evidence in the chain, in the order it happened
    expect(stepsSeen).toEqual(INTRUSION_STEPS.map((s) => s.id));
    expect(chain.entities.ips).toContain(DEMO_FACTS.attackerIp);
    expect(chain.entities.hosts).toEqual(expect.arrayContaining(["web-1", "api-1", "db-1"]));
    expect(chain.entities.services).toEqual(expect.arrayContaining(["storefront", "orders-api"]));
    expect(chain.tactics[0]).toBe("reconnaissance");
    expect(chain.tactics).toContain("exfiltration");
    expect(chain.score).toBeGreaterThanOrEqual(90);
    for (const s of chain.steps.slice(1)) expect(s.why.join(" ")).toMatch(/shared with/);
  });

  it("forms no chain from benign traffic alone", async () => {
    const { files } = write(path.join(tmp, "benign"), generateDemo({ seed: 11, minutes: 40, requestsPerMinute: 120, intrusion: false }));
    const { chains, summary } = await replay(files);
    expect(summary.events).toBeGreaterThan(10_000);
    expect(chains).toEqual([]);
  });
});
