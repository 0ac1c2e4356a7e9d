#!/usr/bin/env node
// Lean entry point of the agent for service hosts: `sigil-agent --config agent.yml`, `sigil-agent status`.
// The same TypeScript as `sigil agent`, bundled by esbuild at start-up (in a short-lived child
// process, so esbuild's own memory is not kept) and run as plain JavaScript: no tsx loader thread,
// about 40 MB less resident memory on every host. Bundles are cached by content hash under
// node_modules/.cache/sigil; a read-only install falls back to running through tsx.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const entry = path.join(root, "cli", "commands", "agent.ts");

const BUILD = `
import { build } from "esbuild";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
const [entry, dir] = process.argv.slice(1);
const out = await build({ entryPoints: [entry], bundle: true, platform: "node", format: "esm", target: "node20", write: false, packages: "external", logLevel: "error", legalComments: "none" });
const code = out.outputFiles[0].contents;
const file = path.join(dir, "agent-" + createHash("sha256").update(code).digest("hex").slice(0, 16) + ".mjs");
if (!fs.existsSync(file)) {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = file + "." + process.pid + ".tmp";
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, file);
}
process.stdout.write(file);
`;

async function load() {
  try {
    const file = execFileSync(process.execPath, ["--input-type=module", "-e", BUILD, entry, path.join(root, "node_modules", ".cache", "sigil")], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    return await import(pathToFileURL(file.trim()).href);
  } catch {
    // Read-only install or no esbuild: run through tsx instead (same code, more memory).
    const { register } = await import("tsx/esm/api");
    register();
    return import(pathToFileURL(entry).href);
  }
}

const mod = await load();
process.exitCode = await mod.standalone(process.argv.slice(2));
