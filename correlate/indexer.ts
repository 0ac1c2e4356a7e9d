// The events indexer: writes sigil.events to the store's events index in its own consumer group, apart
// from detection. A bulkhead: when the store is slow or down, only this group falls behind (its lag is
// on the bus, not in memory, and the batch in flight is the only one held); detection, correlation and
// alerts go on. Offsets commit after the store acknowledged the batch; documents the store refuses go to
// sigil.dlq with its reason; malformed messages are dead-lettered by the detection consumer, not here.

import type { Batch, Bus, Consumer, OutgoingMessage, Producer } from "../platform/bus/types.ts";
import type { Store } from "../platform/store/types.ts";
import { isStoreRejectError } from "../platform/store/errors.ts";
import { describeError } from "../platform/errors.ts";
import { batchTraceFields, traceFields, type Logger } from "../platform/telemetry/log.ts";
import { metric, prom } from "../platform/telemetry/metrics.ts";
import type { EcsEvent, JsonObject } from "../schema/ecs.ts";
import { safeJsonParse } from "../schema/fields.ts";

export const INDEXER_GROUP = "sigil-events-store";

const indexed = () =>
  metric("sigil_correlate_indexed_events_total", () => new prom.Counter({ name: "sigil_correlate_indexed_events_total", help: "Events the indexer handed to the store, by outcome (stored, refused: dead-lettered, skipped: not an event)", labelNames: ["outcome"] }));
const indexSeconds = () =>
  metric("sigil_correlate_index_batch_seconds", () => new prom.Histogram({ name: "sigil_correlate_index_batch_seconds", help: "Time to store one bus batch of events (decode and the store's bulk write)", buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] }));
const deadLetters = () =>
  metric("sigil_correlate_dead_letters_total", () => new prom.Counter({ name: "sigil_correlate_dead_letters_total", help: "Messages and documents the correlate role sent to sigil.dlq, by reason code", labelNames: ["reason"] }));

export interface IndexerOptions {
  bus: Bus;
  store: Store;
  log: Logger;
  groupId?: string;
  maxBatchSize?: number;
}

export class EventsIndexer {
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  readonly stats = { batches: 0, stored: 0, refused: 0, skipped: 0 };

  constructor(private readonly o: IndexerOptions) {}

  /** The consumer (lag, assignment), once started. */
  get member(): Consumer | null {
    return this.consumer;
  }

  async start(): Promise<void> {
    // registered from the start, so the dead-letter counter is on /metrics before the first one
    deadLetters();
    this.producer = await this.o.bus.producer();
    this.consumer = await this.o.bus.consumer({ groupId: this.o.groupId ?? INDEXER_GROUP, topics: ["events"], fromBeginning: true, maxBatchSize: this.o.maxBatchSize ?? 2_000 });
    await this.consumer.run((batch) => this.handle(batch));
  }

  /** Finishes and commits the batch in flight, then leaves the group. */
  async stop(): Promise<void> {
    await this.consumer?.close();
    this.consumer = null;
    await this.producer?.close();
    this.producer = null;
  }

  private async handle(batch: Batch): Promise<void> {
    const end = indexSeconds().startTimer();
    const events: EcsEvent[] = [];
    for (const m of batch.messages) {
      let v: unknown;
      try {
        v = safeJsonParse(m.value.toString("utf8"));
      } catch {
        v = null;
      }
      const ev = v !== null && typeof v === "object" && !Array.isArray(v) ? ((v as JsonObject)["event"] as JsonObject | undefined) : undefined;
      if (!ev || typeof ev !== "object" || typeof ev["id"] !== "string" || typeof (v as JsonObject)["@timestamp"] !== "string") {
        this.stats.skipped++;
        continue;
      }
      events.push(v as EcsEvent);
    }
    if (batch.messages.length > events.length) indexed().inc({ outcome: "skipped" }, batch.messages.length - events.length);
    const dlq: OutgoingMessage[] = [];
    try {
      if (events.length) await this.o.store.put("events", events);
    } catch (err) {
      if (!isStoreRejectError(err)) {
        this.o.log.error({ err: describeError(err), partition: batch.partition, offset: batch.messages[0]?.offset, messages: batch.messages.length, ...batchTraceFields(events) }, "storing a batch of events failed; it will be redelivered");
        throw err;
      }
      for (const r of err.rejected) {
        const doc = events[r.index];
        deadLetters().inc({ reason: r.code });
        dlq.push({
          key: "correlate",
          value: JSON.stringify({ reason: `the store refused the event: ${r.reason}`, code: r.code, topic: batch.topic, partition: batch.partition, collection: "events", id: r.id ?? null, raw: doc ? JSON.stringify(doc).slice(0, 65_536) : "" }),
          headers: { "sigil-reason": r.code },
        });
        this.o.log.warn({ ...traceFields(doc), code: r.code, reason: r.reason, partition: batch.partition }, "the store refused an event; sent to the dead-letter topic");
      }
    }
    if (dlq.length) await this.producer!.send("dlq", dlq);
    const stored = events.length - dlq.length;
    this.stats.batches++;
    this.stats.stored += stored;
    this.stats.refused += dlq.length;
    if (stored) indexed().inc({ outcome: "stored" }, stored);
    if (dlq.length) indexed().inc({ outcome: "refused" }, dlq.length);
    if (this.o.log.isLevelEnabled("debug")) this.o.log.debug({ partition: batch.partition, offset: batch.messages[0]?.offset, ...batchTraceFields(events, events.length) }, "events stored");
    end();
  }
}
