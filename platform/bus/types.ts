// The bus interface every part uses between stages: keyed messages on named topics, batches,
// consumer groups, commit only after the handler finished. Implementations: in-process and Kafka.

/** Logical topic names; the bus adds its configured prefix to form the real topic name. */
export const TOPICS = {
  events: "sigil.events",
  signals: "sigil.signals",
  alerts: "sigil.alerts",
  dlq: "sigil.dlq",
} as const;
export type TopicName = keyof typeof TOPICS;
export const TOPIC_NAMES = Object.keys(TOPICS) as TopicName[];

export interface OutgoingMessage {
  /** Partition key (events: host.name else service.name; signals: group-by value; alerts: chain id; dlq: source). */
  key: string | null;
  value: Buffer | string;
  headers?: Record<string, string>;
  /** Milliseconds since the epoch; defaults to now. */
  timestamp?: number;
}

export interface IncomingMessage {
  topic: TopicName;
  partition: number;
  /** Offset as a decimal string (Kafka offsets exceed 2^53 in theory). */
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: number;
}

export interface Batch {
  topic: TopicName;
  partition: number;
  messages: IncomingMessage[];
  /**
   * The partition's end (the offset after its newest message) when the batch was fetched: a reader whose
   * batch ends there has read everything written so far. Absent when the bus cannot tell.
   */
  end?: string;
}

export interface TopicPartition {
  topic: TopicName;
  partition: number;
}

export interface Producer {
  /** Resolves once the bus has durably accepted every message (Kafka: acks from all in-sync replicas). */
  send(topic: TopicName, messages: OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
  /**
   * True when no key or value Buffer of a send is read again once its promise settled (accepted or
   * failed: the bus copied the bytes, e.g. into a Kafka produce request), so the caller may reuse those
   * buffers. Absent or false: the bus may keep them (the in-process bus stores the messages as given).
   */
  readonly copiesOnSend?: boolean;
}

export interface ConsumerOptions {
  groupId: string;
  topics: TopicName[];
  /** Where a group with no committed offset starts: the earliest message (default) or only new ones. */
  fromBeginning?: boolean;
  /** Upper bound on messages per handler call. */
  maxBatchSize?: number;
  /**
   * Partitions whose batches this member may handle at the same time (order stays per partition; each
   * partition still commits only after its own batch resolved). Kafka: default
   * `bus.kafka.consumer_concurrency`; the in-process bus handles one batch at a time.
   */
  concurrency?: number;
  /**
   * Called after partitions are assigned to this member, before their first batch. `resumed`: this
   * member held exactly these partitions in the group generation right before this one, so nobody else
   * handled them in between (Kafka's eager rebalance revokes everything and assigns it again); state
   * kept in memory since onRevoked is still current.
   */
  onAssigned?: (parts: TopicPartition[], info: { resumed: boolean }) => Promise<void> | void;
  /** Called when partitions are taken away, after their in-flight batch finished and was committed. */
  onRevoked?: (parts: TopicPartition[]) => Promise<void> | void;
  /**
   * Every partition of the group's topics goes to one member at a time (active/standby), for state
   * that needs every message in one place, such as the chain builder. The member that holds them
   * keeps them while it lives (a new member joining does not take them over); when it leaves or fails
   * (Kafka: its session times out) another member gets them all, with the usual hooks and from the
   * committed offsets. Every member of a group must use the same mode.
   */
  exclusive?: boolean;
  /**
   * Messages of taken batches (`BatchTaken`) this member holds before the next batch waits for its own
   * `durable`: default `MAX_TAKEN_MESSAGES`. The in-process bus holds one batch at a time anyway.
   */
  maxTakenMessages?: number;
}

/**
 * What a handler may return instead of resolving only once its batch's work is durable: the batch is
 * taken (its messages are in the handler's state), and `durable` settles when that work is stored. The
 * member goes on with the next batches at once and commits each batch's offsets when its `durable`
 * resolves, in order per partition; when one rejects, the partition is redelivered from that batch
 * (batches taken after it come again too). For a handler whose writes are grouped across batches (the
 * chain builder's rounds), so its intake does not wait for a round trip to the store.
 */
export interface BatchTaken {
  durable: Promise<void>;
}

export type BatchHandler = (batch: Batch) => Promise<void | BatchTaken>;

/**
 * What a member holds taken but not yet durable, at most: past either bound the next batch waits for its
 * own `durable` (back-pressure). Messages bound the memory (the handler holds their work); batches bound the
 * per-partition promise chains. A handler whose store rounds slow down for seconds (a store starved of CPU)
 * keeps taking small batches meanwhile, so what it publishes before its writes is not held up by them.
 */
export const MAX_TAKEN_BATCHES = 512;
export const MAX_TAKEN_MESSAGES = 10_000;

export interface PartitionLag extends TopicPartition {
  /** Messages produced but not yet committed by this group. */
  lag: number;
}

export interface Consumer {
  /**
   * Starts consuming. Each batch's offsets are committed only after the handler resolved (or, when it
   * returned a BatchTaken, after its `durable` resolved); when it throws (or `durable` rejects), the
   * batch is redelivered after a capped, jittered backoff (at-least-once).
   */
  run(handler: BatchHandler): Promise<void>;
  /** Current lag per assigned partition. */
  lag(): Promise<PartitionLag[]>;
  /** Partitions this member holds now. */
  assignment(): TopicPartition[];
  /** Finishes the in-flight batch and waits for taken batches to be durable, commits them, leaves the group. */
  close(): Promise<void>;
}

export interface BusHealth {
  ok: boolean;
  detail: string;
}

export interface Bus {
  readonly kind: "memory" | "kafka";
  /** Real topic name for a logical one (with the configured prefix). */
  topicName(name: TopicName): string;
  /** Creates the four topics with the configured partition count if they do not exist. */
  ensureTopics(): Promise<void>;
  /** How many partitions a topic has (keys land on partitionFor(key, count)). */
  partitionCount(name: TopicName): Promise<number>;
  producer(): Promise<Producer>;
  consumer(opts: ConsumerOptions): Promise<Consumer>;
  health(): Promise<BusHealth>;
  close(): Promise<void>;
}

/** JSON codec for message values. */
export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
