// The live channel to the console server: a snapshot of the queue for the current filter, then every
// alert and chain update in sequence. After a disconnect it reconnects with backoff and resumes from the
// last sequence number it saw, so no update is missed; the server sends a fresh snapshot when it cannot
// replay the gap. Updates are applied by version (never older over newer) and rendered once per frame.

import { matchesFilter, parseFilter, type AlertFilter, type AlertSummary } from "../../../shared/alert-filter.ts";

export interface ChainSummary {
  id: string;
  version: number;
  score: number;
  last_seen: string;
  steps: number;
  tactics: string[];
}

export type LiveStatus = "idle" | "connecting" | "syncing" | "live" | "reconnecting";

interface ServerMsg {
  type: string;
  seq?: number;
  epoch?: string;
  part?: number;
  last?: boolean;
  alerts?: AlertSummary[];
  alert?: AlertSummary;
  chain?: ChainSummary;
  counts?: Record<string, number>;
  total?: number;
  truncated?: boolean;
  code?: string;
  message?: string;
  sub?: number;
}

export const CLOSE_SESSION_ENDED = 4001;

class LiveState {
  status = $state<LiveStatus>("idle");
  /** Bumped when the alert set changed; read it to depend on `alerts`. */
  rev = $state(0);
  counts = $state<Record<string, number>>({});
  total = $state(0);
  truncated = $state(false);
  lastError = $state<string | null>(null);
  /** Alerts by id; not deeply reactive (10,000 of them): `rev` signals changes. */
  alerts = new Map<string, AlertSummary>();

  private ws: WebSocket | null = null;
  private epoch: string | null = null;
  private seq = -1;
  private filter: string | null = null;
  private parsed: AlertFilter = parseFilter(new URLSearchParams());
  private me = "";
  private subscribedFilter: string | null = null;
  private staging: Map<string, AlertSummary> | null = null;
  /** Number of the latest subscription; snapshot parts for an older one are ignored. */
  private sub = 0;
  private retry = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private frame = 0;
  private stopped = true;
  private readonly chainListeners = new Set<(c: ChainSummary) => void>();
  private readonly alertListeners = new Set<(a: AlertSummary) => void>();
  private onSessionEnded: (() => void) | null = null;

  /**
   * Opens the channel (idempotent). Called once at boot, before the session check answers, so the
   * snapshot is on its way in parallel; called again with the user's name once it is known.
   */
  start(me: string, onSessionEnded: () => void): void {
    if (me && me !== this.me) {
      this.me = me;
      if (this.filter !== null) this.parsed = parseFilter(new URLSearchParams(this.filter));
    }
    this.onSessionEnded = onSessionEnded;
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.ws?.close(1000, "signed out");
    this.ws = null;
    this.alerts = new Map();
    this.epoch = null;
    this.seq = -1;
    this.subscribedFilter = null;
    this.status = "idle";
    this.rev++;
  }

  /** Sets the queue filter (a URL query string); a new filter gets a new snapshot. */
  setFilter(filter: string): void {
    if (filter === this.filter) return;
    this.filter = filter;
    this.parsed = parseFilter(new URLSearchParams(filter));
    if (this.ws?.readyState === WebSocket.OPEN) this.subscribe(false);
  }

  onChain(fn: (c: ChainSummary) => void): () => void {
    this.chainListeners.add(fn);
    return () => this.chainListeners.delete(fn);
  }

  onAlert(fn: (a: AlertSummary) => void): () => void {
    this.alertListeners.add(fn);
    return () => this.alertListeners.delete(fn);
  }

  /** Applies an alert the server confirmed (e.g. a triage answer) ahead of its live echo. */
  apply(a: AlertSummary): void {
    if (this.accept(a)) this.changed();
  }

  /**
   * Keeps the held set equal to what the filter selects: a matching update is stored (unless older than
   * what is held), a non-matching one removes the alert. Bounded by the snapshot size plus new arrivals.
   */
  private accept(a: AlertSummary): boolean {
    if (!matchesFilter(a, this.parsed, this.me)) {
      const cur = this.alerts.get(a.id);
      if (!cur || cur.version > a.version) return false;
      this.alerts.delete(a.id);
      return true;
    }
    return this.put(this.alerts, a);
  }

  private open(): void {
    if (this.stopped) return;
    this.status = this.retry ? "reconnecting" : "connecting";
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/live`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.lastError = null;
      this.subscribe(true);
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") return;
      let msg: ServerMsg;
      try {
        msg = JSON.parse(e.data) as ServerMsg;
      } catch {
        return;
      }
      this.handle(msg);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (e.code === CLOSE_SESSION_ENDED || e.code === 1008) {
        this.stopped = true;
        this.status = "idle";
        this.onSessionEnded?.();
        return;
      }
      if (e.reason) this.lastError = e.reason;
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.status = "reconnecting";
    const delay = Math.min(10_000, 250 * 2 ** this.retry) * (0.75 + Math.random() * 0.5);
    this.retry = Math.min(this.retry + 1, 8);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private subscribe(mayResume: boolean): void {
    const filter = this.filter ?? "";
    const resume = mayResume && this.epoch && this.seq >= 0 && this.subscribedFilter === filter ? { epoch: this.epoch, seq: this.seq } : null;
    this.subscribedFilter = filter;
    this.status = "syncing";
    this.staging = null;
    this.ws?.send(JSON.stringify({ type: "subscribe", filter, resume, sub: ++this.sub }));
  }

  private handle(m: ServerMsg): void {
    switch (m.type) {
      case "hello":
        return;
      case "snapshot": {
        if (m.sub !== undefined && m.sub !== this.sub) return; // for a filter no longer shown
        // parts are shown as they arrive: the first, small one fills the screen at once
        if (m.part === 0 || !this.staging) {
          this.staging = new Map();
          this.alerts = this.staging;
          this.total = m.total ?? 0;
        }
        for (const a of m.alerts ?? []) this.staging.set(a.id, a);
        if (m.last) {
          this.staging = null;
          this.epoch = m.epoch ?? null;
          this.seq = m.seq ?? -1;
          this.truncated = !!m.truncated;
          this.status = "live";
          this.retry = 0;
        }
        this.changed();
        return;
      }
      case "resumed":
        if (m.sub !== undefined && m.sub !== this.sub) return;
        this.status = "live";
        this.retry = 0;
        return;
      case "counts":
        this.counts = m.counts ?? {};
        return;
      case "alert":
        if (m.seq !== undefined) this.seq = m.seq;
        if (m.alert) {
          for (const fn of this.alertListeners) fn(m.alert);
          if (this.accept(m.alert)) this.changed();
        }
        return;
      case "chain":
        if (m.seq !== undefined) this.seq = m.seq;
        if (m.chain) for (const fn of this.chainListeners) fn(m.chain);
        return;
      case "error":
        this.lastError = m.message ?? m.code ?? "error";
        return;
    }
  }

  /** Stores an alert unless a newer version is held; true when it changed something. */
  private put(map: Map<string, AlertSummary>, a: AlertSummary): boolean {
    const cur = map.get(a.id);
    if (cur && cur.version >= a.version) return false;
    map.set(a.id, a);
    return true;
  }

  private changed(): void {
    if (this.frame) return;
    const flush = () => {
      this.frame = 0;
      this.rev++;
    };
    // one render per frame however many updates arrive; a hidden tab still updates (timers)
    this.frame = document.hidden ? (setTimeout(flush, 100) as unknown as number) : requestAnimationFrame(flush);
  }
}

export const live = new LiveState();
