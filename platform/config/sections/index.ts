// Config of the events indexer (sigil.events → the store's events index): where it runs, and how the
// `sigil index` role yields the CPU to detection and alerts on a shared machine.
import { z } from "zod";

export const indexSchema = z
  .strictObject({
    /**
     * Run the events indexer inside every correlate process (the one-process and small setups). Set it to
     * false where `sigil index` processes store the events, so correlate's CPU is detection's alone.
     */
    in_correlate: z.boolean().default(true),
    /** OS scheduling priority `sigil index` lowers itself to (nice, 0 = unchanged, 19 = lowest): detection and alerts get the CPU first; the index catches up when there is CPU to spare. */
    nice: z.number().int().min(0).max(19).default(10),
    /** Most events per store write (one bus batch of one partition is split to this size). */
    max_batch_size: z.number().int().min(1).max(50_000).default(2_000),
  })
  .prefault({});
export type IndexConfig = z.infer<typeof indexSchema>;
