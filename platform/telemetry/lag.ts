// Consumer lag of every consumer group member in this process, read from the bus every few seconds (not
// per message): messages behind per partition and partitions held, as gauges, and the readiness check
// "caught up within a bound". `monitorBus` wraps a bus so every consumer it creates is tracked.

import type { Bus, Consumer, ConsumerOptions } from "../bus/types.ts";
import { describeError } from "../errors.ts";
import type { CheckResult, Health } from "./health.ts";
import type { Logger } from "./log.ts";
import { metric, prom } from "./metrics.ts";

export const lagMetrics = {
  lag: () =>
    metric(
      "sigil_bus_consumer_lag_messages",
      () => new prom.Gauge({ name: "sigil_bus_consumer_lag_messages", help: "Messages produced but not yet committed by this member's group, per partition it holds", labelNames: ["group", "topic", "partition"] }),
    ),
  partitions: () =>
    metric("sigil_bus_consumer_partitions", () => new prom.Gauge({ name: "sigil_bus_consumer_partitions", help: "Partitions this process's member of a consumer group holds", labelNames: ["group", "topic"] })),
  polled: () =>
    metric("sigil_bus_consumer_lag_age_seconds", () => new prom.Gauge({ name: "sigil_bus_consumer_lag_age_seconds", help: "Seconds since the lag of a consumer group member was last read successfully", labelNames: ["group"] })),
};

/**
 * The group label of a consumer: its group id without a per-process random suffix (the console's
 * `sigil-console-<node>-<8 hex>`), so label values stay bounded across restarts.
 */
export function groupLabel(groupId: string): string {
  return groupId.replace(/-[0-9a-f]{8}$/, "").slice(0, 100);
}

interface Tracked {
  group: string;
  consumer: Consumer;
  /** Wall-clock ms of the last successful read (0: never). */
  readAt: number;
  since: number;
  error: string | null;
  total: number;
  /** Label sets set by the last read, to remove when a partition goes away. */
  series: Map<string, { topic: string; partition: string }>;
  topics: Set<string>;
}

export interface LagMonitorOptions {
  intervalMs: number;
  /** Summed lag of one group member above which the process is not ready. */
  maxLag: number;
  log?: Logger;
  now?: () => number;
}

export class ConsumerLagMonitor {
  private readonly tracked = new Set<Tracked>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private o: LagMonitorOptions;

  constructor(o: LagMonitorOptions) {
    this.o = o;
  }

  configure(o: Partial<LagMonitorOptions>): void {
    this.o = { ...this.o, ...o };
    if (this.timer) {
      this.stop();
      this.start();
    }
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Starts tracking a consumer under its group's label; returns the function that stops it. */
  track(groupId: string, consumer: Consumer): () => void {
    const t: Tracked = { group: groupLabel(groupId), consumer, readAt: 0, since: this.now(), error: null, total: 0, series: new Map(), topics: new Set() };
    this.tracked.add(t);
    return () => this.untrack(t);
  }

  private untrack(t: Tracked): void {
    if (!this.tracked.delete(t)) return;
    for (const s of t.series.values()) lagMetrics.lag().remove({ group: t.group, topic: s.topic, partition: s.partition });
    for (const topic of t.topics) lagMetrics.partitions().remove({ group: t.group, topic });
    lagMetrics.polled().remove({ group: t.group });
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.o.intervalMs);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads every tracked consumer's lag once (concurrent calls share one read). */
  poll(): Promise<void> {
    if (!this.polling) {
      this.polling = Promise.all([...this.tracked].map((t) => this.read(t))).then(
        () => {
          this.polling = null;
        },
        () => {
          this.polling = null;
        },
      );
    }
    return this.polling;
  }

  private async read(t: Tracked): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const parts = await Promise.race([
        t.consumer.lag(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.o.intervalMs} ms`)), Math.max(1000, this.o.intervalMs));
          timer.unref();
        }),
      ]);
      if (!this.tracked.has(t)) return;
      const seen = new Map<string, { topic: string; partition: string }>();
      const perTopic = new Map<string, number>();
      let total = 0;
      for (const p of parts) {
        const labels = { group: t.group, topic: p.topic, partition: String(p.partition) };
        lagMetrics.lag().set(labels, p.lag);
        seen.set(`${p.topic}/${p.partition}`, { topic: p.topic, partition: labels.partition });
        perTopic.set(p.topic, (perTopic.get(p.topic) ?? 0) + 1);
        total += p.lag;
      }
      for (const [k, s] of t.series) if (!seen.has(k)) lagMetrics.lag().remove({ group: t.group, topic: s.topic, partition: s.partition });
      t.series = seen;
      // partitions held, including topics where this member holds none now
      for (const tp of t.consumer.assignment()) if (!perTopic.has(tp.topic)) perTopic.set(tp.topic, 0);
      for (const topic of t.topics) if (!perTopic.has(topic)) perTopic.set(topic, 0);
      for (const [topic, n] of perTopic) {
        lagMetrics.partitions().set({ group: t.group, topic }, n);
        t.topics.add(topic);
      }
      t.total = total;
      t.readAt = this.now();
      t.error = null;
      lagMetrics.polled().set({ group: t.group }, 0);
    } catch (err) {
      t.error = describeError(err);
      if (t.readAt) lagMetrics.polled().set({ group: t.group }, (this.now() - t.readAt) / 1000);
      this.o.log?.warn({ group: t.group, err: t.error }, "cannot read consumer lag");
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Readiness: every tracked member's lag was read within three intervals and is at most maxLag.
   * A member that has not been read yet is given three intervals from when it was tracked.
   */
  check(): CheckResult {
    if (this.tracked.size === 0) return { ok: true, detail: "no consumers in this process" };
    const now = this.now();
    const stale = 3 * this.o.intervalMs;
    const problems: string[] = [];
    const fine: string[] = [];
    for (const t of this.tracked) {
      if (t.readAt === 0) {
        if (now - t.since > stale) problems.push(`${t.group}: lag never read${t.error ? ` (${t.error})` : ""}`);
        else fine.push(`${t.group}: starting`);
      } else if (now - t.readAt > stale) problems.push(`${t.group}: lag last read ${Math.round((now - t.readAt) / 1000)} s ago${t.error ? ` (${t.error})` : ""}`);
      else if (t.total > this.o.maxLag) problems.push(`${t.group}: ${t.total} messages behind (ready at ${this.o.maxLag} or fewer)`);
      else fine.push(`${t.group}: ${t.total} behind`);
    }
    return problems.length ? { ok: false, detail: problems.join("; ") } : { ok: true, detail: fine.join("; ") };
  }

  /** Registers the readiness check `bus.consumer_lag` on a health registry. */
  register(health: Health): void {
    health.register("bus.consumer_lag", () => this.check());
  }
}

/** The process-wide lag monitor (configured from telemetry.ready by the role commands). */
export const consumerLag = new ConsumerLagMonitor({ intervalMs: 5_000, maxLag: 50_000 });

/**
 * The bus with every consumer it creates tracked by `monitor` (until the consumer closes). Everything
 * else is the bus itself.
 */
export function monitorBus(bus: Bus, monitor: ConsumerLagMonitor = consumerLag): Bus {
  const consumer = async (opts: ConsumerOptions): Promise<Consumer> => {
    const c = await bus.consumer(opts);
    const untrack = monitor.track(opts.groupId, c);
    const close = c.close.bind(c);
    c.close = async () => {
      try {
        await close();
      } finally {
        untrack();
      }
    };
    return c;
  };
  return new Proxy(bus, {
    get(target, prop, receiver) {
      if (prop === "consumer") return consumer;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
