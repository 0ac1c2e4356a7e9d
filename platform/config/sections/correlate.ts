// Config of the correlate role: rule directories, field-mapping pipelines, state bounds, chains.
import { z } from "zod";

export const correlateSchema = z
  .strictObject({
    /** Directories of Sigma detection, correlation and anomaly rules. */
    rules: z.array(z.string()).default(["rules/sigma", "rules/correlation", "rules/anomaly"]),
    /** Field-mapping pipelines by name (rules/pipelines/<name>.yml) or path. */
    pipelines: z.array(z.string()).default([]),
    /** Values for Sigma `expand` placeholders, e.g. {Administrators: ["CORP\\\\admin*"]}. */
    placeholders: z.record(z.string(), z.array(z.string())).default({}),
    /** Watch rule directories and swap in a new plan when they change. */
    watch_rules: z.boolean().default(true),
    /** Event-time lateness accepted by correlation windows; later events are counted as late. */
    allowed_lateness_ms: z.number().int().min(0).default(60_000),
    /** Cap on live correlation groups; the stalest are evicted first. */
    max_groups: z.number().int().positive().default(1_000_000),
    /** Correlation and baseline state: a full snapshot at least this often; deltas in between (every batch). */
    checkpoint_interval_ms: z.number().int().positive().default(5_000),
    /** Sigma correlation rules (correlate/correlation/, docs/decisions/0015). */
    correlation: z
      .strictObject({
        /** Events kept per group window; beyond it the oldest are dropped (and counted). */
        max_window_events: z.number().int().positive().default(10_000),
        /** Event references carried by one correlation signal (first quarter and the rest from the end). */
        max_event_refs: z.number().int().positive().default(1_000),
        /** Matches stamped further than this ahead of the wall clock are rejected as bad input (0: no check). */
        max_future_ms: z.number().int().min(0).default(86_400_000),
        /** Close windows of partitions that receive nothing for this long, by the wall clock (0: never). */
        idle_advance_ms: z.number().int().min(0).default(30_000),
      })
      .prefault({}),
    /** Anomaly baselines (rules/anomaly/, correlate/baselines/). */
    baselines: z
      .strictObject({
        /** Cap on entities tracked per anomaly rule and process; the stalest are evicted first. */
        max_entities: z.number().int().positive().default(200_000),
        /** Distinct values counted per entity and interval (distinct_count); beyond it the count is a lower bound. */
        max_distinct_values: z.number().int().positive().default(10_000),
        /** Values remembered per entity for first_seen; the least recently seen are forgotten first. */
        max_seen_values: z.number().int().positive().default(1_000),
      })
      .prefault({}),
    chains: z
      .strictObject({
        /** Signals that share an entity within this window join one chain. */
        window_ms: z.number().int().positive().default(4 * 3600_000),
        /** A chain becomes an alert at or above this risk score. */
        alert_threshold: z.number().min(0).default(50),
        /** Same rule and entity within this window: counted into the existing alert. */
        suppress_window_ms: z.number().int().positive().default(3600_000),
        max_chains: z.number().int().positive().default(100_000),
        /** Combined weight (noisy-OR) of shared entities a signal needs to join a chain (docs/chains.md). */
        link_threshold: z.number().gt(0).max(1).default(0.5),
        /** Distinct steps kept per chain; later signals are counted into it. */
        max_steps_per_chain: z.number().int().positive().default(500),
        /** Build chains in this instance (distributed mode: enable on exactly one correlate instance). */
        enabled: z.boolean().default(true),
      })
      .prefault({}),
  })
  .prefault({});
export type CorrelateConfig = z.infer<typeof correlateSchema>;
