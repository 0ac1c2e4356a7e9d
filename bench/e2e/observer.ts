// What an analyst sees: a signed-in console holding the live WebSocket (the time each canary's alert
// arrives), and the alerts index polled for the time each canary's alert becomes searchable; at the end,
// every canary's alerts counted (none lost, none duplicated).

import WebSocket from "ws";
import kafkajs, { type Consumer as KafkaConsumer } from "kafkajs";
import "../../platform/bus/kafka.ts"; // installs the LZ4 codec: the roles' producers compress with it (bus.kafka.compression)
import { PASSWORD } from "./cluster.ts";
import { now, type Canary } from "./load.ts";

export interface CanaryView {
  /** When the bench first read a signal for it on sigil.signals (detection done and published). */
  signalAt: number | null;
  /** When the bench first read its alert on sigil.alerts (chain builder done: stored and published). */
  alertTopicAt: number | null;
  wsAt: number | null;
  searchableAt: number | null;
  alertIds: Set<string>;
  /** Alert messages for it on the live channel (a version delivered again would count twice). */
  wsMessages: number;
}

export class Observer {
  readonly views = new Map<number, CanaryView>();
  private ws: WebSocket | null = null;
  private poller: NodeJS.Timeout | null = null;
  private tap: KafkaConsumer | null = null;
  private polling = false;
  wsAlerts = 0;
  wsDisconnects = 0;
  /** Close code and reason of the WebSocket's last close (4001: the console ended the session). */
  wsLastClose: string | null = null;
  pollErrors = 0;

  constructor(
    private readonly o: { consoleUrl: string; es: string; prefix: string; run: string; canaries: Canary[] },
  ) {}

  private view(n: number): CanaryView {
    let v = this.views.get(n);
    if (!v) this.views.set(n, (v = { signalAt: null, alertTopicAt: null, wsAt: null, searchableAt: null, alertIds: new Set(), wsMessages: 0 }));
    return v;
  }

  /** Signs in and holds the live channel; resolves once the first snapshot arrived. */
  async connect(): Promise<void> {
    const url = this.o.consoleUrl;
    const res = await fetch(`${url}/api/auth/login`, { method: "POST", headers: { origin: url, "content-type": "application/json" }, body: JSON.stringify({ username: "bench", password: PASSWORD }) });
    if (res.status !== 200) throw new Error(`console sign-in failed: ${res.status} ${await res.text()}`);
    const cookie = res.headers.get("set-cookie")!.split(";")[0];
    const prefix = `canary-${this.o.run}-`;
    const ws = new WebSocket(url.replace(/^http/, "ws") + "/api/live", { headers: { origin: url, cookie } });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.on("message", (d) => {
        const t = now();
        const m = JSON.parse(String(d)) as { type: string; last?: boolean; alert?: { id: string; entities?: { hosts?: string[] } } };
        if (m.type === "snapshot" && m.last) resolve();
        if (m.type !== "alert" || !m.alert) return;
        this.wsAlerts++;
        for (const h of m.alert.entities?.hosts ?? []) {
          if (!h.startsWith(prefix)) continue;
          const v = this.view(Number(h.slice(prefix.length)));
          v.wsMessages++;
          v.alertIds.add(m.alert.id);
          if (v.wsAt === null) v.wsAt = t;
        }
      });
      ws.on("open", () => ws.send(JSON.stringify({ type: "subscribe", filter: "" })));
      ws.on("error", reject);
      ws.on("close", (code, reason) => {
        this.wsDisconnects++;
        this.wsLastClose = `${code} ${reason.toString()}`.trim();
      });
    });
  }

  /** Polls the alerts index every `everyMs` for canaries acknowledged and not yet searchable. */
  startPolling(everyMs = 100): void {
    this.poller = setInterval(() => {
      if (this.polling) return;
      this.polling = true;
      void this.pollOnce().finally(() => (this.polling = false));
    }, everyMs);
  }

  private async search(hosts: string[]): Promise<{ id: string; hosts: string[]; signal_count: number; duplicate_count: number }[]> {
    const res = await fetch(`${this.o.es}/${this.o.prefix}alerts/_search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ size: 10_000, _source: ["id", "entities.hosts", "signal_count", "duplicate_count"], query: { terms: { "entities.hosts": hosts } } }),
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status === 404) return [];
    if (!res.ok) throw new Error(`alerts search: HTTP ${res.status}`);
    const body = (await res.json()) as { hits: { hits: { _source: { id: string; entities?: { hosts?: string[] }; signal_count?: number; duplicate_count?: number } }[] } };
    return body.hits.hits.map((h) => ({ id: h._source.id, hosts: h._source.entities?.hosts ?? [], signal_count: h._source.signal_count ?? 0, duplicate_count: h._source.duplicate_count ?? 0 }));
  }

  private async pollOnce(): Promise<void> {
    const waiting = this.o.canaries.filter((c) => c.ackAt !== null && (this.views.get(c.n)?.searchableAt ?? null) === null).slice(0, 1000);
    if (!waiting.length) return;
    try {
      const hits = await this.search(waiting.map((c) => c.host));
      const t = now();
      const prefix = `canary-${this.o.run}-`;
      for (const h of hits) for (const host of h.hosts) if (host.startsWith(prefix)) {
        const v = this.view(Number(host.slice(prefix.length)));
        if (v.searchableAt === null) v.searchableAt = t;
      }
    } catch {
      this.pollErrors++;
    }
  }

  /** Waits until every acknowledged canary was seen on the live channel and in the index (or the timeout). */
  async settle(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const done = this.o.canaries.every((c) => c.ackAt === null || (this.views.get(c.n)?.wsAt != null && this.views.get(c.n)?.searchableAt != null));
      if (done) return;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Every canary's alerts in the index: ids per canary and their signal and duplicate counts. */
  async audit(): Promise<{ canaries: number; lost_ws: number; lost_store: number; duplicated: number; extra_signals: number; ws_redelivered: number; ws_disconnects: number; ws_last_close: string | null }> {
    await fetch(`${this.o.es}/${this.o.prefix}alerts/_refresh`, { method: "POST" }).catch(() => undefined);
    const acked = this.o.canaries.filter((c) => c.ackAt !== null);
    const stored = new Map<number, { ids: Set<string>; signals: number; dups: number }>();
    const prefix = `canary-${this.o.run}-`;
    for (let i = 0; i < acked.length; i += 1000) {
      for (const h of await this.search(acked.slice(i, i + 1000).map((c) => c.host))) {
        for (const host of h.hosts) {
          if (!host.startsWith(prefix)) continue;
          const n = Number(host.slice(prefix.length));
          const s = stored.get(n) ?? { ids: new Set<string>(), signals: 0, dups: 0 };
          s.ids.add(h.id);
          s.signals += h.signal_count;
          s.dups += h.duplicate_count;
          stored.set(n, s);
        }
      }
    }
    let lostWs = 0;
    let lostStore = 0;
    let duplicated = 0;
    let extraSignals = 0;
    let redelivered = 0;
    for (const c of acked) {
      const v = this.views.get(c.n);
      const s = stored.get(c.n);
      if (!v || v.wsAt === null) lostWs++;
      if (!s) lostStore++;
      else {
        if (s.ids.size > 1 || (v && v.alertIds.size > 1)) duplicated++;
        if (s.signals > 1 || s.dups > 0) extraSignals++;
      }
      if (v && v.wsMessages > 1) redelivered++;
    }
    // lost_ws with a disconnect: the socket closed (ws_last_close says why) and the observer does not reconnect
    return { canaries: acked.length, lost_ws: lostWs, lost_store: lostStore, duplicated, extra_signals: extraSignals, ws_redelivered: redelivered, ws_disconnects: this.wsDisconnects, ws_last_close: this.wsLastClose };
  }

  /**
   * Reads sigil.signals and sigil.alerts in a group of its own (new messages only, short fetch waits) and
   * notes when each canary's signal and alert appear there: the stage timestamps between the ingest
   * acknowledgement and the WebSocket (detection → chain builder and store → console).
   */
  async tapTopics(brokers: string[]): Promise<void> {
    const kafka = new kafkajs.Kafka({ clientId: "bench-e2e-tap", brokers, logLevel: kafkajs.logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `${this.o.prefix}bench-tap`, maxWaitTimeInMs: 20, minBytes: 1, sessionTimeout: 30_000 });
    this.tap = consumer;
    const topics = { signals: `${this.o.prefix}sigil.signals`, alerts: `${this.o.prefix}sigil.alerts` };
    await consumer.connect();
    await consumer.subscribe({ topics: Object.values(topics), fromBeginning: false });
    const marker = Buffer.from(`canary-${this.o.run}-`);
    let joined: () => void = () => {};
    const ready = new Promise<void>((r) => (joined = r));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.run({
      partitionsConsumedConcurrently: 6,
      eachBatch: async ({ batch }) => {
        const t = now();
        const isSignal = batch.topic === topics.signals;
        for (const m of batch.messages) {
          const v = m.value;
          if (!v) continue;
          // only alert messages count on the alerts topic (a chain update comes first, with the same hosts)
          if (!isSignal && m.headers?.["kind"]?.toString() !== "alert") continue;
          for (let i = v.indexOf(marker); i >= 0; i = v.indexOf(marker, i + marker.length)) {
            let j = i + marker.length;
            let n = 0;
            while (j < v.length && v[j] >= 48 && v[j] <= 57) n = n * 10 + (v[j++] - 48);
            if (j === i + marker.length) continue;
            const view = this.view(n);
            if (isSignal) view.signalAt ??= t;
            else view.alertTopicAt ??= t;
          }
        }
      },
    });
    await Promise.race([ready, new Promise((r) => setTimeout(r, 30_000))]);
  }

  close(): void {
    if (this.poller) clearInterval(this.poller);
    this.ws?.close();
    void this.tap?.disconnect().catch(() => undefined);
  }
}
