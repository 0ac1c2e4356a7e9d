// Writes rules/anomaly/anomaly-rule.schema.json from the format in rule.ts (a test fails when it drifts).
// Run: npx tsx correlate/baselines/write-schema.ts
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { anomalyJsonSchema } from "./rule.ts";

const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../rules/anomaly/anomaly-rule.schema.json");
fs.writeFileSync(out, JSON.stringify(anomalyJsonSchema(), null, 2) + "\n");
process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
