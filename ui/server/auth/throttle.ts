// Sign-in throttling: failures are counted per user name and per client address within a window;
// past the limit, sign-in is locked for a time that doubles with each further failure, up to a cap.
// Bounded: the oldest entries are forgotten first.

export interface ThrottleOptions {
  maxFailures: number;
  windowMs: number;
  maxLockoutMs: number;
  /** Address limit = maxFailures * this (one address may serve several users, e.g. a NAT). */
  addressFactor?: number;
  maxKeys?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  first: number;
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly opts: ThrottleOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds until another attempt is allowed for this user and address; 0 = allowed now. */
  retryAfter(user: string, ip: string | null): number {
    const t = this.now();
    let wait = 0;
    for (const k of this.keys(user, ip)) {
      if (k === null) continue;
      const e = this.entries.get(k);
      if (e && e.lockedUntil > t) wait = Math.max(wait, e.lockedUntil - t);
    }
    return wait;
  }

  failure(user: string, ip: string | null): void {
    const t = this.now();
    const [uk, ik] = this.keys(user, ip);
    this.bump(uk, this.opts.maxFailures, t);
    if (ik) this.bump(ik, this.opts.maxFailures * (this.opts.addressFactor ?? 4), t);
  }

  success(user: string, _ip: string | null): void {
    this.entries.delete(`u:${user}`);
  }

  private keys(user: string, ip: string | null): [string, string | null] {
    return [`u:${user}`, ip ? `a:${ip}` : null];
  }

  private bump(key: string, limit: number, t: number): void {
    let e = this.entries.get(key);
    if (!e || (t - e.first > this.opts.windowMs && e.lockedUntil <= t)) e = { failures: 0, first: t, lockedUntil: 0 };
    e.failures++;
    if (e.failures >= limit) {
      const lock = Math.min(this.opts.maxLockoutMs, 1000 * 2 ** (e.failures - limit));
      e.lockedUntil = t + lock;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    const max = this.opts.maxKeys ?? 100_000;
    while (this.entries.size > max) this.entries.delete(this.entries.keys().next().value as string);
  }
}
