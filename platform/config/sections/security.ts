// Config of Sigil's own security: agent tokens, batch replay protection, rate limits.
import { z } from "zod";

export const securitySchema = z
  .strictObject({
    tokens: z
      .strictObject({
        /** Events per second each agent token may send (token bucket); 0 = unlimited. */
        rate_limit_eps: z.number().min(0).default(50_000),
        /** Batches older or newer than this (by their timestamp) are rejected as replays. */
        replay_window_ms: z.number().int().positive().default(300_000),
        /** How often ingest re-reads the token list, bounding how long a revoked token still works. */
        refresh_ms: z.number().int().positive().default(2_000),
      })
      .prefault({}),
  })
  .prefault({});
export type SecurityConfig = z.infer<typeof securitySchema>;
