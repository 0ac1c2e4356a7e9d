// Per-token rate limits (token buckets) and batch replay protection for the ingest receivers.

/** Token buckets keyed by token id: `rate` events per second, bursts up to `rate` (one second's worth). */
export class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly defaultRate: number, private readonly now = () => Date.now(), private readonly maxKeys = 100_000) {}

  /**
   * Takes `n` units for `key`. Returns 0 when allowed, else the milliseconds after which the request
   * would be allowed (for Retry-After). A rate of 0 means unlimited.
   */
  take(key: string, n: number, rate = this.defaultRate): number {
    if (rate <= 0) return 0;
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.buckets.clear();
      b = { tokens: rate, at: t };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(rate, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    // a batch larger than one second's budget is allowed when the bucket is full, so it can ever pass
    if (b.tokens >= n || b.tokens >= rate) {
      b.tokens -= n;
      return 0;
    }
    return Math.ceil(((n - b.tokens) / rate) * 1000);
  }
}

export type ReplayVerdict = { ok: true } | { ok: false; code: "batch_duplicate" | "batch_too_old" | "batch_from_future" | "batch_bad_header"; reason: string };

/**
 * Rejects batches whose timestamp is outside ±window or whose id was already accepted within the window.
 * Record an id with `accept` only after the batch was durably published, so a client's retry of a batch
 * that failed is not refused. A retry of an accepted batch gets `batch_duplicate`, which clients treat as
 * delivered.
 */
export class ReplayGuard {
  private seen = new Map<string, number>(); // id → batch time, in insertion order

  constructor(private readonly windowMs: number, private readonly now = () => Date.now(), private readonly maxIds = 1_000_000) {}

  check(batchId: string | undefined, batchTime: string | undefined): ReplayVerdict {
    if (!batchId || !/^[\w.:-]{8,128}$/.test(batchId)) return { ok: false, code: "batch_bad_header", reason: "batch id header missing or malformed (8-128 of [A-Za-z0-9_.:-])" };
    const ts = batchTime === undefined ? NaN : /^\d+$/.test(batchTime) ? Number(batchTime) : Date.parse(batchTime);
    if (!Number.isFinite(ts)) return { ok: false, code: "batch_bad_header", reason: "batch timestamp header missing or not a time" };
    const t = this.now();
    if (ts < t - this.windowMs) return { ok: false, code: "batch_too_old", reason: `batch timestamp is older than the ${this.windowMs} ms replay window` };
    if (ts > t + this.windowMs) return { ok: false, code: "batch_from_future", reason: `batch timestamp is more than ${this.windowMs} ms in the future; check the sender's clock` };
    if (this.seen.has(batchId)) return { ok: false, code: "batch_duplicate", reason: "this batch id was already accepted" };
    return { ok: true };
  }

  accept(batchId: string, batchTimeMs: number): void {
    this.seen.set(batchId, batchTimeMs);
    this.expire();
  }

  private expire(): void {
    const cutoff = this.now() - this.windowMs;
    // entries are roughly in time order; drop expired ones from the front, and cap the size
    for (const [id, ts] of this.seen) {
      if (ts >= cutoff && this.seen.size <= this.maxIds) break;
      this.seen.delete(id);
    }
  }
}
