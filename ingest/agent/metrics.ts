// The agent's Prometheus metrics, registered once in the shared registry (platform/telemetry/metrics.ts)
// and updated per chunk or per batch, never per line. Label values are bounded: input index, outcome.

import { metric, prom } from "../../platform/telemetry/metrics.ts";

export function agentMetrics() {
  const c = (name: string, help: string, labelNames: string[] = []) => metric(name, () => new prom.Counter({ name, help, labelNames, registers: [] }));
  const g = (name: string, help: string, labelNames: string[] = []) => metric(name, () => new prom.Gauge({ name, help, labelNames, registers: [] }));
  return {
    bytesRead: c("sigil_agent_read_bytes_total", "Bytes read from inputs", ["input"]),
    linesRead: c("sigil_agent_read_lines_total", "Records (lines or multiline events) read from inputs", ["input"]),
    linesTruncated: c("sigil_agent_truncated_lines_total", "Lines cut at max_line_bytes (kept and flagged)", ["input"]),
    linesShipped: c("sigil_agent_shipped_lines_total", "Records acknowledged by ingest"),
    batchesSent: c("sigil_agent_batches_total", "Batch send attempts by outcome", ["outcome"]),
    bytesSent: c("sigil_agent_sent_bytes_total", "Compressed bytes acknowledged by ingest"),
    buffered: c("sigil_agent_buffered_lines_total", "Records written to the disk buffer"),
    bufferDropped: c("sigil_agent_buffer_dropped_lines_total", "Records dropped from a full buffer (policy drop_oldest)"),
    deadLettered: c("sigil_agent_dead_letter_lines_total", "Records ingest refused for good, kept in the local dead-letter folder"),
    bufferBytes: g("sigil_agent_buffer_bytes", "Bytes in the disk buffer"),
    bufferBatches: g("sigil_agent_buffer_batches", "Batches waiting in the disk buffer"),
    bufferLines: g("sigil_agent_buffer_lines", "Records waiting in the disk buffer"),
    linkUp: g("sigil_agent_link_up", "1 while ingest accepts batches"),
    breakerState: g("sigil_agent_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open"),
    filesOpen: g("sigil_agent_files_open", "Files being read"),
    lagBytes: g("sigil_agent_lag_bytes", "Bytes written to open files but not yet acknowledged or buffered"),
    sendSeconds: metric("sigil_agent_send_duration_seconds", () => new prom.Histogram({ name: "sigil_agent_send_duration_seconds", help: "Time to send one batch", buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [] })),
  };
}

export type AgentMetrics = ReturnType<typeof agentMetrics>;
