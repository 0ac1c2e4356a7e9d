// Metrics of the stateful stages (correlation, baselines), updated once per batch from the engines'
// counters. Label values are bounded: the stage name and a fixed set of reasons.

import { metric, prom } from "../../platform/telemetry/metrics.ts";

/** Counters of the events held in correlation windows, one per open partition engine (read at scrape time). */
const windowSources = new Set<() => number>();

/** Counts a partition engine's window entries in `sigil_stateful_window_entries` until the returned function is called. */
export function countWindowEntries(count: () => number): () => void {
  windowSources.add(count);
  return () => windowSources.delete(count);
}

export const statefulMetrics = {
  events: metric(
    "sigil_stateful_inputs_total",
    () => new prom.Counter({ name: "sigil_stateful_inputs_total", help: "Matches and observations fed to correlation and baseline rules", labelNames: ["stage"] }),
  ),
  outputs: metric(
    "sigil_stateful_signals_total",
    () => new prom.Counter({ name: "sigil_stateful_signals_total", help: "Correlation hits and anomalies produced", labelNames: ["stage"] }),
  ),
  dropped: metric(
    "sigil_stateful_dropped_total",
    () =>
      new prom.Counter({
        name: "sigil_stateful_dropped_total",
        help: "Inputs not added to state, by reason: late (behind the allowed lateness), suppressed (inside an already reported window), missing_field, bad_value",
        labelNames: ["stage", "reason"],
      }),
  ),
  evicted: metric(
    "sigil_stateful_evicted_total",
    () => new prom.Counter({ name: "sigil_stateful_evicted_total", help: "Groups or entities evicted (stalest first) because the configured cap was reached", labelNames: ["stage"] }),
  ),
  windowEntries: metric(
    "sigil_stateful_window_entries",
    () =>
      new prom.Gauge({
        name: "sigil_stateful_window_entries",
        help: "Events held in correlation windows (counted when scraped): grows with the rules' timespans until the longest has passed",
        labelNames: ["stage"],
        collect() {
          let n = 0;
          for (const count of windowSources) n += count();
          this.set({ stage: "correlation" }, n);
        },
      }),
  ),
  live: metric("sigil_stateful_live", () => new prom.Gauge({ name: "sigil_stateful_live", help: "Live correlation groups or baseline entities", labelNames: ["stage"] })),
  checkpointSeconds: metric(
    "sigil_stateful_checkpoint_seconds",
    () => new prom.Histogram({ name: "sigil_stateful_checkpoint_seconds", help: "Time to write one partition checkpoint", labelNames: ["kind"], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10] }),
  ),
  skipped: metric(
    "sigil_stateful_redelivered_skipped_total",
    () => new prom.Counter({ name: "sigil_stateful_redelivered_skipped_total", help: "Redelivered messages skipped because the restored checkpoint already covers them" }),
  ),
  duplicates: metric(
    "sigil_stateful_duplicate_copies_total",
    () => new prom.Counter({ name: "sigil_stateful_duplicate_copies_total", help: "Routing copies found a second time at another offset (a producer resend) and not counted again" }),
  ),
  idleHeld: metric(
    "sigil_stateful_idle_advance_held_total",
    () => new prom.Counter({ name: "sigil_stateful_idle_advance_held_total", help: "Idle ticks that did not advance partitions by the wall clock because the events consumer was behind or failing" }),
  ),
};

/** What a stage counted since it was last asked (reported per batch). */
export interface StageCounts {
  inputs: number;
  outputs: number;
  late: number;
  suppressed: number;
  missing_field: number;
  bad_value: number;
  evicted: number;
  live: number;
}

export function reportCounts(stage: string, c: StageCounts): void {
  if (c.inputs) statefulMetrics.events.inc({ stage }, c.inputs);
  if (c.outputs) statefulMetrics.outputs.inc({ stage }, c.outputs);
  for (const reason of ["late", "suppressed", "missing_field", "bad_value"] as const) if (c[reason]) statefulMetrics.dropped.inc({ stage, reason }, c[reason]);
  if (c.evicted) statefulMetrics.evicted.inc({ stage }, c.evicted);
  statefulMetrics.live.set({ stage }, c.live);
}
