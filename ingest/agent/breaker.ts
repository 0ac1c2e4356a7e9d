// Retry pacing for the link to ingest: capped exponential backoff with full jitter, and a circuit
// breaker (closed → open → half-open → closed) so a dead endpoint is probed, not hammered.

/** Full jitter: a random wait in [0, min(maxMs, initialMs * 2^attempt)). */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  failureThreshold: number;
  openMs: number;
  maxOpenMs: number;
  now?: () => number;
  random?: () => number;
  onChange?: (from: BreakerState, to: BreakerState, info: { failures: number; openForMs?: number }) => void;
}

export class CircuitBreaker {
  private s: BreakerState = "closed";
  private failures = 0;
  private opens = 0;
  private openUntil = 0;
  private probing = false;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly o: BreakerOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  get state(): BreakerState {
    if (this.s === "open" && this.now() >= this.openUntil) this.set("half_open");
    return this.s;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Milliseconds until a request may be tried (0 when one may go now). */
  waitMs(): number {
    const st = this.state;
    if (st === "open") return Math.max(0, this.openUntil - this.now());
    if (st === "half_open" && this.probing) return 50;
    return 0;
  }

  /** Asks to send: true if the request may go (in half-open, only one probe at a time). */
  tryAcquire(): boolean {
    const st = this.state;
    if (st === "closed") return true;
    if (st === "open") return false;
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.probing = false;
    this.failures = 0;
    this.opens = 0;
    if (this.s !== "closed") this.set("closed");
  }

  failure(): void {
    this.probing = false;
    this.failures++;
    const st = this.state;
    if (st === "half_open" || (st === "closed" && this.failures >= this.o.failureThreshold)) {
      // Each failed probe doubles the time open, up to maxOpenMs, with jitter so many agents spread out.
      const base = Math.min(this.o.maxOpenMs, this.o.openMs * 2 ** Math.min(this.opens, 20));
      const openFor = Math.floor(base / 2 + (this.random() * base) / 2);
      this.opens++;
      this.openUntil = this.now() + openFor;
      this.set("open", openFor);
    }
  }

  private set(to: BreakerState, openForMs?: number): void {
    const from = this.s;
    if (from === to && to !== "open") return;
    this.s = to;
    this.o.onChange?.(from, to, { failures: this.failures, openForMs });
  }
}
