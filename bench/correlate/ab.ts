// bench/correlate/ab.ts: a paired A/B of the correlation engine, this tree against another checkout of
// the project (a git worktree), on a host whose speed moves ±20% within minutes. Both engines run in one
// process and see the same match batches, one after the other, alternating which goes first, and the CPU
// time of each one's loop is summed separately: whatever slows the host slows both within milliseconds,
// so their ratio is steady where separate runs minutes apart are not. Compare revisions with it; quote
// throughput from run.ts (one engine alone: here each engine's state competes with the other's for
// the caches, so both rates are lower). Prints one JSON object per repetition, then a summary.
// Run: node --expose-gc --import tsx bench/correlate/ab.ts --base /tmp/base-worktree [--type temporal]
//        [--groups 10000] [--matches 1000000] [--reps 3]

import path from "node:path";
import { CASES, MatchSource, caseYaml } from "./source.ts";
import type { Match } from "../../correlate/correlation/types.ts";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name: string, def: number): number => {
  const v = opt(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
};
const baseDir = opt("base");
if (!baseDir) {
  process.stderr.write("usage: ab.ts --base <checkout of the revision to compare against> [--type T] [--groups N] [--matches N] [--reps N]\n");
  process.exit(2);
}
const TYPE = opt("type") ?? "temporal";
const body = CASES[TYPE];
if (!body) throw new Error(`--type must be one of ${Object.keys(CASES).join(", ")}, got ${TYPE}`);
const N = num("matches", 1_000_000);
const GROUPS = num("groups", 10_000);
const REPS = num("reps", 3);
const CHUNK = 2_000;
const gc = (globalThis as { gc?: () => void }).gc;

interface EngineModule {
  CorrelationEngine: new (plan: unknown, sink: { hit: () => void }, opts: { allowedLatenessMs: number; budget: unknown }) => { onMatch(m: Match): void };
  GroupBudget: new (max: number) => unknown;
}
interface TestingModule {
  planFromYaml(text: string): unknown;
}

async function load(root: string): Promise<{ engine: EngineModule; plan: unknown }> {
  const dir = path.resolve(root, "correlate/correlation");
  const engine = (await import(path.join(dir, "engine.ts"))) as EngineModule;
  const testing = (await import(path.join(dir, "testing.ts"))) as TestingModule;
  return { engine, plan: testing.planFromYaml(caseYaml(body)) };
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const here = path.resolve(import.meta.dirname, "../..");
const A = await load(baseDir);
const B = await load(here);
const { planFromYaml } = (await import("../../correlate/correlation/testing.ts")) as TestingModule;
const srcPlan = planFromYaml(caseYaml(body)) as ConstructorParameters<typeof MatchSource>[0];
const ratios: number[] = [];
for (let rep = 0; rep < REPS; rep++) {
  gc?.();
  const src = new MatchSource(srcPlan, GROUPS, 42);
  let hitsA = 0;
  let hitsB = 0;
  const ea = new A.engine.CorrelationEngine(A.plan, { hit: () => hitsA++ }, { allowedLatenessMs: 10_000, budget: new A.engine.GroupBudget(1_000_000) });
  const eb = new B.engine.CorrelationEngine(B.plan, { hit: () => hitsB++ }, { allowedLatenessMs: 10_000, budget: new B.engine.GroupBudget(1_000_000) });
  let msA = 0;
  let msB = 0;
  for (let done = 0, k = 0; done < N; done += CHUNK, k++) {
    const batch = src.chunk(Math.min(CHUNK, N - done));
    for (let turn = 0; turn < 2; turn++) {
      const useA = (turn === 0) === ((k & 1) === 0);
      const e = useA ? ea : eb;
      const t0 = cpuMs();
      for (let i = 0; i < batch.length; i++) e.onMatch(batch[i]);
      const ms = cpuMs() - t0;
      if (useA) msA += ms;
      else msB += ms;
    }
  }
  // the same input must give the same hits, or the comparison is between different work
  if (hitsA !== hitsB) throw new Error(`the engines disagree: ${hitsA} hits (base) against ${hitsB} (this tree)`);
  ratios.push(msA / msB);
  process.stdout.write(JSON.stringify({ rep, type: TYPE, users: GROUPS, base_matches_per_s: Math.round(N / (msA / 1000)), this_matches_per_s: Math.round(N / (msB / 1000)), speedup: Number((msA / msB).toFixed(3)), hits: hitsB }) + "\n");
}
const sorted = [...ratios].sort((x, y) => x - y);
process.stdout.write(JSON.stringify({ bench: "correlate-ab", base: path.resolve(baseDir), type: TYPE, users: GROUPS, matches: N, speedup_median: Number(sorted[sorted.length >> 1].toFixed(3)), speedups: ratios.map((r) => Number(r.toFixed(3))) }) + "\n");
