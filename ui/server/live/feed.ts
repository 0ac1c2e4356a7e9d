// Where live updates come from: the `alerts` topic (each console process reads it in its own consumer
// group, new messages only) and, as a safety net, a poll of the store for alerts and chains updated since
// the last one seen (writers that do not publish, a console started after a message). The hub drops
// versions it already sent, so both sources can deliver the same update.

import type { Bus, Consumer } from "../../../platform/bus/types.ts";
import type { Store } from "../../../platform/store/types.ts";
import { decodeAlertsMessage } from "../../../platform/alerts/messages.ts";
import type { Alert, Chain } from "../../../schema/signal.ts";
import { metric, prom } from "../../../platform/telemetry/metrics.ts";
import type { Logger } from "../../../platform/telemetry/log.ts";
import type { LiveHub } from "./hub.ts";

const undecodable = metric(
  "sigil_console_alerts_undecodable_total",
  () => new prom.Counter({ name: "sigil_console_alerts_undecodable_total", help: "Messages on the alerts topic that were neither an alert nor a chain" }),
);

/**
 * Consumes the alerts topic into the hub. The group id is unique per console process: every console sees
 * every update. Resolves once the consumer holds its partitions (or after `readyTimeoutMs`, with a
 * warning: the store poller covers the gap), so updates published after start-up are not missed.
 */
export async function startTopicFeed(bus: Bus, hub: LiveHub, opts: { groupId: string; log?: Logger; readyTimeoutMs?: number }): Promise<Consumer> {
  let assigned: () => void = () => {};
  const ready = new Promise<void>((resolve) => (assigned = resolve));
  const consumer = await bus.consumer({ groupId: opts.groupId, topics: ["alerts"], fromBeginning: false, maxBatchSize: 1000, onAssigned: () => assigned() });
  void consumer
    .run(async (batch) => {
      let bad = 0;
      const debug = opts.log?.isLevelEnabled("debug") ?? false;
      for (const m of batch.messages) {
        const msg = decodeAlertsMessage(m.value);
        if (!msg) {
          bad++;
          continue;
        }
        if (msg.kind === "alert") hub.publishAlert(msg.alert);
        else hub.publishChain(msg.chain);
        // the last stage of an event's path in the logs: alert id → chain → signals → event ids (logged by correlate)
        if (debug && msg.kind === "alert") opts.log!.debug({ alert_id: msg.alert.id, alert_version: msg.alert.version, chain_id: msg.alert.chain_id ?? null, clients: hub.clients.size, partition: batch.partition, offset: m.offset }, "alert sent to live consoles");
      }
      if (bad) {
        undecodable.inc(bad);
        opts.log?.warn({ topic: batch.topic, partition: batch.partition, count: bad }, "skipped messages on the alerts topic that are neither alerts nor chains");
      }
    })
    .catch((err: unknown) => opts.log?.error({ err: (err as Error).message }, "alerts topic consumer stopped"));
  const timeout = opts.readyTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([ready.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeout)))]);
  clearTimeout(timer);
  if (!ok) opts.log?.warn({ group: opts.groupId, ms: timeout }, "the alerts topic consumer has no partitions yet; live updates come from store polling until it does");
  return consumer;
}

/**
 * Polls the store for alerts and chains whose update time is at or after the newest seen (minus an
 * overlap for writes that become searchable late), in update order, and publishes them.
 */
export class StorePoller {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private watermark: Record<"alerts" | "chains", number>;

  constructor(private readonly store: Store, private readonly hub: LiveHub, private readonly opts: { intervalMs: number; overlapMs?: number; log?: Logger; now?: () => number }) {
    const t = (opts.now ?? Date.now)();
    this.watermark = { alerts: t, chains: t };
  }

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.poll(), this.opts.intervalMs);
    this.timer.unref();
  }

  async poll(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.pollOne("alerts", "updated", (d) => this.hub.publishAlert(d as Alert));
      await this.pollOne("chains", "@timestamp", (d) => this.hub.publishChain(d as Chain));
    } catch (err) {
      this.opts.log?.warn({ err: (err as Error).message }, "polling the store for alert updates failed; retrying");
    } finally {
      this.running = false;
    }
  }

  private async pollOne(collection: "alerts" | "chains", field: string, publish: (d: Alert | Chain) => void): Promise<void> {
    const overlap = this.opts.overlapMs ?? 5_000;
    let after: string | undefined;
    let newest = this.watermark[collection];
    for (let page = 0; page < 20; page++) {
      const r = await this.store.search(collection, {
        from: this.watermark[collection] - overlap,
        timeField: field,
        sort: [{ field, order: "asc" }],
        size: 1000,
        after,
        trackTotalUpTo: 1,
      });
      for (const d of r.hits) {
        publish(d as Alert | Chain);
        const t = Date.parse(String(d[field] ?? ""));
        if (Number.isFinite(t) && t > newest) newest = t;
      }
      if (!r.next || r.hits.length === 0) break;
      after = r.next;
    }
    this.watermark[collection] = newest;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
