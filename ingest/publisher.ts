// Publishing normalized events and dead letters to the bus in batches, with a bound on what is pending:
// receivers reserve room before they accept work (429 / pause when it is full) and answer their
// clients only after the bus acknowledged the batch.

import type { EcsEvent } from "../schema/ecs.ts";
import type { OutgoingMessage, Producer } from "../platform/bus/types.ts";
import { batchTraceFields, traceFields, type Logger } from "../platform/telemetry/log.ts";
import { deadLetterMessage, ingestMetrics, type DeadLetter } from "./dead-letter.ts";

export interface PublisherOptions {
  maxPending: number;
  /** Events per send to the bus at most (one send carries the batches of every receiver waiting for it). */
  maxBatchEvents: number;
  /** Where failed sends are logged with the event ids they carried (debug: every batch). */
  log?: Logger;
}

/** The partition key of an event: its primary entity (host.name, else service.name). */
export function eventKey(e: EcsEvent): string | null {
  const h = e.host?.name;
  if (typeof h === "string" && h) return h;
  const s = e.service?.name;
  return typeof s === "string" && s ? s : null;
}

/** One buffer of a Slab, with the batches still holding views of it. */
export interface SlabBuffer {
  readonly buf: Buffer;
  /** Batches with views into buf that the bus has not settled yet. */
  refs: number;
  /** True once the slab moved on to another buffer (nothing more is written here). */
  retired: boolean;
}

/**
 * Serialized events as slices of large off-heap buffers: the JSON string dies young, and a batch
 * waiting for the bus holds a few small views instead of hundreds of strings the collector would copy.
 * With `reuse`, a buffer goes back to a small pool once it is full and every batch with views into it
 * was released (the bus copied them out: Producer.copiesOnSend), so the slab does not allocate a fresh
 * megabyte of external memory per thousand events (each one counts towards V8's external-memory
 * pressure, which starts full collections). A batch that is never released keeps its buffer out of the
 * pool; the collector frees it as usual.
 */
export class Slab {
  private cur: SlabBuffer = { buf: Buffer.alloc(0), refs: 0, retired: false };
  private pos = 0;
  private readonly pool: Buffer[] = [];
  /** Buffers taken from the pool instead of allocated (tests and the benchmark look at it). */
  reused = 0;

  constructor(
    private readonly size = 1 << 20,
    private readonly reuse = false,
    /** Buffers kept for reuse at most (the pool's memory is at most keep × size). */
    private readonly keep = 16,
  ) {}

  /** The buffer written to now: a batch that takes a view of it holds it (hold) until released. */
  get current(): SlabBuffer {
    return this.cur;
  }

  /** A batch took its first view of `b`. */
  hold(b: SlabBuffer): void {
    b.refs++;
  }

  /** A batch with views of `b` was settled by the bus: its views are not read again. */
  release(b: SlabBuffer): void {
    b.refs--;
    if (b.refs === 0 && b.retired) this.recycle(b);
  }

  /** The current buffer when `n` more bytes fit, else a new one (from the pool when it is large enough). */
  private room(n: number): number {
    const room = this.cur.buf.length - this.pos;
    if (n <= room) return room;
    const old = this.cur;
    old.retired = true;
    if (old.refs === 0) this.recycle(old);
    let buf: Buffer | undefined;
    if (n <= this.size && this.pool.length > 0) {
      buf = this.pool.pop();
      this.reused++;
    }
    this.cur = { buf: buf ?? Buffer.allocUnsafeSlow(Math.max(this.size, n)), refs: 0, retired: false };
    this.pos = 0;
    return this.cur.buf.length;
  }

  private recycle(b: SlabBuffer): void {
    if (this.reuse && b.buf.length === this.size && this.pool.length < this.keep) this.pool.push(b.buf);
  }

  /** The UTF-8 bytes of `s`, in the current slab (a new one when it is full; a big string gets its own). */
  put(s: string): Buffer {
    // a UTF-16 unit is at most 3 UTF-8 bytes: count exactly only when that bound does not fit
    let room = this.cur.buf.length - this.pos;
    if (s.length * 3 > room) room = this.room(Buffer.byteLength(s));
    const buf = this.cur.buf;
    const written = buf.write(s, this.pos, room, "utf8");
    const out = buf.subarray(this.pos, this.pos + written);
    this.pos += written;
    return out;
  }

  /**
   * The UTF-8 bytes of a JSON object `s` with one more member: `member` is the UTF-8 of `"name":value}`,
   * written over the object's closing brace (after a comma unless the object is empty).
   */
  putWithMember(s: string, member: Uint8Array): Buffer {
    const extra = member.length + 1;
    let room = this.cur.buf.length - this.pos;
    if (s.length * 3 + extra > room) room = this.room(Buffer.byteLength(s) + extra);
    const buf = this.cur.buf;
    const start = this.pos;
    let end = start + buf.write(s, start, room, "utf8");
    // end - 1 is the closing brace; an object with members gets a comma there
    if (end - start > 2) buf[end - 1] = 44;
    else end--;
    buf.set(member, end);
    end += member.length;
    this.pos = end;
    return buf.subarray(start, end);
  }
}

/** Events of one receiver batch, serialized as they are added (Publisher.batch). */
export class PublishBatch {
  readonly messages: OutgoingMessage[] = [];
  private readonly ingested = new Date().toISOString();
  private readonly modules = new Map<string, number>();
  /** Events of the module of the events added last, not yet in `modules` (a batch is mostly one module). */
  private lastModule = "";
  private lastCount = 0;
  private readonly ids: string[] = [];
  private readonly traces = new Set<string>();
  /** The key of the event added last: an equal key is stored as that string (a key cut from a raw line keeps the line alive while the batch waits). */
  private lastKey: string | null = null;
  /** Slab buffers this batch has views of (usually one or two), held until release(). */
  private readonly held: SlabBuffer[] = [];
  private released = false;

  constructor(
    readonly receiver: string,
    private readonly slab: Slab,
    /** Event ids kept for log lines (0: none, Infinity: all, at debug level). */
    private readonly keepIds: number,
  ) {}

  /**
   * Serializes one event (stamped with event.ingested) into the batch. `member` is an already
   * serialized last member (`"agent":{...}}`, UTF-8) for an event that does not have that field: a
   * value shared by many events (the agent's) is serialized once, not once per event.
   */
  add(e: EcsEvent, member?: Uint8Array): void {
    e.event.ingested = this.ingested;
    const m = e.event.module ?? "unknown";
    if (m === this.lastModule) this.lastCount++;
    else {
      this.settleModule();
      this.lastModule = m;
      this.lastCount = 1;
    }
    if (this.ids.length < this.keepIds) {
      const f = traceFields(e);
      if (f.event_id) this.ids.push(f.event_id);
      if (f.trace_id && this.traces.size < 20) this.traces.add(f.trace_id);
    }
    let key = eventKey(e);
    if (key !== null && key === this.lastKey) key = this.lastKey;
    else this.lastKey = key;
    const slab = this.slab;
    const value = member === undefined ? slab.put(JSON.stringify(e)) : slab.putWithMember(JSON.stringify(e), member);
    const buf = slab.current;
    if (this.held.length === 0 || this.held[this.held.length - 1] !== buf) {
      slab.hold(buf);
      this.held.push(buf);
    }
    this.messages.push({ key, value });
  }

  /**
   * The bus settled this batch (accepted or failed) and copied its messages: its views into the slab are
   * not read again, so their buffers may be reused. Once; the messages are dropped.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.messages.length = 0;
    for (const b of this.held) this.slab.release(b);
    this.held.length = 0;
  }

  get size(): number {
    return this.messages.length;
  }

  /** The ids for log lines, in batchTraceFields' shape. */
  trace(): ReturnType<typeof batchTraceFields> {
    return this.traces.size ? { event_ids: this.ids, trace_ids: [...this.traces], events: this.messages.length } : { event_ids: this.ids, events: this.messages.length };
  }

  private settleModule(): void {
    if (this.lastCount > 0) this.modules.set(this.lastModule, (this.modules.get(this.lastModule) ?? 0) + this.lastCount);
    this.lastCount = 0;
  }

  /** Counts the published events (sigil_ingest_events_total, per module: once per batch). */
  count(): void {
    this.settleModule();
    const counter = ingestMetrics.events();
    for (const [module, n] of this.modules) counter.inc({ receiver: this.receiver, module }, n);
  }
}

/** One receiver batch waiting for the bus: its serialized events and dead letters, and whom to tell. */
interface Waiting {
  /** Event (and trace) ids for log lines, taken when the batch was queued: the events themselves are not kept. */
  trace: ReturnType<typeof batchTraceFields> | null;
  receiver: string;
  events: OutgoingMessage[];
  dead: OutgoingMessage[];
  done: (err: unknown) => void;
}

/**
 * Serializes each event once and hands the bus few, large sends: while one send is in flight, the
 * batches of every receiver that publishes meanwhile are queued and go together in the next send
 * (group commit), so the producer writes large record batches per partition at any load without a
 * linger delay when idle. Each caller's promise resolves only when the send carrying its batch was
 * acknowledged, and rejects when that send failed (the caller's client retries; ids deduplicate).
 */
export class Publisher {
  private pending = 0;
  private readonly roomWaiters: Array<() => void> = [];
  private closed = false;
  private readonly queue: Waiting[] = [];
  private sending = false;
  private readonly slab: Slab;

  constructor(private readonly producer: Producer, private readonly opts: PublisherOptions) {
    // the slab's buffers are reused only when the bus copies what it sends (the in-process bus keeps the views)
    this.slab = new Slab(1 << 20, producer.copiesOnSend === true);
  }

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
   * A batch to fill event by event as a receiver makes them: each event is serialized when added, so
   * no batch of event objects stays alive (what a batch holds while it waits for the bus is its bytes).
   */
  batch(receiver: string): PublishBatch {
    return new PublishBatch(receiver, this.slab, this.opts.log ? (this.opts.log.isLevelEnabled("debug") ? Infinity : 20) : 0);
  }

  /**
   * Publishes a batch to sigil.events and dead letters to sigil.dlq; resolves when the bus accepted
   * both. The caller reserved room for the events and releases it afterwards.
   */
  send(batch: PublishBatch, dead: DeadLetter[]): Promise<void> {
    const deadMsgs = dead.map(deadLetterMessage);
    if (batch.messages.length === 0 && deadMsgs.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        trace: this.opts.log ? batch.trace() : null,
        receiver: batch.receiver,
        events: batch.messages,
        dead: deadMsgs,
        done: (err) => {
          // the bus is done with the batch's bytes either way (drain waits for every send of it to settle)
          batch.release();
          if (err) return reject(err);
          batch.count();
          resolve();
        },
      });
      if (!this.sending) void this.drain();
    });
  }

  /** Publishes events (serialized here) and dead letters; see batch() and send(). */
  publish(events: EcsEvent[], dead: DeadLetter[], receiver: string): Promise<void> {
    const b = this.batch(receiver);
    for (const e of events) b.add(e);
    return this.send(b, dead);
  }

  /** Sends what is queued, in as few sends as maxBatchEvents allows, until the queue is empty. */
  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const group: Waiting[] = [];
        let n = 0;
        while (this.queue.length > 0 && (group.length === 0 || n + this.queue[0].events.length <= this.opts.maxBatchEvents)) {
          const w = this.queue.shift()!;
          n += w.events.length;
          group.push(w);
        }
        const events = group.length === 1 ? group[0].events : group.flatMap((w) => w.events);
        const dead = group.length === 1 ? group[0].dead : group.flatMap((w) => w.dead);
        const started = process.hrtime.bigint();
        let failure: unknown = null;
        try {
          // both sends settle before anyone hears: a batch's slab buffers may be reused once it is told
          const settled = await Promise.allSettled([events.length > 0 ? this.producer.send("events", events) : null, dead.length > 0 ? this.producer.send("dlq", dead) : null]);
          for (const r of settled) if (r.status === "rejected" && failure === null) failure = r.reason ?? new Error("the bus did not accept the batch");
          if (failure === null) ingestMetrics.publishSeconds().observe(Number(process.hrtime.bigint() - started) / 1e9);
        } catch (err) {
          failure = err ?? new Error("the bus did not accept the batch");
        }
        const log = this.opts.log;
        if (log && (failure !== null || log.isLevelEnabled("debug"))) {
          for (const w of group) {
            const fields = { receiver: w.receiver, dead_letters: w.dead.length, ...w.trace };
            if (failure !== null) log.warn({ ...fields, err: (failure as Error).message ?? String(failure) }, "the bus did not accept a batch; its receiver answers with an error and the client retries");
            else log.debug(fields, "published batch");
          }
        }
        for (const w of group) w.done(failure);
      }
    } finally {
      this.sending = false;
    }
  }

  /** Stops accepting work and releases anyone waiting for room. */
  close(): void {
    this.closed = true;
    for (const w of this.roomWaiters.splice(0)) w();
  }
}
