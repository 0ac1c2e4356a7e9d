// Least-recently-updated order without touching neighbours: every update appends (group, stamp) to
// a queue; an entry whose stamp is no longer the group's latest is stale and skipped when read. The
// per-event cost is two sequential writes, whatever the number of groups (no cache misses on other
// groups, unlike a linked list). Compacted when stale entries dominate.

export interface Touchable {
  /** Stamp of the latest update; the entry carrying it is the live one. */
  touch: number;
  dead: boolean;
}

export class TouchQueue<G extends Touchable> {
  private q: (G | null)[] = [];
  private s: number[] = [];
  private h = 0;

  /** Records an update of g with a new stamp. */
  push(g: G, stamp: number): void {
    g.touch = stamp;
    this.q.push(g);
    this.s.push(stamp);
  }

  /** The stalest live group, or null; drops stale entries on the way. */
  peek(): G | null {
    const q = this.q;
    const s = this.s;
    while (this.h < q.length) {
      const g = q[this.h]!;
      if (!g.dead && g.touch === s[this.h]) return g;
      q[this.h] = null;
      this.h++;
    }
    this.reset();
    return null;
  }

  /** Stamp of the stalest live group (Infinity when empty). */
  peekStamp(): number {
    const g = this.peek();
    return g === null ? Infinity : g.touch;
  }

  /** Removes the head entry (after peek returned its group). */
  shift(): void {
    if (this.h < this.q.length) {
      this.q[this.h] = null;
      this.h++;
    }
  }

  /** Drops stale entries when they outnumber live ones (amortized O(1) per push). */
  maybeCompact(live: number): void {
    const len = this.q.length - this.h;
    if (len < 1024 || len < 2 * live) return;
    const q: (G | null)[] = [];
    const s: number[] = [];
    for (let i = this.h; i < this.q.length; i++) {
      const g = this.q[i];
      if (g !== null && !g.dead && g.touch === this.s[i]) {
        q.push(g);
        s.push(this.s[i]);
      }
    }
    this.q = q;
    this.s = s;
    this.h = 0;
  }

  reset(): void {
    this.q = [];
    this.s = [];
    this.h = 0;
  }

  get entries(): number {
    return this.q.length - this.h;
  }
}
