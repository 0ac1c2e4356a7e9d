// The live hub: every alert and chain update gets the next sequence number, is serialized once, kept in
// a bounded replay buffer and sent to every connected console. A console subscribes with its filter and
// the last (epoch, sequence) it saw; it gets exactly the missed updates, or a fresh snapshot when the gap
// is older than the buffer. Each client's unsent data is bounded: a console that cannot keep up is
// disconnected with a reason and resumes when it reconnects.

import { randomBytes } from "node:crypto";
import type { WebSocket } from "ws";
import type { Alert, Chain } from "../../../schema/signal.ts";
import { safeJsonParse } from "../../../schema/fields.ts";
import { metric, prom } from "../../../platform/telemetry/metrics.ts";
import type { Logger } from "../../../platform/telemetry/log.ts";
import { parseFilter, summarizeAlert, type AlertFilter, type AlertSummary } from "../../shared/alert-filter.ts";
import { ReplayBuffer } from "./replay-buffer.ts";
import type { Session } from "../auth/sessions.ts";

/** The compact chain update the queue and an open story page react to. */
export interface ChainSummary {
  id: string;
  version: number;
  score: number;
  last_seen: string;
  steps: number;
  tactics: string[];
}

export interface Snapshot {
  alerts: AlertSummary[];
  total: number;
  truncated: boolean;
  counts: Record<string, number>;
}

/** One part of a queue snapshot, as the store returns it page by page. */
export interface SnapshotPage {
  alerts: AlertSummary[];
  total: number;
  truncated: boolean;
  last: boolean;
}

export interface HubOptions {
  replayBuffer: number;
  /** Most message text (bytes, about) the replay buffer holds; default unbounded (the count bounds it). */
  replayBufferBytes?: number;
  maxClientBufferBytes: number;
  heartbeatMs: number;
  /** How often counts are recomputed for consoles whose view changed. */
  countsEveryMs?: number;
  /** Re-checks each console's session this often; an ended session closes the socket. */
  sessionCheckMs?: number;
  /** Most messages a client may send per 10 s. */
  maxClientMessages?: number;
  log?: Logger;
}

export interface HubDeps {
  /** The alerts the filter selects, page by page (the first page small, so the queue shows at once). */
  snapshot(filter: AlertFilter, user: string): AsyncIterable<SnapshotPage>;
  counts(filter: AlertFilter, user: string): Promise<Record<string, number>>;
  /** Whether the client's session is still valid (not expired, user not disabled). */
  sessionAlive(client: LiveClient): Promise<boolean>;
}

export const CLOSE = {
  sessionEnded: 4001,
  tooSlow: 4008,
  tooChatty: 4009,
  badMessage: 4400,
  shuttingDown: 1001,
} as const;

const metrics = {
  clients: metric("sigil_console_ws_clients", () => new prom.Gauge({ name: "sigil_console_ws_clients", help: "Consoles connected to the live channel" })),
  messages: metric("sigil_console_live_updates_total", () => new prom.Counter({ name: "sigil_console_live_updates_total", help: "Alert and chain updates published to consoles", labelNames: ["kind"] })),
  dropped: metric("sigil_console_ws_disconnects_total", () => new prom.Counter({ name: "sigil_console_ws_disconnects_total", help: "Consoles disconnected by the server", labelNames: ["reason"] })),
  replayBytes: metric("sigil_console_replay_buffer_bytes", () => new prom.Gauge({ name: "sigil_console_replay_buffer_bytes", help: "Message text the live hub keeps for consoles resuming after a disconnect" })),
  duplicates: metric("sigil_console_live_duplicates_total", () => new prom.Counter({ name: "sigil_console_live_duplicates_total", help: "Updates skipped because the same or a newer version was already published" })),
};

export class LiveClient {
  filter: AlertFilter | null = null;
  /** True while a snapshot is being sent: live messages wait in the replay buffer. */
  syncing = false;
  countsDirty = false;
  alive = true;
  /** The client's number for its latest subscription, echoed on snapshot messages so stale ones are ignored. */
  sub = 0;
  /** Bumped per subscription: a snapshot still being sent for an older one stops. */
  generation = 0;
  closed = false;
  private messages = 0;
  private windowStart = Date.now();

  constructor(readonly ws: WebSocket, readonly session: Session, readonly token: string, readonly ip: string | null) {}

  get user(): string {
    return this.session.user;
  }

  /** Counts one inbound message; false when the client sent too many in the last 10 s. */
  allowMessage(max: number): boolean {
    const t = Date.now();
    if (t - this.windowStart > 10_000) {
      this.windowStart = t;
      this.messages = 0;
    }
    return ++this.messages <= max;
  }
}

interface DedupEntry {
  version: number;
  updated: string;
}

export class LiveHub {
  readonly epoch = randomBytes(8).toString("hex");
  private seq = 0;
  private readonly buffer: ReplayBuffer;
  readonly clients = new Set<LiveClient>();
  private readonly seen = new Map<string, DedupEntry>();
  /**
   * Alerts and chains whose newest published version is remembered, to skip duplicates (redeliveries,
   * the same update from the chain builder and from triage). An optimization only: browsers apply updates
   * by version, never older over newer. ~150 bytes per entry, so ~3 MB at the bound (it was 200,000,
   * ~30 MB, on a console whose live heap is ~35 MB; the soak saw it grow with every new alert).
   */
  private readonly maxSeen = 20_000;
  private timers: NodeJS.Timeout[] = [];
  private closing = false;

  constructor(private readonly deps: HubDeps, private readonly opts: HubOptions) {
    this.buffer = new ReplayBuffer(opts.replayBuffer, opts.replayBufferBytes ?? Infinity);
  }

  get sequence(): number {
    return this.seq;
  }

  start(): void {
    this.timers.push(setInterval(() => this.heartbeat(), this.opts.heartbeatMs));
    this.timers.push(setInterval(() => void this.refreshCounts(), this.opts.countsEveryMs ?? 1000));
    this.timers.push(setInterval(() => void this.checkSessions(), this.opts.sessionCheckMs ?? 30_000));
    for (const t of this.timers) t.unref();
  }

  /** Publishes an alert update unless the same or a newer version of it went out already. Returns whether it was sent. */
  publishAlert(alert: Alert): boolean {
    if (!this.fresh(`a:${alert.id}`, alert.version, alert.updated)) return false;
    this.emit("alert", { type: "alert", alert: summarizeAlert(alert) });
    return true;
  }

  publishChain(chain: Chain): boolean {
    if (!this.fresh(`c:${chain.id}`, chain.version, chain["@timestamp"])) return false;
    const summary: ChainSummary = {
      id: chain.id,
      version: chain.version,
      score: typeof chain.score === "number" ? chain.score : 0,
      last_seen: String(chain.last_seen ?? chain["@timestamp"] ?? ""),
      steps: Array.isArray(chain.steps) ? chain.steps.length : 0,
      tactics: Array.isArray(chain.tactics) ? chain.tactics.filter((t): t is string => typeof t === "string").slice(0, 20) : [],
    };
    this.emit("chain", { type: "chain", chain: summary });
    return true;
  }

  /** Every change bumps `version`, so a version already published (or an older one) is a duplicate. */
  private fresh(key: string, version: unknown, updated: unknown): boolean {
    const v = typeof version === "number" ? version : 0;
    const u = typeof updated === "string" ? updated : "";
    const prev = this.seen.get(key);
    if (prev && prev.version >= v) {
      metrics.duplicates.inc();
      return false;
    }
    this.seen.delete(key);
    this.seen.set(key, { version: v, updated: u });
    if (this.seen.size > this.maxSeen) {
      let drop = this.maxSeen >> 4;
      for (const k of this.seen.keys()) {
        if (drop-- <= 0) break;
        this.seen.delete(k);
      }
    }
    return true;
  }

  private emit(kind: "alert" | "chain", msg: Record<string, unknown>): void {
    const seq = ++this.seq;
    const data = JSON.stringify({ ...msg, seq });
    this.buffer.push({ seq, data });
    metrics.replayBytes.set(this.buffer.bytes);
    metrics.messages.inc({ kind });
    for (const c of this.clients) {
      if (c.syncing || !c.filter) continue;
      this.send(c, data);
      if (kind === "alert") c.countsDirty = true;
    }
  }

  /** Sends unless the client's unsent data is over the bound, in which case the client is dropped. */
  private send(c: LiveClient, data: string): boolean {
    if (c.closed) return false;
    if (this.overBound(c, data)) return false;
    c.ws.send(data);
    return true;
  }

  /**
   * True (and the client dropped) when sending `data` would grow the client's unsent backlog past the
   * bound. One message always fits an empty backlog, so a large snapshot part still goes out.
   */
  private overBound(c: LiveClient, data: string): boolean {
    const pending = c.ws.bufferedAmount;
    if (pending === 0 || pending + data.length <= this.opts.maxClientBufferBytes) return false;
    this.drop(c, CLOSE.tooSlow, "slow_consumer", `send queue over ${this.opts.maxClientBufferBytes} bytes; reconnect to resume`);
    return true;
  }

  private sendAsync(c: LiveClient, data: string): Promise<boolean> {
    if (c.closed) return Promise.resolve(false);
    if (this.overBound(c, data)) return Promise.resolve(false);
    return new Promise((resolve) => c.ws.send(data, (err) => resolve(!err)));
  }

  drop(c: LiveClient, code: number, reason: string, detail: string): void {
    if (c.closed) return;
    c.closed = true;
    metrics.dropped.inc({ reason });
    this.opts.log?.info({ user: c.user, reason, detail }, "disconnected a console");
    try {
      c.ws.close(code, `${reason}: ${detail}`.slice(0, 120));
    } catch {
      c.ws.terminate();
    }
    // a client that does not answer the close handshake is cut off
    setTimeout(() => c.ws.terminate(), 5_000).unref();
    this.remove(c);
  }

  /** Registers a connected, authorized socket. */
  add(c: LiveClient): void {
    this.clients.add(c);
    metrics.clients.set(this.clients.size);
    c.ws.on("pong", () => (c.alive = true));
    c.ws.on("message", (raw, isBinary) => void this.onMessage(c, raw as Buffer, isBinary));
    c.ws.on("close", () => this.remove(c));
    c.ws.on("error", () => this.remove(c));
    c.ws.send(JSON.stringify({ type: "hello", epoch: this.epoch, seq: this.seq, user: { name: c.user, role: c.session.role } }));
  }

  private remove(c: LiveClient): void {
    c.closed = true;
    if (this.clients.delete(c)) metrics.clients.set(this.clients.size);
  }

  private async onMessage(c: LiveClient, raw: Buffer, isBinary: boolean): Promise<void> {
    if (!c.allowMessage(this.opts.maxClientMessages ?? 50)) {
      this.drop(c, CLOSE.tooChatty, "too_many_messages", "more than the allowed messages per 10 s");
      return;
    }
    let msg: unknown;
    try {
      if (isBinary) throw new Error("binary");
      msg = safeJsonParse(raw.toString("utf8"));
    } catch {
      this.drop(c, CLOSE.badMessage, "bad_message", "messages are JSON text");
      return;
    }
    const m = msg as { type?: unknown; filter?: unknown; sub?: unknown; resume?: { epoch?: unknown; seq?: unknown } | null };
    if (m?.type !== "subscribe" || (m.filter !== undefined && typeof m.filter !== "string")) {
      this.drop(c, CLOSE.badMessage, "bad_message", 'expected {"type":"subscribe","filter":"<query string>"}');
      return;
    }
    const filter = parseFilter(new URLSearchParams(typeof m.filter === "string" ? m.filter.slice(0, 4096) : ""));
    const resume = m.resume && typeof m.resume === "object" && m.resume.epoch === this.epoch && typeof m.resume.seq === "number" ? m.resume.seq : null;
    c.sub = typeof m.sub === "number" && Number.isSafeInteger(m.sub) ? m.sub : 0;
    await this.subscribe(c, filter, resume);
  }

  /** Sets a client's filter and brings it up to date: replay after `resumeSeq` when the buffer has it, else a snapshot. */
  async subscribe(c: LiveClient, filter: AlertFilter, resumeSeq: number | null): Promise<void> {
    // every update goes to every console (the browser applies its filter), so a resume is valid for any
    // filter; the browser asks for a snapshot (no resume) when its filter changed
    c.filter = filter;
    c.generation++;
    if (resumeSeq !== null) {
      const missed = this.buffer.since(resumeSeq, this.seq);
      if (missed) {
        c.syncing = false;
        this.send(c, JSON.stringify({ type: "resumed", sub: c.sub, epoch: this.epoch, from: resumeSeq, to: this.seq, count: missed.length }));
        for (const b of missed) if (!this.send(c, b.data)) return;
        c.countsDirty = true;
        return;
      }
    }
    await this.sendSnapshot(c);
  }

  private async sendSnapshot(c: LiveClient): Promise<void> {
    const gen = c.generation;
    const stale = () => c.closed || c.generation !== gen; // a newer subscription took over
    for (let attempt = 0; attempt < 3 && !stale(); attempt++) {
      c.syncing = true;
      const from = this.seq;
      const counts = this.deps.counts(c.filter!, c.user).catch(() => null);
      try {
        let part = 0;
        for await (const page of this.deps.snapshot(c.filter!, c.user)) {
          if (stale()) return;
          const msg = { type: "snapshot", sub: c.sub, epoch: this.epoch, seq: from, part: part++, last: page.last, alerts: page.alerts, total: page.total, truncated: page.truncated };
          if (!(await this.sendAsync(c, JSON.stringify(msg)))) return;
        }
      } catch (err) {
        this.opts.log?.error({ err: (err as Error).message }, "queue snapshot failed");
        c.syncing = false;
        this.send(c, JSON.stringify({ type: "error", code: "snapshot_failed", message: "the store did not answer; retrying on reconnect" }));
        this.drop(c, 1011, "snapshot_failed", "store unavailable");
        return;
      }
      if (stale()) return;
      const n = await counts;
      if (stale()) return;
      if (n) this.send(c, JSON.stringify({ type: "counts", counts: n }));
      const missed = this.buffer.since(from, this.seq);
      if (!missed) continue; // the buffer turned over while we sent: take a newer snapshot
      c.syncing = false;
      for (const b of missed) if (!this.send(c, b.data)) return;
      return;
    }
  }

  private heartbeat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        this.drop(c, 1001, "no_heartbeat", "no pong within the heartbeat interval");
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        this.remove(c);
      }
    }
  }

  private async refreshCounts(): Promise<void> {
    const byKey = new Map<string, LiveClient[]>();
    for (const c of this.clients) {
      if (!c.countsDirty || c.syncing || !c.filter) continue;
      c.countsDirty = false;
      const key = JSON.stringify([c.filter, c.filter.assignee === "me" ? c.user : ""]);
      byKey.set(key, [...(byKey.get(key) ?? []), c]);
    }
    for (const group of byKey.values()) {
      try {
        const counts = await this.deps.counts(group[0].filter!, group[0].user);
        const data = JSON.stringify({ type: "counts", counts });
        for (const c of group) this.send(c, data);
      } catch (err) {
        this.opts.log?.warn({ err: (err as Error).message }, "counting alerts failed");
      }
    }
  }

  private async checkSessions(): Promise<void> {
    for (const c of [...this.clients]) {
      let ok = false;
      try {
        ok = await this.deps.sessionAlive(c);
      } catch {
        ok = true; // the store is briefly unavailable: keep the console, check again later
      }
      if (!ok) this.drop(c, CLOSE.sessionEnded, "session_ended", "sign in again");
    }
  }

  /** Closes every socket (going away) and stops the timers. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    for (const c of [...this.clients]) this.drop(c, CLOSE.shuttingDown, "shutting_down", "the console is restarting; reconnecting");
  }
}
