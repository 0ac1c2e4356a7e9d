// The in-process bus: the same topics, keys, partitions, consumer groups and commit-after-processing
// semantics as Kafka, inside one process. Used by the embedded default and by unit tests. Optionally
// journaled to SQLite (journal.ts) so acknowledged messages and commits survive kill -9. Memory is
// bounded per topic: a send waits for consumers to commit (back-pressure) and fails after a timeout.

import { randomUUID } from "node:crypto";
import { SigilError, describeError } from "../errors.ts";
import { logger as makeLogger, type Logger } from "../telemetry/log.ts";
import { metric, prom } from "../telemetry/metrics.ts";
import { BusJournal, type JournalRow } from "./journal.ts";
import { partitionFor } from "./partitioner.ts";
import {
  TOPIC_NAMES,
  TOPICS,
  type Batch,
  type BatchHandler,
  type Bus,
  type BusHealth,
  type Consumer,
  type ConsumerOptions,
  type IncomingMessage,
  type OutgoingMessage,
  type PartitionLag,
  type Producer,
  type TopicName,
  type TopicPartition,
} from "./types.ts";

export interface MemoryBusOptions {
  partitions?: number;
  topicPrefix?: string;
  /** Messages kept per partition once every group has committed past them (best effort under the memory bound). */
  retentionMessages?: number;
  /** Bound on the bytes held per topic; a send beyond it waits for consumers to commit. */
  maxBufferedBytes?: number;
  /** How long a send waits for room before failing with bus_full. */
  sendTimeoutMs?: number;
  /** An empty group (no members) keeps pinning its uncommitted messages this long, so a restarting role finds them. */
  emptyGroupHoldMs?: number;
  /** SQLite journal file: acknowledged messages and committed offsets survive a crash. Null: memory only. */
  journalPath?: string | null;
  journalSync?: "normal" | "full";
  logger?: Logger;
}

/** Rough bytes a message costs in memory (payload plus object overhead). */
const sizeOf = (m: IncomingMessage) => m.value.length + (m.key === null ? 0 : m.key.length * 2) + 96;

/** One partition's messages: an array with a moving head, compacted now and then. */
class PartitionLog {
  msgs: (IncomingMessage | undefined)[] = [];
  head = 0;
  /** Offset of msgs[head]. */
  base = 0;
  bytes = 0;
  /** Where the journal has been trimmed to (journal deletes are batched). */
  journalTrimmed = 0;

  get end(): number {
    return this.base + (this.msgs.length - this.head);
  }

  get count(): number {
    return this.msgs.length - this.head;
  }

  slice(from: number, max: number): IncomingMessage[] {
    const i = this.head + (from - this.base);
    return this.msgs.slice(i, i + max) as IncomingMessage[];
  }

  push(m: IncomingMessage): void {
    this.msgs.push(m);
    this.bytes += sizeOf(m);
  }

  /** Drops messages below `offset`; returns the bytes freed. */
  dropBefore(offset: number): number {
    let freed = 0;
    while (this.base < offset && this.head < this.msgs.length) {
      freed += sizeOf(this.msgs[this.head]!);
      this.msgs[this.head] = undefined;
      this.head++;
      this.base++;
    }
    if (this.head > 4096 && this.head * 2 > this.msgs.length) {
      this.msgs = this.msgs.slice(this.head);
      this.head = 0;
    }
    this.bytes -= freed;
    return freed;
  }
}

interface TopicState {
  parts: PartitionLog[];
  bytes: number;
  /** Sends to one topic are applied in call order, also while they wait for room. */
  chain: Promise<void>;
  /** Woken whenever room may have been made. */
  roomWaiters: Set<() => void>;
}

interface Member {
  id: string;
  topics: TopicName[];
  fromBeginning: boolean;
  assigned: TopicPartition[];
  /** All partitions to one member at a time (ConsumerOptions.exclusive). */
  exclusive: boolean;
  /** Next offset to deliver per "topic/partition" this member holds. */
  positions: Map<string, number>;
  wake: () => void;
}

interface Group {
  id: string;
  members: Member[];
  committed: Map<string, number>; // "topic/partition" → next offset to read
  owners: Map<string, string>; // "topic/partition" → member id holding it now
  lastActive: number;
}

const tpKey = (t: TopicName, p: number) => `${t}/${p}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const produced = () =>
  metric("sigil_bus_messages_produced_total", () => new prom.Counter({ name: "sigil_bus_messages_produced_total", help: "Messages the bus acknowledged", labelNames: ["bus", "topic"] }));
const consumed = () =>
  metric("sigil_bus_messages_consumed_total", () => new prom.Counter({ name: "sigil_bus_messages_consumed_total", help: "Messages handled and committed", labelNames: ["bus", "topic"] }));
const redeliveries = () =>
  metric("sigil_bus_redeliveries_total", () => new prom.Counter({ name: "sigil_bus_redeliveries_total", help: "Batches redelivered after the handler failed", labelNames: ["bus", "topic"] }));
const expired = () =>
  metric("sigil_bus_messages_expired_total", () => new prom.Counter({ name: "sigil_bus_messages_expired_total", help: "Messages dropped before an idle group committed them", labelNames: ["bus", "topic"] }));
const buffered = () =>
  metric("sigil_bus_buffered_bytes", () => new prom.Gauge({ name: "sigil_bus_buffered_bytes", help: "Bytes the in-process bus holds per topic", labelNames: ["topic"] }));

export class MemoryBus implements Bus {
  readonly kind = "memory" as const;
  readonly partitions: number;
  private readonly prefix: string;
  private readonly retention: number;
  private readonly maxBytes: number;
  private readonly sendTimeoutMs: number;
  private readonly emptyGroupHoldMs: number;
  private readonly topics = new Map<TopicName, TopicState>();
  private readonly groups = new Map<string, Group>();
  private readonly consumers = new Set<Consumer>();
  private readonly journal: BusJournal | null;
  private readonly log: Logger;
  private rr = 0;
  private closed = false;

  constructor(opts: MemoryBusOptions = {}) {
    this.partitions = opts.partitions ?? 6;
    this.prefix = opts.topicPrefix ?? "";
    this.retention = opts.retentionMessages ?? 10_000;
    this.maxBytes = opts.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 30_000;
    this.emptyGroupHoldMs = opts.emptyGroupHoldMs ?? 10 * 60_000;
    this.log = opts.logger ?? makeLogger("bus", { bus: "memory" });
    for (const t of TOPIC_NAMES) {
      this.topics.set(t, { parts: Array.from({ length: this.partitions }, () => new PartitionLog()), bytes: 0, chain: Promise.resolve(), roomWaiters: new Set() });
    }
    this.journal = opts.journalPath ? new BusJournal(opts.journalPath, this.partitions, opts.journalSync ?? "normal") : null;
    if (this.journal) this.recover(this.journal);
  }

  /** Rebuilds the logs and the groups' committed offsets from the journal. */
  private recover(journal: BusJournal): void {
    const state = journal.load();
    let messages = 0;
    for (const [t, ts] of this.topics) {
      ts.parts.forEach((log, p) => {
        const end = state.ends.get(tpKey(t, p)) ?? 0;
        log.base = end;
        log.journalTrimmed = end;
      });
    }
    // Rows come sorted by topic, partition, offset; keep each partition's contiguous run ending at its end.
    const byPart = new Map<string, JournalRow[]>();
    for (const r of state.rows) {
      if (!this.topics.has(r.topic) || r.partition >= this.partitions) continue;
      const k = tpKey(r.topic, r.partition);
      let list = byPart.get(k);
      if (!list) byPart.set(k, (list = []));
      list.push(r);
    }
    for (const [k, rows] of byPart) {
      const [t, p] = [k.slice(0, k.lastIndexOf("/")) as TopicName, Number(k.slice(k.lastIndexOf("/") + 1))];
      const ts = this.topics.get(t)!;
      const log = ts.parts[p];
      const end = state.ends.get(k) ?? rows[rows.length - 1].offset + 1;
      let start = rows.length - 1;
      while (start > 0 && rows[start - 1].offset === rows[start].offset - 1) start--;
      if (rows[rows.length - 1].offset !== end - 1) {
        this.log.warn({ topic: t, partition: p, journal: journal.file }, "journal log end does not match its last message; keeping the messages");
      }
      log.base = rows[start].offset;
      log.journalTrimmed = rows[0].offset;
      for (let i = start; i < rows.length; i++) {
        const r = rows[i];
        log.push({ topic: t, partition: p, offset: String(r.offset), key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp });
      }
      ts.bytes += log.bytes;
      messages += rows.length - start;
    }
    const now = Date.now();
    for (const c of state.commits) {
      if (!this.topics.has(c.topic) || c.partition >= this.partitions) continue;
      const g = this.group(c.group);
      g.committed.set(tpKey(c.topic, c.partition), c.next);
      g.lastActive = now;
    }
    for (const t of TOPIC_NAMES) for (let p = 0; p < this.partitions; p++) this.trim(t, p);
    if (messages || state.commits.length) this.log.info({ journal: journal.file, messages, groups: new Set(state.commits.map((c) => c.group)).size }, "recovered the in-process bus from its journal");
  }

  private group(id: string): Group {
    let g = this.groups.get(id);
    if (!g) this.groups.set(id, (g = { id, members: [], committed: new Map(), owners: new Map(), lastActive: Date.now() }));
    return g;
  }

  topicName(name: TopicName): string {
    return this.prefix + TOPICS[name];
  }

  async ensureTopics(): Promise<void> {
    // topics exist from construction
  }

  async partitionCount(): Promise<number> {
    return this.partitions;
  }

  async health(): Promise<BusHealth> {
    if (this.closed) return { ok: false, detail: "closed" };
    const fullest = [...this.topics.entries()].reduce((a, b) => (b[1].bytes > a[1].bytes ? b : a));
    return {
      ok: true,
      detail: `in-process bus, ${this.partitions} partitions per topic${this.journal ? `, journal ${this.journal.file}` : ", no journal"}; fullest topic ${fullest[0]} at ${Math.round((100 * fullest[1].bytes) / this.maxBytes)}% of its bound`,
    };
  }

  async producer(): Promise<Producer> {
    return {
      send: (topic, messages) => this.send(topic, messages),
      close: async () => {},
    };
  }

  /** Appends once there is room; resolves when the messages are held (and journaled). Calls to one topic apply in order. */
  private send(topic: TopicName, messages: OutgoingMessage[]): Promise<void> {
    const ts = this.topics.get(topic);
    if (!ts) return Promise.reject(new SigilError("bus_unknown_topic", `unknown topic ${String(topic)}`));
    const run = ts.chain.then(() => this.sendNow(topic, ts, messages));
    ts.chain = run.catch(() => {});
    return run;
  }

  private async sendNow(topic: TopicName, ts: TopicState, messages: OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new SigilError("bus_closed", "the bus is closed");
    if (messages.length === 0) return;
    const now = Date.now();
    const incoming: IncomingMessage[] = new Array(messages.length);
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      const value = typeof m.value === "string" ? Buffer.from(m.value) : m.value;
      const p = m.key === null ? this.rr++ % this.partitions : partitionFor(m.key, this.partitions);
      const msg: IncomingMessage = { topic, partition: p, offset: "", key: m.key, value, headers: m.headers ?? {}, timestamp: m.timestamp ?? now };
      incoming[i] = msg;
      bytes += sizeOf(msg);
    }
    await this.waitForRoom(topic, ts, bytes);
    if (this.closed) throw new SigilError("bus_closed", "the bus is closed");
    const next = ts.parts.map((l) => l.end);
    const touched = new Set<number>();
    for (const msg of incoming) {
      msg.offset = String(next[msg.partition]++);
      touched.add(msg.partition);
    }
    if (this.journal) {
      const rows: JournalRow[] = incoming.map((m) => ({ topic, partition: m.partition, offset: Number(m.offset), key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp }));
      try {
        this.journal.append(
          rows,
          [...touched].map((p) => [topic, p, next[p]]),
        );
      } catch (err) {
        throw new SigilError("bus_journal_write_failed", `cannot write ${incoming.length} message(s) for ${topic} to the bus journal: ${describeError(err)}`, {
          location: { file: this.journal.file },
          hint: "check free disk space and permissions of data_dir; nothing of this send was accepted",
          cause: err,
        });
      }
    }
    for (const msg of incoming) ts.parts[msg.partition].push(msg);
    ts.bytes += bytes;
    buffered().set({ topic }, ts.bytes);
    produced().inc({ bus: "memory", topic }, incoming.length);
    for (const g of this.groups.values()) for (const mem of g.members) if (mem.topics.includes(topic)) mem.wake();
  }

  private async waitForRoom(topic: TopicName, ts: TopicState, bytes: number): Promise<void> {
    if (ts.bytes + bytes <= this.maxBytes) return;
    for (let p = 0; p < this.partitions; p++) this.trim(topic, p, true);
    if (ts.bytes + bytes <= this.maxBytes) return;
    if (bytes > this.maxBytes) {
      throw new SigilError("bus_message_too_large", `a send of ${bytes} bytes to ${topic} is larger than the in-process bus holds per topic (${this.maxBytes} bytes)`, {
        location: { key: "bus.memory.max_buffered_bytes" },
        hint: "send smaller batches, or raise bus.memory.max_buffered_bytes",
      });
    }
    const deadline = Date.now() + this.sendTimeoutMs;
    while (ts.bytes + bytes > this.maxBytes) {
      if (this.closed) throw new SigilError("bus_closed", "the bus is closed");
      const left = deadline - Date.now();
      if (left <= 0) throw this.fullError(topic, ts);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          ts.roomWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 1000));
        ts.roomWaiters.add(done);
      });
      for (let p = 0; p < this.partitions; p++) this.trim(topic, p, true);
    }
  }

  private fullError(topic: TopicName, ts: TopicState): SigilError {
    // Name the group holding the most back, so the message says whom to look at.
    let worst: { group: string; behind: number; partition: number } | null = null;
    ts.parts.forEach((log, p) => {
      for (const g of this.groups.values()) {
        if (!this.pins(g, topic, p)) continue;
        const at = this.groupFloor(g, topic, p, log);
        const behind = log.end - at;
        if (!worst || behind > worst.behind) worst = { group: g.id, behind, partition: p };
      }
    });
    const w = worst as { group: string; behind: number; partition: number } | null;
    return new SigilError(
      "bus_full",
      `the in-process bus is full for ${topic} (${ts.bytes} of ${this.maxBytes} bytes) and consumers did not catch up within ${this.sendTimeoutMs} ms${w ? `; group ${w.group} is ${w.behind} messages behind on partition ${w.partition}` : ""}`,
      {
        location: { key: "bus.memory.max_buffered_bytes" },
        hint: "the consuming role is slower than the producers or stuck (see its logs); raise bus.memory.max_buffered_bytes or bus.memory.send_timeout_ms for bursts",
      },
    );
  }

  /** Whether a group holds back the deletion of a partition's messages: it has members, or had recently. */
  private pins(g: Group, topic: TopicName, p: number): boolean {
    if (g.members.some((m) => m.topics.includes(topic))) return true;
    return g.committed.has(tpKey(topic, p)) && Date.now() - g.lastActive < this.emptyGroupHoldMs;
  }

  /** The lowest offset a group still needs in a partition. */
  private groupFloor(g: Group, topic: TopicName, p: number, log: PartitionLog): number {
    const k = tpKey(topic, p);
    const c = g.committed.get(k);
    if (c !== undefined) return c;
    let floor = Infinity;
    for (const m of g.members) {
      if (!m.topics.includes(topic)) continue;
      const pos = m.positions.get(k);
      floor = Math.min(floor, pos ?? (m.fromBeginning ? log.base : log.end));
    }
    return floor === Infinity ? log.base : floor;
  }

  /**
   * Drops what every pinning group has committed, keeping the newest `retention` messages unless
   * `underPressure`. Idle groups past their hold stop pinning; what they had not committed is counted as expired.
   */
  private trim(topic: TopicName, partition: number, underPressure = false): void {
    const ts = this.topics.get(topic)!;
    const log = ts.parts[partition];
    let floor = log.end;
    let idleFloor = log.end;
    for (const g of this.groups.values()) {
      const k = tpKey(topic, partition);
      if (this.pins(g, topic, partition)) floor = Math.min(floor, this.groupFloor(g, topic, partition, log));
      else if (g.committed.has(k)) idleFloor = Math.min(idleFloor, g.committed.get(k)!);
    }
    const keepFrom = underPressure ? floor : Math.min(floor, log.end - this.retention);
    if (keepFrom <= log.base) return;
    const lost = Math.max(0, Math.min(keepFrom, log.end) - Math.max(idleFloor, log.base));
    if (lost > 0 && idleFloor < keepFrom) {
      expired().inc({ bus: "memory", topic }, lost);
      this.log.warn({ topic, partition, messages: lost }, "dropped messages an idle consumer group had not committed (it has had no members for longer than its hold)");
    }
    ts.bytes -= log.dropBefore(keepFrom);
    buffered().set({ topic }, ts.bytes);
    if (this.journal && log.base - log.journalTrimmed >= 512) {
      this.journal.trim(topic, partition, log.base);
      log.journalTrimmed = log.base;
    }
    for (const w of [...ts.roomWaiters]) w();
  }

  async consumer(opts: ConsumerOptions): Promise<Consumer> {
    if (this.closed) throw new SigilError("bus_closed", "the bus is closed");
    const group = this.group(opts.groupId);
    const exclusive = opts.exclusive ?? false;
    const other = group.members.find((m) => m.exclusive !== exclusive);
    if (other) {
      throw new SigilError("bus_group_mode_mismatch", `consumer group ${opts.groupId} has members ${other.exclusive ? "with" : "without"} exclusive assignment; a new member must use the same mode`, {
        location: { key: "groupId" },
        hint: "use one consumer group per assignment mode",
      });
    }
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- closures below outlive `this` binding
    const bus = this;
    const maxBatch = Math.max(1, opts.maxBatchSize ?? 1000);
    let wakeResolve: (() => void) | null = null;
    const member: Member = {
      id: randomUUID(),
      topics: [...new Set(opts.topics)],
      fromBeginning: opts.fromBeginning ?? true,
      assigned: [],
      exclusive,
      positions: new Map(),
      wake: () => {
        const r = wakeResolve;
        wakeResolve = null;
        r?.();
      },
    };
    let running = false;
    let stopping = false;
    let loopDone: Promise<void> = Promise.resolve();
    // A rebalance wakes every member; each computes its share (round-robin in join order, or
    // everything for the longest-standing member when exclusive) and takes a partition only once its
    // previous owner released it after finishing its batch.
    const rebalance = () => {
      for (const m of group.members) m.wake();
    };

    const computeAssignment = (): TopicPartition[] => {
      const next: TopicPartition[] = [];
      if (!group.members.includes(member)) return next;
      for (const t of member.topics) {
        const subs = group.members.filter((x) => x.topics.includes(t));
        const idx = subs.indexOf(member);
        if (exclusive) {
          if (idx === 0) for (let p = 0; p < bus.partitions; p++) next.push({ topic: t, partition: p });
          continue;
        }
        for (let p = 0; p < bus.partitions; p++) if (p % subs.length === idx) next.push({ topic: t, partition: p });
      }
      return next;
    };

    const release = async (parts: TopicPartition[]) => {
      if (!parts.length) return;
      try {
        await opts.onRevoked?.(parts);
      } catch (err) {
        bus.log.error({ group: group.id, err: describeError(err) }, "onRevoked failed; partitions released anyway");
      }
      for (const tp of parts) {
        group.owners.delete(tpKey(tp.topic, tp.partition));
        member.positions.delete(tpKey(tp.topic, tp.partition));
      }
    };

    const loop = async (handler: BatchHandler) => {
      let cursor = 0;
      let failures = 0;
      while (!stopping) {
        // apply assignment changes between batches, never during one
        const want = computeAssignment().filter((tp) => {
          const owner = group.owners.get(tpKey(tp.topic, tp.partition));
          return owner === undefined || owner === member.id;
        });
        const changed = want.length !== member.assigned.length || want.some((tp, i) => tp.topic !== member.assigned[i]?.topic || tp.partition !== member.assigned[i]?.partition);
        if (changed) {
          const revoked = member.assigned.filter((a) => !want.some((w) => w.topic === a.topic && w.partition === a.partition));
          const added = want.filter((w) => !member.assigned.some((a) => a.topic === w.topic && a.partition === w.partition));
          await release(revoked);
          for (const tp of added) group.owners.set(tpKey(tp.topic, tp.partition), member.id);
          if (added.length) {
            try {
              await opts.onAssigned?.(added, { resumed: false });
            } catch (err) {
              // Hand them back and try again shortly: never process a partition whose state did not load.
              bus.log.error({ group: group.id, err: describeError(err) }, "onAssigned failed; retrying the assignment");
              for (const tp of added) group.owners.delete(tpKey(tp.topic, tp.partition));
              member.assigned = member.assigned.filter((a) => !revoked.includes(a));
              if (revoked.length) rebalance();
              await sleep(500);
              continue;
            }
            for (const tp of added) {
              const log = bus.topics.get(tp.topic)!.parts[tp.partition];
              const c = group.committed.get(tpKey(tp.topic, tp.partition));
              member.positions.set(tpKey(tp.topic, tp.partition), c ?? (member.fromBeginning ? log.base : log.end));
            }
          }
          member.assigned = want;
          if (revoked.length) rebalance();
        }
        let batch: Batch | null = null;
        for (let i = 0; i < member.assigned.length; i++) {
          const tp = member.assigned[(cursor + i) % member.assigned.length];
          const log = bus.topics.get(tp.topic)!.parts[tp.partition];
          const k = tpKey(tp.topic, tp.partition);
          const from = Math.max(member.positions.get(k) ?? log.base, log.base);
          if (from < log.end) {
            batch = { topic: tp.topic, partition: tp.partition, messages: log.slice(from, maxBatch), end: String(log.end) };
            cursor = (cursor + i + 1) % Math.max(1, member.assigned.length);
            break;
          }
        }
        if (!batch) {
          await new Promise<void>((resolve) => {
            wakeResolve = resolve;
            setTimeout(resolve, 200).unref?.();
          });
          continue;
        }
        try {
          // one batch at a time here: a taken batch commits (and the next is read) once it is durable
          const taken = await handler(batch);
          if (taken) await taken.durable;
        } catch (err) {
          failures++;
          redeliveries().inc({ bus: "memory", topic: batch.topic });
          const delay = Math.random() * Math.min(5_000, 50 * 2 ** Math.min(failures, 10));
          if ((failures & (failures - 1)) === 0) {
            bus.log.warn({ group: group.id, topic: batch.topic, partition: batch.partition, offset: batch.messages[0].offset, attempt: failures, err: describeError(err) }, "batch handler failed; redelivering the batch");
          }
          const until = Date.now() + delay;
          while (!stopping && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
          continue;
        }
        failures = 0;
        const k = tpKey(batch.topic, batch.partition);
        const next = Number(batch.messages[batch.messages.length - 1].offset) + 1;
        member.positions.set(k, next);
        group.committed.set(k, next);
        group.lastActive = Date.now();
        if (bus.journal && !bus.closed) bus.journal.commit(group.id, batch.topic, batch.partition, next);
        consumed().inc({ bus: "memory", topic: batch.topic }, batch.messages.length);
        bus.trim(batch.topic, batch.partition);
      }
      const held = member.assigned;
      member.assigned = [];
      await release(held);
    };

    group.members.push(member);
    group.lastActive = Date.now();
    rebalance();

    const consumer: Consumer = {
      run: async (handler) => {
        if (running) throw new SigilError("bus_consumer_running", "this consumer is already running");
        running = true;
        loopDone = loop(handler).catch((err) => bus.log.error({ group: group.id, err: describeError(err) }, "consumer loop stopped on an error"));
      },
      lag: async (): Promise<PartitionLag[]> =>
        member.assigned.map((tp) => {
          const log = bus.topics.get(tp.topic)!.parts[tp.partition];
          const at = group.committed.get(tpKey(tp.topic, tp.partition)) ?? member.positions.get(tpKey(tp.topic, tp.partition)) ?? log.base;
          return { ...tp, lag: Math.max(0, log.end - at) };
        }),
      assignment: () => [...member.assigned],
      close: async () => {
        if (stopping) return loopDone;
        stopping = true;
        const i = group.members.indexOf(member);
        if (i >= 0) group.members.splice(i, 1);
        group.lastActive = Date.now();
        member.wake();
        await loopDone;
        bus.consumers.delete(consumer);
        rebalance();
      },
    };
    this.consumers.add(consumer);
    return consumer;
  }

  /** Messages currently held in a partition (for tests). */
  size(topic: TopicName, partition?: number): number {
    const parts = this.topics.get(topic)!.parts;
    return partition === undefined ? parts.reduce((s, l) => s + l.count, 0) : parts[partition].count;
  }

  /** Bytes currently held for a topic (for tests and health). */
  bufferedBytes(topic: TopicName): number {
    return this.topics.get(topic)!.bytes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.close()));
    this.closed = true;
    for (const ts of this.topics.values()) for (const w of [...ts.roomWaiters]) w();
    if (this.journal) {
      for (const [t, ts] of this.topics) ts.parts.forEach((log, p) => log.base > log.journalTrimmed && this.journal!.trim(t, p, log.base));
      this.journal.close();
    }
  }
}
