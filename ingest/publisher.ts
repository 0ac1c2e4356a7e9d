// Publishing normalized events and dead letters to the bus in batches, with a bound on what is pending:
// receivers reserve room before they accept work (429 / pause when it is full) and answer their
// clients only after the bus acknowledged the batch.

import type { EcsEvent } from "../schema/ecs.ts";
import type { OutgoingMessage, Producer } from "../platform/bus/types.ts";
import { deadLetterMessage, ingestMetrics, type DeadLetter } from "./dead-letter.ts";

export interface PublisherOptions {
  maxPending: number;
  /** Events per produce request. */
  maxBatchEvents: number;
}

/** The partition key of an event: its primary entity (host.name, else service.name). */
export function eventKey(e: EcsEvent): string | null {
  const h = e.host?.name;
  if (typeof h === "string" && h) return h;
  const s = e.service?.name;
  return typeof s === "string" && s ? s : null;
}

export class Publisher {
  private pending = 0;
  private readonly roomWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly producer: Producer, private readonly opts: PublisherOptions) {}

  /** Events accepted and not yet acknowledged by the bus. */
  get pendingEvents(): number {
    return this.pending;
  }

  /** Takes room for `n` events when the bound allows; false means push back (429, pause). */
  tryReserve(n: number): boolean {
    if (this.closed) return false;
    // one batch larger than the whole bound still passes when nothing else is pending
    if (this.pending > 0 && this.pending + n > this.opts.maxPending) return false;
    this.pending += n;
    ingestMetrics.pending().set(this.pending);
    return true;
  }

  /** Takes room for work already read (a TCP stream's frames); callers pause their input while over the bound. */
  reserve(n: number): void {
    this.pending += n;
    ingestMetrics.pending().set(this.pending);
  }

  /** Gives back room taken with tryReserve or reserve. */
  release(n: number): void {
    this.pending = Math.max(0, this.pending - n);
    ingestMetrics.pending().set(this.pending);
    while (this.roomWaiters.length > 0 && this.pending < this.opts.maxPending) this.roomWaiters.shift()!();
  }

  /** Resolves once there is room below the bound (syslog TCP pauses its socket until then). */
  waitForRoom(): Promise<void> {
    if (this.pending < this.opts.maxPending || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /**
   * Publishes events to sigil.events and dead letters to sigil.dlq; resolves when the bus accepted
   * both. The caller reserved room for the events and releases it afterwards.
   */
  async publish(events: EcsEvent[], dead: DeadLetter[], receiver: string): Promise<void> {
    const started = process.hrtime.bigint();
    const ingested = new Date().toISOString();
    const sends: Promise<void>[] = [];
    const modules: Record<string, number> = {};
    for (let i = 0; i < events.length; i += this.opts.maxBatchEvents) {
      const chunk = events.slice(i, i + this.opts.maxBatchEvents);
      const msgs: OutgoingMessage[] = new Array(chunk.length);
      for (let j = 0; j < chunk.length; j++) {
        const e = chunk[j];
        e.event.ingested = ingested;
        const m = e.event.module ?? "unknown";
        modules[m] = (modules[m] ?? 0) + 1;
        msgs[j] = { key: eventKey(e), value: JSON.stringify(e) };
      }
      sends.push(this.producer.send("events", msgs));
    }
    if (dead.length > 0) sends.push(this.producer.send("dlq", dead.map(deadLetterMessage)));
    await Promise.all(sends);
    ingestMetrics.publishSeconds().observe(Number(process.hrtime.bigint() - started) / 1e9);
    const counter = ingestMetrics.events();
    for (const [module, n] of Object.entries(modules)) counter.inc({ receiver, module }, n);
  }

  /** Stops accepting work and releases anyone waiting for room. */
  close(): void {
    this.closed = true;
    for (const w of this.roomWaiters.splice(0)) w();
  }
}
