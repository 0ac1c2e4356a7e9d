// Locates the shared real-world test data (SigmaHQ corpus, regression cases, log samples).
// Tests that need it skip with a clear reason when it is absent; they never pass silently.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The shared data folder, or null when it is not present. */
export function sharedDataDir(): string | null {
  const dir = process.env.SIGIL_SHARED_DATA ?? path.resolve(ROOT, "../shared/data");
  return fs.existsSync(path.join(dir, "sigma-regression", "cases.jsonl")) ? dir : null;
}

/** Reason string for `describe.skipIf(!sharedDataDir())` and friends. */
export const SHARED_DATA_MISSING = `shared data not found (set SIGIL_SHARED_DATA or place it at ../shared/data relative to ${ROOT})`;

export const PROJECT_ROOT = ROOT;

/**
 * The raw sample inputs under `dir` (a folder of the shared data, such as `<sharedDataDir()>/logs` or one
 * sample folder in it), walked recursively: every .log and .json file that is not an expected output,
 * as sorted absolute paths. Callers skip with `SHARED_DATA_MISSING` when `sharedDataDir()` is null.
 */
export function sampleInputs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(log|json)$/.test(e.name) && !/expected\.json$/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}
