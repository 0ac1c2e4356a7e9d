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
