// Kafka implementation of the bus (kafkajs 2.2.4): topics created explicitly (never auto-created),
// an idempotent compressing producer (gzip or LZ4) that batches, consumer groups with eachBatch that commit
// only after the handler resolved, redelivery with capped jittered backoff, exact rebalance hooks, lag and health.

// First: installs the fast record encoder and partition grouping before kafkajs' producer loads.
import { fastProducePath, lz4Codec } from "./kafka-produce.ts";
import kafkajs from "kafkajs";
import type { Admin, Consumer as KConsumer, EachBatchPayload, IHeaders, Kafka as KafkaClient, KafkaConfig, Message, PartitionAssigner, Producer as KProducer } from "kafkajs";
import { SigilError, describeError } from "../errors.ts";
import type { BusConfig } from "../config/schema.ts";
import { logger as makeLogger, type Logger } from "../telemetry/log.ts";
import { metric, prom } from "../telemetry/metrics.ts";
import { partitionFor } from "./partitioner.ts";
import { backoffMs, isFatalKafkaError, kafkaClientConfig, kafkaError } from "./kafka-client.ts";
import { hookedAssigner } from "./kafka-hooks.ts";
import { exclusiveAssigner } from "./kafka-exclusive.ts";
import {
  TOPIC_NAMES,
  TOPICS,
  type BatchHandler,
  type BatchTaken,
  MAX_TAKEN_BATCHES,
  MAX_TAKEN_MESSAGES,
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

const { Kafka, CompressionTypes, CompressionCodecs, PartitionAssigners, KafkaJSError } = kafkajs;

// LZ4 for every producer and consumer in the process (kafkajs ships only gzip).
CompressionCodecs[CompressionTypes.LZ4] = () => lz4Codec;

const produced = () =>
  metric("sigil_bus_messages_produced_total", () => new prom.Counter({ name: "sigil_bus_messages_produced_total", help: "Messages the bus acknowledged", labelNames: ["bus", "topic"] }));
const produceRequests = () =>
  metric("sigil_bus_produce_requests_total", () => new prom.Counter({ name: "sigil_bus_produce_requests_total", help: "Produce requests the broker acknowledged (concurrent sends to a topic share one)", labelNames: ["bus", "topic"] }));
const consumed = () =>
  metric("sigil_bus_messages_consumed_total", () => new prom.Counter({ name: "sigil_bus_messages_consumed_total", help: "Messages handled and committed", labelNames: ["bus", "topic"] }));
const redeliveries = () =>
  metric("sigil_bus_redeliveries_total", () => new prom.Counter({ name: "sigil_bus_redeliveries_total", help: "Batches redelivered after the handler failed", labelNames: ["bus", "topic"] }));
const producerRenewals = () =>
  metric("sigil_bus_producer_renewals_total", () => new prom.Counter({ name: "sigil_bus_producer_renewals_total", help: "Producers replaced by a new producer id after a failed send", labelNames: ["bus"] }));
const takenMessages = () =>
  metric("sigil_bus_taken_messages", () => new prom.Gauge({ name: "sigil_bus_taken_messages", help: "Messages of batches a consumer took whose work is not yet durable (uncommitted)", labelNames: ["bus", "topic"] }));
const rebalances = () =>
  metric("sigil_bus_rebalances_total", () => new prom.Counter({ name: "sigil_bus_rebalances_total", help: "Partition assignments received by consumers", labelNames: ["bus"] }));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Partition of a key for n partitions, remembered (keys are entities: few, and seen again and again). Bounded. */
function cachedPartitioner(): (key: string, n: number) => number {
  const cache = new Map<string, number>();
  let cachedN = -1;
  return (key, n) => {
    if (n !== cachedN || cache.size >= 16_384) {
      cache.clear();
      cachedN = n;
    }
    let p = cache.get(key);
    if (p === undefined) {
      p = partitionFor(key, n);
      cache.set(key, p);
    }
    return p;
  };
}

/** Kafka's murmur2 partitioner for keys (the same function as partitioner.ts and the in-process bus); round robin for null keys. */
const sigilPartitioner = () => {
  let rr = 0;
  const partitionOf = cachedPartitioner();
  return ({ partitionMetadata, message }: { partitionMetadata: { partitionId: number }[]; message: Message }): number => {
    const n = partitionMetadata.length;
    if (message.key === null || message.key === undefined) return rr++ % n;
    const key = typeof message.key === "string" ? message.key : message.key.toString("utf8");
    return partitionOf(key, n);
  };
};

function headersOut(h: Record<string, string> | undefined): IHeaders | undefined {
  return h && Object.keys(h).length ? h : undefined;
}

function headersIn(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (!h) return out;
  for (const [k, v] of Object.entries(h)) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined) out[k] = typeof one === "string" ? one : one.toString("utf8");
  }
  return out;
}

export interface KafkaBusOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
}

export class KafkaBus implements Bus {
  readonly kind = "kafka" as const;
  private readonly kafka: KafkaClient;
  /** The client settings, for the client each group member gets of its own. */
  private readonly clientCfg: KafkaConfig;
  /** Same settings without kafkajs' retries: start-up attempts whose backoff and messages are ours. */
  private readonly probeClient: KafkaClient;
  private readonly admin: Admin;
  private readonly log: Logger;
  private readonly byRealName = new Map<string, TopicName>();
  private readonly producers = new Set<Producer>();
  private readonly consumers = new Set<Consumer>();
  private topicsReady: Promise<void> | null = null;
  /** Partitions per real topic name, as the cluster reported them (producers size their requests by partition). */
  private readonly partitionCounts = new Map<string, number>();
  private closed = false;

  private constructor(
    readonly cfg: BusConfig,
    opts: KafkaBusOptions,
  ) {
    this.log = opts.logger ?? makeLogger("bus", { bus: "kafka" });
    const clientCfg = kafkaClientConfig(cfg, this.log, opts.env);
    this.clientCfg = clientCfg;
    this.kafka = new Kafka(clientCfg);
    this.probeClient = new Kafka({ ...clientCfg, retry: { retries: 0 } });
    this.admin = this.kafka.admin();
    for (const t of TOPIC_NAMES) this.byRealName.set(this.topicName(t), t);
  }

  /**
   * Connects to the cluster, retrying an unreachable one with capped exponential backoff and jitter
   * for bus.kafka.startup_timeout_ms; fails with a SigilError naming the brokers (bad credentials and
   * TLS mismatches fail at once: retrying will not fix them).
   */
  static async connect(cfg: BusConfig, opts: KafkaBusOptions = {}): Promise<KafkaBus> {
    const bus = new KafkaBus(cfg, opts);
    const k = cfg.kafka;
    const deadline = Date.now() + k.startup_timeout_ms;
    for (let attempt = 1; ; attempt++) {
      // Each attempt without kafkajs' own retries, so the backoff and the messages are ours.
      const probe = bus.probeClient.admin({ retry: { retries: 0 } });
      try {
        await probe.connect();
        await probe.describeCluster();
        await probe.disconnect();
        await bus.admin.connect();
        bus.log.info({ brokers: k.brokers.join(","), tls: k.tls.enabled, sasl: k.sasl.mechanism }, "connected to Kafka");
        return bus;
      } catch (err) {
        await probe.disconnect().catch(() => {});
        await bus.admin.disconnect().catch(() => {});
        const wait = backoffMs(attempt, 500, k.retry_max_ms);
        if (isFatalKafkaError(err) || Date.now() + wait > deadline) throw kafkaError(err, "cannot connect to the bus", k.brokers, "bus_unreachable");
        bus.log.warn({ brokers: k.brokers.join(","), attempt, retry_in_ms: wait, err: describeError(err) }, "Kafka is not reachable yet; retrying");
        await sleep(wait);
      }
    }
  }

  topicName(name: TopicName): string {
    return this.cfg.topic_prefix + TOPICS[name];
  }

  /** Creates the four topics with the configured partitions and replication factor; reports existing ones that differ. */
  ensureTopics(): Promise<void> {
    if (!this.topicsReady) {
      this.topicsReady = this.createTopics().catch((err) => {
        this.topicsReady = null;
        throw err;
      });
    }
    return this.topicsReady;
  }

  private async createTopics(): Promise<void> {
    const { partitions, kafka: k } = this.cfg;
    const names = TOPIC_NAMES.map((t) => this.topicName(t));
    try {
      const existing = new Set(await this.admin.listTopics());
      const missing = names.filter((n) => !existing.has(n));
      if (missing.length) {
        try {
          await this.admin.createTopics({
            // kafkajs' own wait gives up on "unknown topic", which a loaded KRaft broker answers until its
            // metadata cache caught up; topicsWithLeaders below waits for that instead.
            waitForLeaders: false,
            timeout: k.request_timeout_ms,
            topics: missing.map((topic) => ({
              topic,
              numPartitions: partitions,
              replicationFactor: k.replication_factor,
              configEntries: [{ name: "min.insync.replicas", value: String(k.replication_factor >= 3 ? 2 : 1) }],
            })),
          });
          this.log.info({ topics: missing.join(","), partitions, replication_factor: k.replication_factor }, "created topics");
        } catch (err) {
          // Another instance of a role may have created them at the same moment: that is fine.
          if (!/already exists|TOPIC_ALREADY_EXISTS/i.test(describeError(err))) throw err;
        }
      }
      const meta = await this.topicsWithLeaders(names);
      for (const t of meta) {
        this.partitionCounts.set(t.name, t.partitions.length);
        if (t.partitions.length !== partitions) {
          this.log.warn({ topic: t.name, partitions: t.partitions.length, configured: partitions }, "topic exists with a different partition count; keys map to partitions by the existing count");
        }
      }
    } catch (err) {
      const text = describeError(err);
      if (/replication factor/i.test(text) || /INVALID_REPLICATION_FACTOR/.test(text)) {
        throw new SigilError("bus_topic_create_failed", `cannot create topics with replication factor ${k.replication_factor}: ${text}`, {
          location: { key: "bus.kafka.replication_factor", address: k.brokers.join(",") },
          hint: "the replication factor cannot exceed the number of brokers",
        });
      }
      throw kafkaError(err, "cannot create the bus topics", k.brokers, "bus_topic_create_failed");
    }
  }

  /**
   * Metadata of the topics once every partition has a leader. A just-created topic reaches the
   * brokers' metadata asynchronously (KRaft), so "unknown topic" and "no leader" are retried, with
   * backoff, up to the request timeout.
   */
  private async topicsWithLeaders(names: string[]): Promise<{ name: string; partitions: { partitionId: number; leader: number }[] }[]> {
    const deadline = Date.now() + this.cfg.kafka.request_timeout_ms;
    for (let attempt = 1; ; attempt++) {
      let pending: string;
      try {
        const meta = await this.admin.fetchTopicMetadata({ topics: names });
        const leaderless = meta.topics.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
        if (!leaderless.length) return meta.topics;
        pending = `no leader yet for ${leaderless.map((t) => t.name).join(", ")}`;
      } catch (err) {
        const text = describeError(err);
        if (!/does not host this topic-partition|UNKNOWN_TOPIC_OR_PARTITION|LEADER_NOT_AVAILABLE|leader is not available|There is no leader/i.test(text)) throw err;
        pending = text;
      }
      if (Date.now() > deadline) throw new Error(`the topics did not become available within ${this.cfg.kafka.request_timeout_ms} ms: ${pending}`);
      await sleep(backoffMs(attempt, 100, 2000));
    }
  }

  async partitionCount(name: TopicName): Promise<number> {
    const [t] = await this.topicsWithLeaders([this.topicName(name)]);
    return t.partitions.length;
  }

  async health(): Promise<BusHealth> {
    if (this.closed) return { ok: false, detail: "closed" };
    let timer: NodeJS.Timeout | undefined;
    try {
      const c = await Promise.race([
        this.admin.describeCluster(),
        new Promise<never>((_, reject) => {
          // unref'd and cleared: a health probe must not keep the process alive after shutdown
          timer = setTimeout(() => reject(new Error(`no answer within ${this.cfg.kafka.request_timeout_ms} ms`)), this.cfg.kafka.request_timeout_ms);
          timer.unref();
        }),
      ]);
      return { ok: true, detail: `Kafka at ${this.cfg.kafka.brokers.join(",")}: ${c.brokers.length} broker(s), cluster ${c.clusterId}` };
    } catch (err) {
      return { ok: false, detail: kafkaError(err, "health check", this.cfg.kafka.brokers).message };
    } finally {
      clearTimeout(timer);
    }
  }

  async producer(): Promise<Producer> {
    if (this.closed) throw new SigilError("bus_closed", "the bus is closed");
    await this.ensureTopics();
    const k = this.cfg.kafka;
    const create = (): KProducer =>
      this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: sigilPartitioner,
      });
    let p: KProducer = create();
    try {
      await p.connect();
    } catch (err) {
      throw kafkaError(err, "cannot start a producer", k.brokers);
    }
    /**
     * A send that failed may still have been written (the broker appended the batch, the answer was lost
     * as it went down). kafkajs then hands the same sequence numbers to the next batch, which the broker
     * takes for a duplicate of the written one and drops without an error when its record count matches.
     * So after any failed send the next one goes out under a new producer id: a resend of the same
     * messages may then be stored twice (readers deduplicate by id), but nothing is dropped silently.
     */
    let suspect = false;
    /**
     * Sends go out one at a time (idempotence: one request in flight per broker), so a send after a
     * failure always sees the failure. Sends made while one is in flight wait together: the next request
     * carries all of a topic's waiting messages, whoever sent them (group commit), so callers that send
     * at the same time (correlate's partitions, its chain builder) share a round trip instead of queueing
     * one round trip each. Each caller's promise settles with the request that carried its messages.
     */
    type Waiting = { parts: OutgoingMessage[][]; callers: Array<{ resolve: () => void; reject: (err: unknown) => void }> };
    const waiting = new Map<TopicName, Waiting>();
    let pumping: Promise<void> | null = null;
    const pump = async (): Promise<void> => {
      while (waiting.size) {
        const [topic, w] = waiting.entries().next().value as [TopicName, Waiting];
        waiting.delete(topic); // a topic sent to meanwhile queues behind the other topics waiting: round robin
        try {
          await sendNow(topic, w.parts.length === 1 ? w.parts[0] : w.parts.flat());
          for (const c of w.callers) c.resolve();
        } catch (err) {
          if (w.parts.length === 1) {
            w.callers[0].reject(err);
            continue;
          }
          // one caller's message (one the broker refuses, say) must not fail the others that shared the
          // request: each sends again on its own (under a new producer id, as after any failure)
          for (let i = 0; i < w.parts.length; i++) {
            try {
              await sendNow(topic, w.parts[i]);
              w.callers[i].resolve();
            } catch (e) {
              w.callers[i].reject(e);
            }
          }
        }
      }
      pumping = null;
    };
    const renew = async () => {
      await p.disconnect().catch(() => {});
      p = create();
      try {
        await p.connect();
      } catch (err) {
        throw kafkaError(err, "cannot start a new producer after a failed send", k.brokers, "bus_send_failed");
      }
      suspect = false;
      producerRenewals().inc({ bus: "kafka" });
      this.log.info("producer renewed after a failed send (new producer id)");
    };
    const compression = k.compression === "gzip" ? CompressionTypes.GZIP : k.compression === "lz4" ? CompressionTypes.LZ4 : CompressionTypes.None;
    const counter = produced();
    const requests = produceRequests();
    const partitionOf = cachedPartitioner();
    if (!fastProducePath) this.log.warn("kafkajs' producer was loaded before the bus: its slower record encoder is in use (same bytes on the wire)");
    const handle: Producer = {
      // every send encodes its messages into produce requests (kafka-produce.ts or kafkajs' encoder) before it settles
      copiesOnSend: true,
      send: (topic, messages) => {
        if (messages.length === 0) return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          let w = waiting.get(topic);
          if (!w) waiting.set(topic, (w = { parts: [], callers: [] }));
          w.parts.push(messages);
          w.callers.push({ resolve, reject });
          pumping ??= pump();
        });
      },
      close: async () => {
        this.producers.delete(handle);
        await pumping;
        await p.disconnect().catch(() => {});
      },
    };
    const sendNow = async (topic: TopicName, messages: OutgoingMessage[]): Promise<void> => {
      if (suspect) await renew();
      const real = this.topicName(topic);
      const n = this.partitionCounts.get(real) ?? this.cfg.partitions;
      // One produce request carries a record batch per partition; the broker limits each batch
      // (message.max.bytes), so requests are split when one partition's uncompressed bytes would exceed
      // max_request_bytes. Requests to a broker go one at a time (idempotence), so fewer, larger ones win.
      let chunk: Message[] = [];
      const bytesPerPartition = new Float64Array(n + 1);
      let rr = 0;
      const flush = async () => {
        if (!chunk.length) return;
        try {
          await p.send({ topic: real, messages: chunk, acks: -1, compression, timeout: k.request_timeout_ms });
        } catch (err) {
          suspect = true;
          const text = describeError(err);
          if (/too large|MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/i.test(text)) {
            throw new SigilError("bus_message_too_large", `a message for ${real} is larger than the broker accepts: ${text}`, {
              location: { address: k.brokers.join(","), key: "bus.kafka.max_request_bytes" },
              hint: "lower bus.kafka.max_request_bytes or raise the broker's message.max.bytes",
            });
          }
          throw kafkaError(err, `sending ${chunk.length} message(s) to ${real} failed`, k.brokers, "bus_send_failed");
        }
        counter.inc({ bus: "kafka", topic }, chunk.length);
        requests.inc({ bus: "kafka", topic });
        chunk = [];
        bytesPerPartition.fill(0);
      };
      for (const m of messages) {
        const v = m.value;
        const size = (typeof v === "string" ? Buffer.byteLength(v) : v.length) + (m.key ? m.key.length * 3 : 0) + 64;
        const part = m.key === null ? rr++ % n : partitionOf(m.key, n);
        if (bytesPerPartition[part] + size > k.max_request_bytes && chunk.length) await flush();
        // kafkajs takes our message as it is unless it carries a timestamp (kafkajs wants a string)
        chunk.push(m.timestamp === undefined && m.headers === undefined ? (m as Message) : { key: m.key, value: m.value, headers: headersOut(m.headers), timestamp: m.timestamp === undefined ? undefined : String(m.timestamp) });
        bytesPerPartition[part] += size;
      }
      await flush();
    };
    this.producers.add(handle);
    return handle;
  }

  async consumer(opts: ConsumerOptions): Promise<Consumer> {
    if (this.closed) throw new SigilError("bus_closed", "the bus is closed");
    await this.ensureTopics();
    // Each member on a client of its own: kafkajs keeps one committed-offsets cache per client and group,
    // and every member's sync clears it down to its own assignment, so two members of one group in this
    // process would clear each other's (a member assigned nothing made the other's next fetch throw).
    const c = new KafkaGroupMember(this, new Kafka(this.clientCfg), this.admin, opts, this.log);
    this.consumers.add(c);
    c.onClose = () => this.consumers.delete(c);
    return c;
  }

  /** Logical topic for a real topic name (null for foreign topics). */
  logicalTopic(real: string): TopicName | null {
    return this.byRealName.get(real) ?? null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.close().catch((err) => this.log.warn({ err: describeError(err) }, "consumer did not close cleanly"))));
    await Promise.all([...this.producers].map((p) => p.close()));
    await this.admin.disconnect().catch(() => {});
  }
}

const tpKey = (topic: string, partition: number) => `${topic}/${partition}`;

/** One member of a consumer group: wraps a kafkajs consumer with commit-after-handler, redelivery and exact hooks. */
class KafkaGroupMember implements Consumer {
  onClose: (() => void) | null = null;
  private readonly consumer: KConsumer;
  private readonly groupId: string;
  private readonly realTopics: string[];
  /** Partitions this member holds, by "realTopic/partition". */
  private readonly held = new Map<string, TopicPartition>();
  /** Bumped on every revocation, so a batch that started under an older assignment never commits into a newer one. */
  private generation = 0;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private handler: BatchHandler | null = null;
  /** Taken batches not yet durable (see commitWhenDurable), and per partition: the chain of their commits, */
  private taken = 0;
  private takenMessages = 0;
  private takenWaiters: (() => void)[] = [];
  private readonly durableChains = new Map<string, Promise<void>>();
  /** its rewind count (a commit of an older epoch is dropped), consecutive failures and when it may be redelivered. */
  private readonly epochs = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly retryAt = new Map<string, number>();
  private closing = false;
  private restartAttempt = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  /** Exclusive groups: this member held the partitions before the current rebalance (kept across the rejoin, told to the leader). */
  private wasHolding = false;
  private readonly since = Date.now();
  /** What this member held in which group generation, to tell a partition that never left it (onAssigned's `resumed`). */
  private heldBefore: { keys: string; generation: number } | null = null;
  private generationHeld = -1;
  /** A join failed after the partitions were released: the next batch kafkajs hands over makes it join again. */
  private rejoin = false;

  constructor(
    private readonly bus: KafkaBus,
    kafka: KafkaClient,
    private readonly admin: Admin,
    private readonly opts: ConsumerOptions,
    private readonly log: Logger,
  ) {
    const k = bus.cfg.kafka;
    this.groupId = bus.cfg.topic_prefix + opts.groupId;
    this.realTopics = [...new Set(opts.topics)].map((t) => bus.topicName(t));
    type AssignerFactory = (ctx: { cluster: object; groupId: string; logger: unknown }) => ReturnType<PartitionAssigner>;
    const base = opts.exclusive
      ? (exclusiveAssigner(() => ({ holding: this.wasHolding, since: this.since })) as unknown as AssignerFactory)
      : (PartitionAssigners.roundRobin as unknown as AssignerFactory);
    const assigner = hookedAssigner(base, {
      beforeJoin: () => this.revokeAll("rebalance"),
      beforeLeave: () => {
        this.wasHolding = false;
        return this.revokeAll("leave");
      },
      afterJoin: (assigned, generationId) => this.assign(assigned, generationId),
      joinFailed: (err) => {
        this.rejoin = true;
        this.log.warn({ group: this.groupId, err: describeError(err) }, "joining the consumer group failed; joining again before the next batch");
      },
    });
    this.consumer = kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: k.session_timeout_ms,
      heartbeatInterval: Math.min(k.heartbeat_interval_ms, Math.floor(k.session_timeout_ms / 3)),
      rebalanceTimeout: Math.max(60_000, k.session_timeout_ms * 2),
      maxWaitTimeInMs: k.max_wait_ms,
      partitionAssigners: [assigner as unknown as PartitionAssigner],
      retry: { initialRetryTime: 300, maxRetryTime: k.retry_max_ms, factor: 0.2, multiplier: 2, retries: 10 },
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.closing) return;
      // kafkajs gives up on non-retriable errors; a bus member keeps going, with backoff.
      this.scheduleRestart(payload.error);
    });
  }

  private async revokeAll(why: "rebalance" | "leave"): Promise<void> {
    while (this.inflight > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.generation++;
    if (this.held.size === 0) return;
    const parts = [...this.held.values()];
    this.heldBefore = why === "rebalance" ? { keys: [...this.held.keys()].sort().join(","), generation: this.generationHeld } : null;
    this.held.clear();
    try {
      await this.opts.onRevoked?.(parts);
    } catch (err) {
      this.log.error({ group: this.groupId, partitions: parts.length, why, err: describeError(err) }, "onRevoked failed; partitions released anyway");
    }
  }

  private async assign(assigned: { topic: string; partitions: number[] }[], generationId: number): Promise<void> {
    const parts: TopicPartition[] = [];
    for (const { topic, partitions } of assigned) {
      const logical = this.bus.logicalTopic(topic);
      if (!logical) continue;
      for (const p of [...partitions].sort((a, b) => a - b)) parts.push({ topic: logical, partition: p });
    }
    rebalances().inc({ bus: "kafka" });
    this.restartAttempt = 0;
    this.rejoin = false;
    this.wasHolding = parts.length > 0;
    const keys = parts.map((tp) => tpKey(this.bus.topicName(tp.topic), tp.partition)).sort().join(",");
    const before = this.heldBefore;
    const resumed = before !== null && before.keys === keys && before.generation >= 0 && generationId === before.generation + 1;
    this.heldBefore = null;
    if (parts.length) await this.opts.onAssigned?.(parts, { resumed });
    this.generationHeld = generationId;
    // Held only once onAssigned succeeded: a failed onAssigned leads to a restart, never to a batch without state.
    for (const tp of parts) this.held.set(tpKey(this.bus.topicName(tp.topic), tp.partition), tp);
    this.log.debug({ group: this.groupId, partitions: parts.map((p) => `${p.topic}/${p.partition}`).join(",") }, "partitions assigned");
  }

  private scheduleRestart(error: unknown): void {
    if (this.closing || this.restartTimer) return;
    this.restartAttempt++;
    const wait = backoffMs(this.restartAttempt, 500, this.bus.cfg.kafka.retry_max_ms);
    this.log.error({ group: this.groupId, attempt: this.restartAttempt, retry_in_ms: wait, err: describeError(error) }, "consumer stopped on an error; restarting");
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closing || !this.handler) return;
      this.start().catch((err) => this.scheduleRestart(err));
    }, wait);
  }

  private async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, Math.min(64, this.opts.concurrency ?? this.bus.cfg.kafka.consumer_concurrency)),
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  async run(handler: BatchHandler): Promise<void> {
    if (this.handler) throw new SigilError("bus_consumer_running", "this consumer is already running");
    this.handler = handler;
    try {
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: this.realTopics, fromBeginning: this.opts.fromBeginning ?? true });
    } catch (err) {
      this.handler = null;
      throw kafkaError(err, `consumer group ${this.groupId} cannot subscribe`, this.bus.cfg.kafka.brokers);
    }
    await this.start().catch((err) => {
      throw kafkaError(err, `consumer group ${this.groupId} cannot start`, this.bus.cfg.kafka.brokers);
    });
  }

  private async onBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (this.rejoin) {
      // kafkajs still fetches for the assignment it had before the failed join, but this member released
      // those partitions: skipping the batches would stall the group silently. A rebalance error makes
      // kafkajs join again (and the hooks assign the partitions afresh).
      const err = new KafkaJSError("the last join of the group failed; joining again", { retriable: true }) as Error & { type?: string };
      err.type = "REBALANCE_IN_PROGRESS";
      throw err;
    }
    const key = tpKey(batch.topic, batch.partition);
    const tp = this.held.get(key);
    const generation = this.generation;
    const owned = () => isRunning() && !isStale() && this.generation === generation && this.held.has(key);
    // A batch fetched before a rebalance for a partition we no longer hold: leave it unresolved for its owner.
    if (!tp || !owned() || batch.messages.length === 0) return;
    const handler = this.handler!;
    const k = this.bus.cfg.kafka;
    // a taken batch of this partition failed to become durable: its redelivery waits out the backoff
    const retryAt = this.retryAt.get(key) ?? 0;
    while (Date.now() < retryAt) {
      if (!owned()) return;
      await sleep(Math.min(200, retryAt - Date.now()));
      await heartbeat();
    }
    const max = Math.max(1, this.opts.maxBatchSize ?? 1000);
    for (let start = 0; start < batch.messages.length; start += max) {
      const slice = batch.messages.slice(start, start + max);
      const messages: IncomingMessage[] = slice.map((m) => ({
        topic: tp.topic,
        partition: batch.partition,
        offset: m.offset,
        key: m.key === null ? null : m.key.toString("utf8"),
        value: m.value ?? Buffer.alloc(0),
        headers: headersIn(m.headers),
        timestamp: Number(m.timestamp),
      }));
      for (let attempt = 1; ; attempt++) {
        if (!owned()) return;
        let failed: unknown = null;
        let taken: BatchTaken | null = null;
        this.inflight++;
        // Long handlers keep the membership alive; a rebalance noticed here is acted on after the commit.
        const beat = setInterval(() => void heartbeat().catch(() => {}), Math.max(500, Math.floor(k.heartbeat_interval_ms)));
        try {
          try {
            const r = await handler({ topic: tp.topic, partition: batch.partition, messages, end: batch.highWatermark });
            if (r) taken = r;
          } catch (err) {
            failed = err ?? new Error("handler failed");
          }
          if (failed === null) {
            const last = slice[slice.length - 1].offset;
            // a seek after another batch's failure made this one stale: it comes again
            if (isStale()) {
              taken?.durable.catch(() => undefined);
              return;
            }
            resolveOffset(last);
            if (taken !== null) {
              const settled = this.commitWhenDurable(tp, batch.topic, slice[0].offset, last, slice.length, taken.durable);
              // closing, or too many taken batches waiting: this one settles before the next is fetched
              // (committed in its partition's order; a failure rewinds the partition as for any taken batch)
              if (this.closing || this.taken > MAX_TAKEN_BATCHES || this.takenMessages > (this.opts.maxTakenMessages ?? MAX_TAKEN_MESSAGES)) await settled;
            } else {
              await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
              consumed().inc({ bus: "kafka", topic: tp.topic }, slice.length);
            }
          }
        } finally {
          clearInterval(beat);
          this.settle();
        }
        if (failed === null) break;
        redeliveries().inc({ bus: "kafka", topic: tp.topic });
        const wait = backoffMs(attempt, 100, Math.min(k.retry_max_ms, 30_000));
        if ((attempt & (attempt - 1)) === 0) {
          this.log.warn({ group: this.groupId, topic: tp.topic, partition: batch.partition, offset: slice[0].offset, attempt, retry_in_ms: wait, err: describeError(failed) }, "batch handler failed; redelivering the batch");
        }
        // Sleep in slices, heartbeating, and give up the batch (uncommitted) when the partition goes away.
        const until = Date.now() + wait;
        while (Date.now() < until) {
          if (!owned()) return;
          await sleep(Math.min(200, until - Date.now()));
          await heartbeat();
        }
      }
      await heartbeat();
    }
  }

  /** One in-flight unit (a handler call or a taken batch) finished. */
  private settle(): void {
    this.inflight--;
    if (this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * A taken batch: its offsets are committed once its `durable` and those of the partition's batches
   * taken before it resolved. It counts as in flight until then, so a revocation (and close) waits for
   * it. When one rejects, the partition seeks back to that batch (the batches fetched after it turn
   * stale, those taken after it are not committed) and is redelivered after a backoff.
   */
  private commitWhenDurable(tp: TopicPartition, realTopic: string, first: string, last: string, n: number, durable: Promise<void>): Promise<void> {
    const partition = tp.partition;
    const key = tpKey(realTopic, partition);
    const epoch = this.epochs.get(key) ?? 0;
    const generation = this.generation;
    this.inflight++;
    this.taken++;
    this.takenMessages += n;
    takenMessages().inc({ bus: "kafka", topic: tp.topic }, n);
    const prev = this.durableChains.get(key) ?? Promise.resolve();
    const step = prev
      .then(() => durable)
      .then(async () => {
        // the partition moved on (revoked, or sought back): whoever handles it next starts from the committed offset
        if (this.generation !== generation || (this.epochs.get(key) ?? 0) !== epoch) return;
        await this.consumer.commitOffsets([{ topic: realTopic, partition, offset: (BigInt(last) + 1n).toString() }]);
        consumed().inc({ bus: "kafka", topic: tp.topic }, n);
        this.failures.delete(key);
      });
    this.durableChains.set(key, step);
    return step
      .catch((err: unknown) => {
        // the first failure of this epoch rewinds the partition; the batches chained after it fail with it
        if ((this.epochs.get(key) ?? 0) !== epoch) return;
        this.epochs.set(key, epoch + 1);
        this.durableChains.delete(key);
        const failures = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, failures);
        const wait = backoffMs(failures, 100, Math.min(this.bus.cfg.kafka.retry_max_ms, 30_000));
        this.retryAt.set(key, Date.now() + wait);
        redeliveries().inc({ bus: "kafka", topic: tp.topic });
        if ((failures & (failures - 1)) === 0) {
          this.log.warn({ group: this.groupId, topic: tp.topic, partition, offset: first, attempt: failures, retry_in_ms: wait, err: describeError(err) }, "a taken batch did not become durable; redelivering the partition from it");
        }
        if (this.generation !== generation || !this.held.has(key)) return;
        try {
          this.consumer.seek({ topic: realTopic, partition, offset: first });
        } catch (seekErr) {
          // not running any more (stopping, or restarting after a crash): it resumes from the committed offset
          this.log.debug({ group: this.groupId, topic: tp.topic, partition, err: describeError(seekErr) }, "could not seek back after a failed taken batch");
        }
      })
      .finally(() => {
        if (this.durableChains.get(key) === step) this.durableChains.delete(key);
        this.taken--;
        this.takenMessages -= n;
        takenMessages().dec({ bus: "kafka", topic: tp.topic }, n);
        if (this.taken === 0) for (const w of this.takenWaiters.splice(0)) w();
        this.settle();
      });
  }

  async lag(): Promise<PartitionLag[]> {
    const parts = [...this.held.values()];
    if (!parts.length) return [];
    const topics = [...new Set(parts.map((p) => this.bus.topicName(p.topic)))];
    try {
      const committed = await this.admin.fetchOffsets({ groupId: this.groupId, topics });
      const ends = new Map<string, { high: string; low: string }>();
      for (const t of topics) for (const o of await this.admin.fetchTopicOffsets(t)) ends.set(tpKey(t, o.partition), { high: o.high, low: o.low });
      const done = new Map<string, string>();
      for (const t of committed) for (const p of t.partitions) done.set(tpKey(t.topic, p.partition), p.offset);
      return parts.map((tp) => {
        const key = tpKey(this.bus.topicName(tp.topic), tp.partition);
        const end = ends.get(key);
        if (!end) return { ...tp, lag: 0 };
        const c = done.get(key);
        const from = c !== undefined && BigInt(c) >= 0n ? BigInt(c) : this.opts.fromBeginning === false ? BigInt(end.high) : BigInt(end.low);
        const lag = BigInt(end.high) - from;
        return { ...tp, lag: Number(lag > 0n ? lag : 0n) };
      });
    } catch (err) {
      throw kafkaError(err, `cannot read the lag of group ${this.groupId}`, this.bus.cfg.kafka.brokers);
    }
  }

  assignment(): TopicPartition[] {
    return [...this.held.values()];
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    try {
      // Taken batches commit first (new batches are durable before the next is fetched while closing);
      // then kafkajs stops fetching, waits for the in-flight batch (handled and committed), onRevoked
      // runs and the member leaves the group.
      while (this.taken > 0) await new Promise<void>((r) => this.takenWaiters.push(r));
      await this.consumer.disconnect();
    } finally {
      if (this.held.size) await this.revokeAll("leave");
      this.onClose?.();
    }
  }
}
