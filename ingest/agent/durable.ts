// Crash-safe small-file writes: write a temp file, fsync it, rename it over the target, fsync the
// folder. After kill -9 or power loss the target holds either the old or the new content, never a mix.

import fs from "node:fs/promises";
import path from "node:path";

let counter = 0;

/** Writes `data` to `file` atomically; with `sync` false it skips the fsyncs (status files). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: { sync?: boolean; mode?: number } = {}): Promise<void> {
  const sync = opts.sync ?? true;
  const tmp = `${file}.tmp-${process.pid}-${++counter}`;
  const fh = await fs.open(tmp, "w", opts.mode ?? 0o600);
  try {
    await fh.writeFile(data);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  if (sync) await syncDir(path.dirname(file));
}

/** fsyncs a folder so a rename or a new file in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, "r");
    await fh.sync();
  } catch (err) {
    // Some file systems refuse fsync on a folder (EINVAL/EISDIR); the rename itself is still atomic.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EISDIR" && code !== "EPERM") throw err;
  } finally {
    await fh?.close();
  }
}

/** Removes temp files a crash left behind next to `file`. */
export async function removeStaleTemps(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = path.basename(file) + ".tmp-";
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  await Promise.all(names.filter((n) => n.startsWith(prefix)).map((n) => fs.rm(path.join(dir, n), { force: true })));
}
