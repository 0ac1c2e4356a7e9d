// The dead-letter path: every record that could not become an event goes to sigil.dlq with its reason
// code, the source, where it was (line, offset, file, origin) and the raw bytes (base64 when they are
// not UTF-8), keyed by source; and is counted per reason and receiver. Ingest metrics live here too.

import type { OutgoingMessage } from "../platform/bus/types.ts";
import { metric, prom } from "../platform/telemetry/metrics.ts";
import type { Rejection } from "./parsers/types.ts";

/** Raw bytes kept in a dead letter at most; longer records are cut and flagged (Kafka's default message limit is 1 MiB). */
export const MAX_DEAD_LETTER_RAW_BYTES = 256 * 1024;

export const ingestMetrics = {
  rejected: () => metric("sigil_ingest_rejected_total", () => new prom.Counter({ name: "sigil_ingest_rejected_total", help: "Records sent to the dead-letter topic, by reason code and receiver", labelNames: ["reason", "receiver"] })),
  events: () => metric("sigil_ingest_events_total", () => new prom.Counter({ name: "sigil_ingest_events_total", help: "Events published to sigil.events, by receiver and dataset module", labelNames: ["receiver", "module"] })),
  requests: () => metric("sigil_ingest_requests_total", () => new prom.Counter({ name: "sigil_ingest_requests_total", help: "HTTP and OTLP requests answered, by receiver and status code", labelNames: ["receiver", "status"] })),
  dropped: () => metric("sigil_ingest_dropped_total", () => new prom.Counter({ name: "sigil_ingest_dropped_total", help: "UDP syslog datagrams that could not be buffered while the bus pushed back (counted and logged, not stored)", labelNames: ["receiver", "reason"] })),
  pending: () => metric("sigil_ingest_pending_events", () => new prom.Gauge({ name: "sigil_ingest_pending_events", help: "Events accepted by receivers and not yet acknowledged by the bus" })),
  publishSeconds: () => metric("sigil_ingest_publish_seconds", () => new prom.Histogram({ name: "sigil_ingest_publish_seconds", help: "Time from a batch being handed to the bus to the bus acknowledging it", buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] })),
  connections: () => metric("sigil_ingest_connections", () => new prom.Gauge({ name: "sigil_ingest_connections", help: "Open syslog TCP/TLS connections", labelNames: ["receiver"] })),
};

/** The value of a sigil.dlq message. */
export interface DeadLetter {
  "@timestamp": string;
  reason: { code: string; message: string };
  receiver: string;
  source: string;
  line?: number;
  offset?: number;
  path?: string;
  origin?: string;
  host?: string;
  peer?: string;
  /** Who sent it (the agent token's name), when the receiver authenticates. */
  sender?: string;
  raw: string;
  raw_encoding: "utf8" | "base64";
  raw_bytes: number;
  truncated?: boolean;
}

/** The dead letter of a rejection. `bytes` overrides the raw content (e.g. a non-UTF-8 record). */
export function deadLetter(r: Rejection, receiver: string, extra: { sender?: string; truncated?: boolean; now?: Date } = {}): DeadLetter {
  const rec = r.record;
  const bytes = rec.bytes ? Buffer.from(rec.bytes) : Buffer.from(rec.data, "utf8");
  const cut = bytes.length > MAX_DEAD_LETTER_RAW_BYTES;
  const kept = cut ? bytes.subarray(0, MAX_DEAD_LETTER_RAW_BYTES) : bytes;
  const dl: DeadLetter = {
    "@timestamp": (extra.now ?? new Date()).toISOString(),
    reason: { code: r.code, message: r.reason },
    receiver,
    source: rec.source,
    raw: rec.bytes ? kept.toString("base64") : cut ? kept.toString("utf8") : rec.data,
    raw_encoding: rec.bytes ? "base64" : "utf8",
    raw_bytes: bytes.length,
  };
  if (rec.line !== undefined) dl.line = rec.line;
  if (rec.offset !== undefined) dl.offset = rec.offset;
  if (rec.path !== undefined) dl.path = rec.path;
  if (rec.origin !== undefined) dl.origin = rec.origin;
  if (rec.host !== undefined) dl.host = rec.host;
  if (rec.peer !== undefined) dl.peer = rec.peer;
  if (extra.sender !== undefined) dl.sender = extra.sender;
  if (cut || extra.truncated) dl.truncated = true;
  return dl;
}

/** A dead letter as a bus message (keyed by source) and counted. */
export function deadLetterMessage(dl: DeadLetter): OutgoingMessage {
  ingestMetrics.rejected().inc({ reason: dl.reason.code, receiver: dl.receiver });
  return { key: dl.source, value: JSON.stringify(dl), headers: { "sigil-reason": dl.reason.code } };
}
