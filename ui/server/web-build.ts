// Builds the web app (Vite, production mode) when its output is missing or older than its sources, so
// `sigil console` and `sigil start` always serve what the source says. The check hashes the sources; a
// lock keeps concurrent starts from building twice; the build runs in a child process.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SigilError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/telemetry/log.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PROJECT_ROOT = path.resolve(HERE, "../..");
export const WEB_ROOT = path.join(PROJECT_ROOT, "ui", "web");
export const WEB_DIST = path.join(WEB_ROOT, "dist");
const STAMP = ".source-hash";

function walk(dir: string, out: string[]): void {
  if (!fs.existsSync(dir)) return;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    if (ent.name === "node_modules" || ent.name === "dist" || ent.name.startsWith(".")) continue;
    const full = path.join(dir, ent.name);
    if (ent.isDirectory()) walk(full, out);
    else if (!ent.name.endsWith(".test.ts")) out.push(full);
  }
}

/** A hash over everything the build reads: the app, the shared ui code, the schema types it imports, and the locked dependency versions. */
export function sourceHash(root = PROJECT_ROOT): string {
  const files: string[] = [];
  walk(path.join(root, "ui", "web"), files);
  walk(path.join(root, "ui", "shared"), files);
  files.push(path.join(root, "package-lock.json"));
  files.sort();
  const h = createHash("sha256");
  for (const f of files) {
    if (!fs.existsSync(f)) continue;
    h.update(path.relative(root, f));
    h.update("\0");
    h.update(fs.readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex");
}

export function buildIsFresh(dist = WEB_DIST, hash = sourceHash()): boolean {
  try {
    return fs.readFileSync(path.join(dist, STAMP), "utf8").trim() === hash && fs.existsSync(path.join(dist, "index.html"));
  } catch {
    return false;
  }
}

function runVite(outDir: string, log?: Logger): Promise<void> {
  const vite = path.join(PROJECT_ROOT, "node_modules", "vite", "bin", "vite.js");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [vite, "build", "--logLevel", "warn", "--outDir", outDir, "--emptyOutDir"], { cwd: WEB_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-8000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) {
        if (output.trim()) log?.warn({ output: output.trim() }, "web app build warnings");
        resolve();
      } else reject(new SigilError("web_build_failed", `building the web app failed (exit ${code}):\n${output.trim()}`, { hint: "run `npm run build:web` to see the full output" }));
    });
  });
}

/**
 * Makes sure ui/web/dist holds a build of the current sources; builds when not. Returns the dist folder.
 * Concurrent callers wait for one build (a lock directory, stale after 5 minutes).
 */
export async function ensureWebBuild(opts: { log?: Logger; force?: boolean } = {}): Promise<string> {
  const hash = sourceHash();
  if (!opts.force && buildIsFresh(WEB_DIST, hash)) return WEB_DIST;
  if (!fs.existsSync(path.join(PROJECT_ROOT, "node_modules", "vite", "bin", "vite.js"))) {
    // an installation without dev dependencies (npm ci --omit=dev) serves the build it shipped with
    if (!opts.force && fs.existsSync(path.join(WEB_DIST, "index.html"))) {
      opts.log?.warn({ dir: WEB_DIST }, "the web app's sources changed but Vite is not installed; serving the existing build");
      return WEB_DIST;
    }
    throw new SigilError("web_build_unavailable", "the web app is not built and Vite (a dev dependency) is not installed to build it", {
      hint: "run `npm run build:web` where dev dependencies are installed and ship ui/web/dist, or set console.web.dir",
    });
  }
  // scratch space under ui/web/.sigil (git-ignored, same file system as dist so the final rename is atomic)
  const scratch = path.join(WEB_ROOT, ".sigil");
  fs.mkdirSync(scratch, { recursive: true });
  const lock = path.join(scratch, "build-lock");
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 5 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        // the other builder just finished
      }
      if (!opts.force && buildIsFresh(WEB_DIST, hash)) return WEB_DIST;
      if (Date.now() > deadline) throw new SigilError("web_build_failed", "timed out waiting for another build of the web app", { hint: `remove ${lock} if no build is running` });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    if (!opts.force && buildIsFresh(WEB_DIST, hash)) return WEB_DIST;
    const started = Date.now();
    opts.log?.info({}, "building the web app");
    const tmp = path.join(scratch, `dist-${process.pid}`);
    await runVite(tmp, opts.log);
    fs.writeFileSync(path.join(tmp, STAMP), hash + "\n");
    fs.rmSync(WEB_DIST, { recursive: true, force: true });
    fs.renameSync(tmp, WEB_DIST);
    opts.log?.info({ ms: Date.now() - started }, "built the web app");
    return WEB_DIST;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
