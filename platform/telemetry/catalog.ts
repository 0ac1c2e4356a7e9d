// The catalog of Sigil's own metrics: every metric a role serves on /metrics, its type, its (bounded)
// labels, which role processes serve it, and which operator question it answers. docs/metrics.md
// explains each; tests check that the code registers nothing outside the catalog, that the doc covers
// it, and that a scrape of each running role shows its catalogued metrics.

export type MetricType = "counter" | "gauge" | "histogram";
export type Role = "ingest" | "correlate" | "console" | "agent";

export interface CatalogEntry {
  name: string;
  type: MetricType;
  labels: readonly string[];
  /** The role processes that serve it (`sigil start` serves the union). */
  roles: readonly Role[];
  /** The group it belongs to in docs/metrics.md and on the health page. */
  group: "throughput" | "dead letters" | "lag" | "rules" | "state" | "store" | "console" | "agent" | "process" | "bus";
  help: string;
}

const PIPELINE: Role[] = ["ingest", "correlate", "console"];
const ALL: Role[] = ["ingest", "correlate", "console", "agent"];

export const METRICS: readonly CatalogEntry[] = [
  // events in and out per topic
  { name: "sigil_bus_messages_produced_total", type: "counter", labels: ["bus", "topic"], roles: ["ingest", "correlate", "console"], group: "throughput", help: "Messages the bus acknowledged, per topic (events in)" },
  { name: "sigil_bus_produce_requests_total", type: "counter", labels: ["bus", "topic"], roles: ["ingest", "correlate", "console"], group: "throughput", help: "Produce requests the broker acknowledged, per topic (Kafka; concurrent sends to a topic share one)" },
  { name: "sigil_bus_messages_consumed_total", type: "counter", labels: ["bus", "topic"], roles: ["correlate", "console"], group: "throughput", help: "Messages handled and committed, per topic (events out)" },
  { name: "sigil_ingest_events_total", type: "counter", labels: ["receiver", "module"], roles: ["ingest"], group: "throughput", help: "Events published to sigil.events by receiver and dataset module" },
  { name: "sigil_ingest_requests_total", type: "counter", labels: ["receiver", "status"], roles: ["ingest"], group: "throughput", help: "HTTP and OTLP requests answered, by status" },
  { name: "sigil_ingest_publish_seconds", type: "histogram", labels: [], roles: ["ingest"], group: "throughput", help: "Time from a batch handed to the bus to its acknowledgement" },
  { name: "sigil_ingest_pending_events", type: "gauge", labels: [], roles: ["ingest"], group: "throughput", help: "Events accepted and not yet acknowledged by the bus (bounded by ingest.max_pending_events)" },
  { name: "sigil_ingest_connections", type: "gauge", labels: ["receiver"], roles: [], group: "throughput", help: "Open syslog TCP/TLS connections (with the syslog TCP/TLS receivers)" },
  { name: "sigil_correlate_messages_total", type: "counter", labels: ["stage", "outcome"], roles: ["correlate"], group: "throughput", help: "Messages handled by the correlate role per stage and outcome" },
  { name: "sigil_correlate_batch_seconds", type: "histogram", labels: ["stage"], roles: ["correlate"], group: "throughput", help: "Time per bus batch per correlate stage (events, chains)" },
  { name: "sigil_correlate_indexed_events_total", type: "counter", labels: ["outcome"], roles: ["correlate"], group: "throughput", help: "Events the events indexer stored, refused (dead-lettered) or skipped" },
  { name: "sigil_correlate_index_batch_seconds", type: "histogram", labels: [], roles: ["correlate"], group: "store", help: "Time to store one batch of events (the events indexer)" },
  // dead letters by reason
  { name: "sigil_ingest_rejected_total", type: "counter", labels: ["reason", "receiver"], roles: ["ingest"], group: "dead letters", help: "Records sent to sigil.dlq by ingest, by reason code" },
  { name: "sigil_ingest_dropped_total", type: "counter", labels: ["receiver", "reason"], roles: [], group: "dead letters", help: "UDP syslog datagrams that could not be buffered while the bus pushed back (with the syslog UDP receiver)" },
  { name: "sigil_correlate_dead_letters_total", type: "counter", labels: ["reason"], roles: ["correlate"], group: "dead letters", help: "Messages and documents the correlate role sent to sigil.dlq, by reason code" },
  { name: "sigil_agent_dead_letter_lines_total", type: "counter", labels: [], roles: ["agent"], group: "dead letters", help: "Records ingest refused for good, kept in the agent's dead-letter folder" },
  // consumer lag
  { name: "sigil_bus_consumer_lag_messages", type: "gauge", labels: ["group", "topic", "partition"], roles: ["correlate", "console"], group: "lag", help: "Messages behind per consumer group and partition this process holds" },
  { name: "sigil_bus_consumer_partitions", type: "gauge", labels: ["group", "topic"], roles: ["correlate", "console"], group: "lag", help: "Partitions this process's group member holds" },
  { name: "sigil_bus_consumer_lag_age_seconds", type: "gauge", labels: ["group"], roles: ["correlate", "console"], group: "lag", help: "Seconds since a member's lag was last read (0 while reads succeed)" },
  { name: "sigil_bus_redeliveries_total", type: "counter", labels: ["bus", "topic"], roles: [], group: "bus", help: "Batches redelivered after their handler failed (appears after the first)" },
  { name: "sigil_bus_producer_renewals_total", type: "counter", labels: ["bus"], roles: [], group: "bus", help: "Producers replaced by a new producer id after a failed send, so a batch the broker may have written is never confused with the next (appears after the first)" },
  { name: "sigil_bus_taken_messages", type: "gauge", labels: ["bus", "topic"], roles: [], group: "bus", help: "Messages of taken batches whose work is not yet durable (Kafka; appears with the first taken batch)" },
  { name: "sigil_bus_rebalances_total", type: "counter", labels: ["bus"], roles: ["correlate", "console"], group: "bus", help: "Partition assignments received (Kafka)" },
  { name: "sigil_bus_buffered_bytes", type: "gauge", labels: ["topic"], roles: [], group: "bus", help: "Bytes the in-process bus holds per topic (sigil start)" },
  { name: "sigil_bus_messages_expired_total", type: "counter", labels: ["bus", "topic"], roles: [], group: "bus", help: "In-process bus messages dropped before an idle group committed them (sigil start)" },
  // rules
  { name: "sigil_correlate_rule_evaluation_seconds", type: "histogram", labels: [], roles: ["correlate"], group: "rules", help: "Time to run one batch of events through the rule plan" },
  { name: "sigil_correlate_rule_evaluated_events_total", type: "counter", labels: [], roles: ["correlate"], group: "rules", help: "Events run through the rule plan" },
  { name: "sigil_correlate_rule_plan_version", type: "gauge", labels: [], roles: ["correlate"], group: "rules", help: "The running plan's version (first 32 bits of the rule files' hash)" },
  { name: "sigil_correlate_rule_plan_info", type: "gauge", labels: ["version"], roles: ["correlate"], group: "rules", help: "1 for the running plan, labelled with its version in hex" },
  { name: "sigil_correlate_rule_plan_rules", type: "gauge", labels: ["kind"], roles: ["correlate"], group: "rules", help: "Rules in the running plan by kind (detection, correlation, anomaly)" },
  { name: "sigil_correlate_rule_plan_swaps_total", type: "counter", labels: ["outcome"], roles: [], group: "rules", help: "Plans rebuilt after a rule change: swapped, or kept because the new rules do not compile (after the first rule change)" },
  // correlation state
  { name: "sigil_stateful_live", type: "gauge", labels: ["stage"], roles: ["correlate"], group: "state", help: "Live correlation groups and baseline entities (state size)" },
  { name: "sigil_stateful_window_entries", type: "gauge", labels: ["stage"], roles: ["correlate"], group: "state", help: "Events held in correlation windows (grows with the rules' timespans until the longest has passed)" },
  { name: "sigil_stateful_evicted_total", type: "counter", labels: ["stage"], roles: ["correlate"], group: "state", help: "Groups or entities evicted because the configured cap was reached" },
  { name: "sigil_stateful_inputs_total", type: "counter", labels: ["stage"], roles: ["correlate"], group: "state", help: "Matches and observations fed to correlation and baseline rules" },
  { name: "sigil_stateful_signals_total", type: "counter", labels: ["stage"], roles: ["correlate"], group: "state", help: "Correlation hits and anomalies produced" },
  { name: "sigil_stateful_dropped_total", type: "counter", labels: ["stage", "reason"], roles: ["correlate"], group: "state", help: "Inputs not added to state: late, suppressed, missing_field, bad_value" },
  { name: "sigil_stateful_checkpoint_seconds", type: "histogram", labels: ["kind"], roles: ["correlate"], group: "state", help: "Time to write one partition checkpoint (full, delta)" },
  { name: "sigil_stateful_redelivered_skipped_total", type: "counter", labels: [], roles: ["correlate"], group: "state", help: "Redelivered messages the restored checkpoint already covered" },
  { name: "sigil_stateful_duplicate_copies_total", type: "counter", labels: [], roles: ["correlate"], group: "state", help: "Routing copies found a second time at another offset (a producer resend), counted once" },
  { name: "sigil_stateful_idle_advance_held_total", type: "counter", labels: [], roles: ["correlate"], group: "state", help: "Idle ticks held back because the events consumer was behind or failing" },
  { name: "sigil_chains_live", type: "gauge", labels: [], roles: ["correlate"], group: "state", help: "Chains (and candidates) held by the chain builder" },
  { name: "sigil_chains_signals_total", type: "counter", labels: ["outcome"], roles: ["correlate"], group: "state", help: "Signals seen by the chain builder by outcome (incl. evicted, expired, overflow)" },
  // store
  { name: "sigil_store_operation_seconds", type: "histogram", labels: ["store", "op"], roles: ["ingest", "correlate", "console"], group: "store", help: "Time per store operation (op=put is the write latency of one batch)" },
  { name: "sigil_store_docs_written_total", type: "counter", labels: ["store", "collection", "outcome"], roles: ["ingest", "correlate", "console"], group: "store", help: "Documents written by outcome (created, existing, rejected)" },
  { name: "sigil_store_retries_total", type: "counter", labels: ["store", "reason"], roles: ["ingest", "correlate", "console"], group: "store", help: "Store requests retried after a transient failure" },
  { name: "sigil_store_retention_deleted_total", type: "counter", labels: ["store", "collection"], roles: ["ingest", "correlate", "console"], group: "store", help: "Documents or indices removed by retention" },
  { name: "sigil_store_breaker_state", type: "gauge", labels: ["store"], roles: PIPELINE, group: "store", help: "Elasticsearch circuit breaker: 0 closed, 1 half open, 2 open (with store.type elasticsearch)" },
  { name: "sigil_store_breaker_opened_total", type: "counter", labels: ["store"], roles: PIPELINE, group: "store", help: "Times the store's circuit breaker opened (with store.type elasticsearch)" },
  { name: "sigil_store_breaker_rejected_total", type: "counter", labels: ["store"], roles: PIPELINE, group: "store", help: "Store calls refused at once while the breaker was open (with store.type elasticsearch)" },
  // console
  { name: "sigil_console_ws_clients", type: "gauge", labels: [], roles: ["console"], group: "console", help: "Consoles connected to the live WebSocket" },
  { name: "sigil_console_ws_disconnects_total", type: "counter", labels: ["reason"], roles: ["console"], group: "console", help: "Consoles the server disconnected, by reason" },
  { name: "sigil_console_live_updates_total", type: "counter", labels: ["kind"], roles: ["console"], group: "console", help: "Alert and chain updates sent to consoles" },
  { name: "sigil_console_replay_buffer_bytes", type: "gauge", labels: [], roles: ["console"], group: "console", help: "Message text the live hub keeps for consoles resuming after a disconnect (bounded by console.live.replay_buffer_bytes)" },
  { name: "sigil_console_live_duplicates_total", type: "counter", labels: [], roles: ["console"], group: "console", help: "Updates skipped because that version was already sent" },
  { name: "sigil_console_alerts_undecodable_total", type: "counter", labels: [], roles: ["console"], group: "console", help: "Messages on sigil.alerts that were neither an alert nor a chain" },
  { name: "sigil_console_sign_ins_total", type: "counter", labels: ["outcome"], roles: ["console"], group: "console", help: "Console sign-in attempts by outcome" },
  // agent
  { name: "sigil_agent_buffer_lines", type: "gauge", labels: [], roles: ["agent"], group: "agent", help: "Records waiting in the agent's disk buffer (buffer depth)" },
  { name: "sigil_agent_buffer_bytes", type: "gauge", labels: [], roles: ["agent"], group: "agent", help: "Bytes in the agent's disk buffer" },
  { name: "sigil_agent_buffer_batches", type: "gauge", labels: [], roles: ["agent"], group: "agent", help: "Batches waiting in the agent's disk buffer" },
  { name: "sigil_agent_buffered_lines_total", type: "counter", labels: [], roles: ["agent"], group: "agent", help: "Records written to the disk buffer" },
  { name: "sigil_agent_buffer_dropped_lines_total", type: "counter", labels: [], roles: ["agent"], group: "agent", help: "Records dropped from a full buffer (policy drop_oldest)" },
  { name: "sigil_agent_read_bytes_total", type: "counter", labels: ["input"], roles: ["agent"], group: "agent", help: "Bytes read from inputs" },
  { name: "sigil_agent_read_lines_total", type: "counter", labels: ["input"], roles: ["agent"], group: "agent", help: "Records read from inputs" },
  { name: "sigil_agent_truncated_lines_total", type: "counter", labels: ["input"], roles: ["agent"], group: "agent", help: "Lines cut at max_line_bytes" },
  { name: "sigil_agent_shipped_lines_total", type: "counter", labels: [], roles: ["agent"], group: "agent", help: "Records acknowledged by ingest" },
  { name: "sigil_agent_batches_total", type: "counter", labels: ["outcome"], roles: ["agent"], group: "agent", help: "Batch send attempts by outcome" },
  { name: "sigil_agent_sent_bytes_total", type: "counter", labels: [], roles: ["agent"], group: "agent", help: "Compressed bytes acknowledged by ingest" },
  { name: "sigil_agent_send_duration_seconds", type: "histogram", labels: [], roles: ["agent"], group: "agent", help: "Time to send one batch" },
  { name: "sigil_agent_link_up", type: "gauge", labels: [], roles: ["agent"], group: "agent", help: "1 while ingest accepts batches" },
  { name: "sigil_agent_breaker_state", type: "gauge", labels: [], roles: ["agent"], group: "agent", help: "The agent's circuit breaker: 0 closed, 1 half-open, 2 open" },
  { name: "sigil_agent_files_open", type: "gauge", labels: [], roles: ["agent"], group: "agent", help: "Files being read" },
  { name: "sigil_agent_lag_bytes", type: "gauge", labels: [], roles: ["agent"], group: "agent", help: "Bytes written to open files and not yet acknowledged or buffered" },
  // process (prom-client defaults, prefixed)
  { name: "sigil_process_cpu_seconds_total", type: "counter", labels: [], roles: ALL, group: "process", help: "CPU time of the process" },
  { name: "sigil_process_resident_memory_bytes", type: "gauge", labels: [], roles: ALL, group: "process", help: "Resident memory of the process" },
  { name: "sigil_nodejs_heap_size_used_bytes", type: "gauge", labels: [], roles: ALL, group: "process", help: "V8 heap in use" },
  { name: "sigil_nodejs_heap_live_bytes", type: "gauge", labels: [], roles: ALL, group: "process", help: "V8 heap in use right after the last full garbage collection (the live set: a leak grows it, garbage does not)" },
  { name: "sigil_nodejs_eventloop_lag_seconds", type: "gauge", labels: [], roles: ALL, group: "process", help: "Event-loop lag (a stalled loop delays every batch)" },
  { name: "sigil_nodejs_gc_duration_seconds", type: "histogram", labels: ["kind"], roles: ALL, group: "process", help: "Garbage collection pauses" },
];

/** The catalog by name. */
export const METRIC_BY_NAME: ReadonlyMap<string, CatalogEntry> = new Map(METRICS.map((m) => [m.name, m]));

/** Metrics whose names are built at run time (so a source scan cannot see them): the circuit breaker's. */
export const TEMPLATE_METRICS = ["sigil_store_breaker_state", "sigil_store_breaker_opened_total", "sigil_store_breaker_rejected_total"] as const;

/** The entries a process running these roles serves. */
export function metricsForRoles(roles: readonly Role[]): CatalogEntry[] {
  return METRICS.filter((m) => m.roles.some((r) => roles.includes(r)));
}
