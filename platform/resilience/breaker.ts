// A circuit breaker for calls to a dependency that can go away (the store): after a run of failed calls it
// opens and refuses calls at once (no piling up of retries against a node that is down), lets one trial
// call through after a jittered cool-down that grows while the dependency stays down, and closes again
// on the first success. Its state, refusals and openings are metrics.

import { SigilError } from "../errors.ts";
import { metric, prom } from "../telemetry/metrics.ts";

export type BreakerState = "closed" | "open" | "half_open";

/** The gauge value of each state: 0 closed, 1 half open (one trial call), 2 open (calls refused). */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export interface BreakerOptions {
  /** Metric name stem, e.g. "sigil_store_breaker" → _state, _opened_total, _rejected_total. */
  metric: string;
  /** Bounded labels on every metric, e.g. { store: "elasticsearch" }. */
  labels: Record<string, string>;
  /** What is behind it, for error messages ("Elasticsearch at http://..."). */
  target: string;
  /** Error code of refused calls. */
  code: string;
  hint?: string;
  /** Consecutive failed calls that open the breaker. */
  failureThreshold?: number;
  /** First cool-down before a trial call; doubles while trials fail, up to maxOpenMs. */
  openMs?: number;
  maxOpenMs?: number;
  now?: () => number;
  random?: () => number;
  onChange?: (from: BreakerState, to: BreakerState, detail: string) => void;
}

export const BREAKER_DEFAULTS = { failureThreshold: 5, openMs: 1_000, maxOpenMs: 30_000 } as const;

/** A call refused while the breaker is open (the dependency failed repeatedly; try again later). */
export class BreakerOpenError extends SigilError {
  constructor(code: string, message: string, readonly retryInMs: number, hint?: string, address?: string) {
    super(code, message, { hint, location: address ? { address } : undefined });
    this.name = "BreakerOpenError";
  }
}

export class CircuitBreaker {
  private st: BreakerState = "closed";
  private failures = 0;
  private openUntil = 0;
  private cooldown: number;
  private trialInFlight = false;
  private lastError = "";
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly threshold: number;
  private readonly gauge: prom.Gauge<string>;
  private readonly opened: prom.Counter<string>;
  private readonly rejected: prom.Counter<string>;

  constructor(private readonly o: BreakerOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.threshold = Math.max(1, o.failureThreshold ?? BREAKER_DEFAULTS.failureThreshold);
    this.cooldown = o.openMs ?? BREAKER_DEFAULTS.openMs;
    const labelNames = Object.keys(o.labels);
    this.gauge = metric(`${o.metric}_state`, () => new prom.Gauge({ name: `${o.metric}_state`, help: "Circuit breaker state: 0 closed, 1 half open (one trial call), 2 open (calls refused)", labelNames }));
    this.opened = metric(`${o.metric}_opened_total`, () => new prom.Counter({ name: `${o.metric}_opened_total`, help: "Times the circuit breaker opened after consecutive failures", labelNames }));
    this.rejected = metric(`${o.metric}_rejected_total`, () => new prom.Counter({ name: `${o.metric}_rejected_total`, help: "Calls refused at once because the circuit breaker was open", labelNames }));
    this.gauge.set(o.labels, 0);
    this.opened.inc(o.labels, 0);
    this.rejected.inc(o.labels, 0);
  }

  get state(): BreakerState {
    return this.st;
  }

  /**
   * Call before each attempt. Throws BreakerOpenError while open (or while a trial call is in flight);
   * after the cool-down, lets exactly one trial call through. Report the outcome with `success`/`failure`.
   */
  before(): void {
    if (this.st === "closed") return;
    const t = this.now();
    if (this.st === "open" && t >= this.openUntil) this.move("half_open", "cool-down over: one trial call");
    if (this.st === "half_open" && !this.trialInFlight) {
      this.trialInFlight = true;
      return;
    }
    this.rejected.inc(this.o.labels);
    const wait = Math.max(0, this.openUntil - t);
    throw new BreakerOpenError(
      this.o.code,
      `${this.o.target} failed ${this.threshold}+ times in a row (last: ${this.lastError || "unknown"}); calls are paused for ${Math.ceil(wait / 1000) || 1} s`,
      wait,
      this.o.hint,
    );
  }

  /** The call succeeded (the dependency answered, even with a client error). */
  success(): void {
    this.failures = 0;
    this.trialInFlight = false;
    if (this.st !== "closed") {
      this.cooldown = this.o.openMs ?? BREAKER_DEFAULTS.openMs;
      this.move("closed", "call succeeded");
    }
  }

  /** The call failed in a way that says the dependency is unavailable (connection, timeout, overload). */
  failure(reason: string): void {
    this.lastError = reason.slice(0, 300);
    this.failures++;
    if (this.st === "half_open") {
      this.trialInFlight = false;
      this.cooldown = Math.min(this.o.maxOpenMs ?? BREAKER_DEFAULTS.maxOpenMs, this.cooldown * 2);
      this.open("trial call failed");
    } else if (this.st === "closed" && this.failures >= this.threshold) {
      this.open(`${this.failures} consecutive failures`);
    }
  }

  /** A call that neither succeeded nor showed the dependency down (e.g. cancelled): frees the trial slot. */
  release(): void {
    this.trialInFlight = false;
  }

  private open(why: string): void {
    // full jitter on the upper half, so many processes behind one breaker state do not retry in step
    const wait = Math.round(this.cooldown / 2 + (this.random() * this.cooldown) / 2);
    this.openUntil = this.now() + wait;
    this.opened.inc(this.o.labels);
    this.move("open", `${why}; next trial in ${wait} ms`);
  }

  private move(to: BreakerState, detail: string): void {
    const from = this.st;
    if (from === to && to !== "open") return;
    this.st = to;
    this.gauge.set(this.o.labels, BREAKER_STATE_VALUE[to]);
    this.o.onChange?.(from, to, detail);
  }

  /** Health detail: state and, when not closed, the last failure. */
  describe(): { ok: boolean; detail: string } {
    if (this.st === "closed") return { ok: true, detail: `${this.o.target}: circuit closed` };
    return { ok: false, detail: `${this.o.target}: circuit ${this.st.replace("_", " ")} after repeated failures (last: ${this.lastError})` };
  }
}
