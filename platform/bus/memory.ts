// The in-process bus: the same topics, keys, partitions, consumer groups and commit-after-processing
// semantics as Kafka, inside one process. Used by the embedded default and by unit tests.

import { randomUUID } from "node:crypto";
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
  /** Messages kept per partition once every group has committed past them. */
  retentionMessages?: number;
}

interface PartitionLog {
  /** Offset of messages[0]. */
  base: number;
  messages: IncomingMessage[];
}

interface Member {
  id: string;
  topics: TopicName[];
  assigned: TopicPartition[];
  wake: () => void;
}

interface Group {
  members: Member[];
  committed: Map<string, number>; // "topic/partition" → next offset to read
  owners: Map<string, string>; // "topic/partition" → member id holding it now
  fromBeginning: boolean;
}

const tpKey = (t: TopicName, p: number) => `${t}/${p}`;

export class MemoryBus implements Bus {
  readonly kind = "memory" as const;
  readonly partitions: number;
  private readonly prefix: string;
  private readonly retention: number;
  private readonly logs = new Map<TopicName, PartitionLog[]>();
  private readonly groups = new Map<string, Group>();
  private rr = 0;
  private closed = false;

  constructor(opts: MemoryBusOptions = {}) {
    this.partitions = opts.partitions ?? 6;
    this.prefix = opts.topicPrefix ?? "";
    this.retention = opts.retentionMessages ?? 100_000;
    for (const t of TOPIC_NAMES) {
      this.logs.set(t, Array.from({ length: this.partitions }, () => ({ base: 0, messages: [] })));
    }
  }

  topicName(name: TopicName): string {
    return this.prefix + TOPICS[name];
  }

  async ensureTopics(): Promise<void> {
    // topics exist from construction
  }

  async health(): Promise<BusHealth> {
    return { ok: !this.closed, detail: this.closed ? "closed" : `in-process bus, ${this.partitions} partitions per topic` };
  }

  async producer(): Promise<Producer> {
    return {
      send: async (topic, messages) => this.append(topic, messages),
      close: async () => {},
    };
  }

  /** Appends synchronously; exposed for the journal-backed variant and tests. */
  append(topic: TopicName, messages: OutgoingMessage[]): void {
    if (this.closed) throw new Error("bus is closed");
    const parts = this.logs.get(topic);
    if (!parts) throw new Error(`unknown topic ${topic}`);
    for (const m of messages) {
      const p = m.key === null ? this.rr++ % this.partitions : partitionFor(m.key, this.partitions);
      const log = parts[p];
      log.messages.push({
        topic,
        partition: p,
        offset: String(log.base + log.messages.length),
        key: m.key,
        value: typeof m.value === "string" ? Buffer.from(m.value) : m.value,
        headers: m.headers ?? {},
        timestamp: m.timestamp ?? Date.now(),
      });
    }
    for (const g of this.groups.values()) for (const mem of g.members) if (mem.topics.includes(topic)) mem.wake();
  }

  async consumer(opts: ConsumerOptions): Promise<Consumer> {
    const group: Group = this.groups.get(opts.groupId) ?? { members: [], committed: new Map(), owners: new Map(), fromBeginning: opts.fromBeginning ?? true };
    this.groups.set(opts.groupId, group);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- closures below outlive `this` binding
    const bus = this;
    const maxBatch = opts.maxBatchSize ?? 1000;
    let wakeResolve: (() => void) | null = null;
    const member: Member = {
      id: randomUUID(),
      topics: [...opts.topics],
      assigned: [],
      wake: () => {
        const r = wakeResolve;
        wakeResolve = null;
        r?.();
      },
    };
    let running = false;
    let stopping = false;
    let loopDone: Promise<void> = Promise.resolve();
    // A rebalance wakes every member; each computes its share (round-robin in join order) and
    // takes a partition only once its previous owner released it after finishing its batch.
    const rebalance = () => {
      for (const m of group.members) m.wake();
    };

    const computeAssignment = (): TopicPartition[] => {
      const next: TopicPartition[] = [];
      if (!group.members.includes(member)) return next;
      for (const t of member.topics) {
        const subs = group.members.filter((x) => x.topics.includes(t));
        const idx = subs.indexOf(member);
        for (let p = 0; p < bus.partitions; p++) if (p % subs.length === idx) next.push({ topic: t, partition: p });
      }
      return next;
    };

    const startOffset = (tp: TopicPartition): number => {
      const c = group.committed.get(tpKey(tp.topic, tp.partition));
      if (c !== undefined) return c;
      const log = bus.logs.get(tp.topic)![tp.partition];
      return group.fromBeginning ? log.base : log.base + log.messages.length;
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
          if (revoked.length) await opts.onRevoked?.(revoked);
          for (const tp of revoked) group.owners.delete(tpKey(tp.topic, tp.partition));
          for (const tp of added) group.owners.set(tpKey(tp.topic, tp.partition), member.id);
          member.assigned = want;
          if (revoked.length) rebalance();
          if (added.length) await opts.onAssigned?.(added);
        }
        let batch: Batch | null = null;
        for (let i = 0; i < member.assigned.length; i++) {
          const tp = member.assigned[(cursor + i) % member.assigned.length];
          const log = bus.logs.get(tp.topic)![tp.partition];
          const from = Math.max(startOffset(tp), log.base);
          const idx = from - log.base;
          if (idx < log.messages.length) {
            batch = { topic: tp.topic, partition: tp.partition, messages: log.messages.slice(idx, idx + maxBatch) };
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
          await handler(batch);
          failures = 0;
          const last = batch.messages[batch.messages.length - 1];
          group.committed.set(tpKey(batch.topic, batch.partition), Number(last.offset) + 1);
          bus.trim(batch.topic, batch.partition);
        } catch {
          failures++;
          const delay = Math.random() * Math.min(5_000, 50 * 2 ** Math.min(failures, 10));
          await new Promise((r) => setTimeout(r, delay));
        }
      }
      if (member.assigned.length) await opts.onRevoked?.(member.assigned);
      for (const tp of member.assigned) group.owners.delete(tpKey(tp.topic, tp.partition));
      member.assigned = [];
    };

    group.members.push(member);
    rebalance();

    return {
      run: async (handler) => {
        if (running) throw new Error("consumer already running");
        running = true;
        loopDone = loop(handler);
      },
      lag: async (): Promise<PartitionLag[]> =>
        member.assigned.map((tp) => {
          const log = bus.logs.get(tp.topic)![tp.partition];
          return { ...tp, lag: log.base + log.messages.length - startOffset(tp) };
        }),
      assignment: () => [...member.assigned],
      close: async () => {
        stopping = true;
        const i = group.members.indexOf(member);
        if (i >= 0) group.members.splice(i, 1);
        member.wake();
        await loopDone;
        rebalance();
      },
    };
  }

  /** Drops messages every group has committed, keeping the newest `retention` messages per partition. */
  private trim(topic: TopicName, partition: number): void {
    const log = this.logs.get(topic)![partition];
    let minCommitted = log.base + log.messages.length;
    for (const g of this.groups.values()) {
      if (!g.members.some((m) => m.topics.includes(topic)) && !g.committed.has(tpKey(topic, partition))) continue;
      minCommitted = Math.min(minCommitted, g.committed.get(tpKey(topic, partition)) ?? log.base);
    }
    const keepFrom = Math.min(minCommitted, log.base + log.messages.length - this.retention);
    const drop = keepFrom - log.base;
    if (drop > 0) {
      log.messages.splice(0, drop);
      log.base += drop;
    }
  }

  /** Messages currently held in a partition (for tests and the journal). */
  size(topic: TopicName, partition?: number): number {
    const parts = this.logs.get(topic)!;
    return partition === undefined ? parts.reduce((s, l) => s + l.messages.length, 0) : parts[partition].messages.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const g of this.groups.values()) for (const m of g.members) m.wake();
  }
}
