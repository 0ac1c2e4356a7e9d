// Batches ingest refused for good (HTTP 400, or a single record too large for it) are kept here,
// encrypted like the buffer, with the reason beside them, and counted: nothing is silently dropped.

import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../../platform/telemetry/log.ts";
import { writeFileAtomic } from "./durable.ts";
import { encodeFrame } from "./queue.ts";

/** Bound on kept files; past it, new refusals are counted and logged but not written. */
export const MAX_DEAD_LETTER_FILES = 10_000;

export class DeadLetter {
  count = 0;
  lines = 0;
  private files = -1;

  constructor(
    private readonly dir: string,
    private readonly key: Buffer | null,
    private readonly log: Logger,
  ) {}

  /** Keeps one refused batch (compressed NDJSON) with the reason ingest gave. */
  async keep(id: string, body: Buffer, encoding: string, lines: number, reason: { code: string; message: string; status?: number }): Promise<void> {
    this.count++;
    this.lines += lines;
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (this.files < 0) this.files = (await fs.readdir(this.dir)).filter((n) => n.endsWith(".json")).length;
    if (this.files >= MAX_DEAD_LETTER_FILES) {
      this.log.error({ id, lines, ...reason }, "dead-letter folder is full; the refused batch is counted but not kept");
      return;
    }
    const base = path.join(this.dir, `${Date.now()}-${id}`);
    const meta = { batch_id: id, lines, encoding, encrypted: this.key !== null, at: new Date().toISOString(), ...reason };
    // Encrypted when a key is configured, so refused log lines are no more exposed than buffered ones.
    const data = this.key ? encodeFrame(this.key, 0, 0, id, body, lines, Date.now()) : body;
    await writeFileAtomic(base + ".batch", data);
    await writeFileAtomic(base + ".json", JSON.stringify(meta) + "\n");
    this.files++;
    this.log.error({ id, lines, file: base + ".batch", ...reason }, "ingest refused a batch for good; kept it in the dead-letter folder");
  }
}
