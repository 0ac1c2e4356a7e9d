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

/** A unit of a SlotTouchQueue: the queue gives it a slot while it is linked (-1 when not). */
export interface Slotted {
  slot: number;
}

/**
 * The same order, with staleness decided without reading the unit: entries are (slot, stamp) and a
 * slot's latest stamp lives in one small table. Every update leaves one stale entry that is skipped
 * later; reading each skipped unit (a random object, a cache miss with many units) would cost as
 * much as the update itself. Units are linked on their first push and unlinked when removed.
 */
export class SlotTouchQueue<G extends Slotted> {
  private q: number[] = [];
  private s: number[] = [];
  private h = 0;
  /** Slot → latest stamp (-1: free slot). */
  private latest: number[] = [];
  /** Slot → unit. */
  private units: (G | null)[] = [];
  private free: number[] = [];

  /** Records an update of g with a new stamp (links it first if needed). */
  push(g: G, stamp: number): void {
    let slot = g.slot;
    if (slot < 0) {
      slot = this.free.length > 0 ? this.free.pop()! : this.units.length;
      g.slot = slot;
      this.units[slot] = g;
    }
    this.latest[slot] = stamp;
    this.q.push(slot);
    this.s.push(stamp);
  }

  /** Unlinks g: its entries become stale and its slot is reused. */
  remove(g: G): void {
    const slot = g.slot;
    if (slot < 0) return;
    this.latest[slot] = -1;
    this.units[slot] = null;
    this.free.push(slot);
    g.slot = -1;
  }

  /** The stalest linked unit, or null; drops stale entries on the way. */
  peek(): G | null {
    const q = this.q;
    const s = this.s;
    const latest = this.latest;
    let h = this.h;
    while (h < q.length) {
      if (latest[q[h]] === s[h]) {
        this.h = h;
        return this.units[q[h]];
      }
      h++;
    }
    this.h = h;
    this.q = [];
    this.s = [];
    this.h = 0;
    return null;
  }

  /** Stamp of the stalest linked unit (Infinity when none). */
  peekStamp(): number {
    return this.peek() === null ? Infinity : this.s[this.h];
  }

  /** Removes the head entry (after peek returned its unit). */
  shift(): void {
    if (this.h < this.q.length) this.h++;
  }

  /** Drops stale entries when they outnumber live ones (amortized O(1) per push). */
  maybeCompact(live: number): void {
    const len = this.q.length - this.h;
    if (len < 1024 || len < 2 * live) return;
    const q: number[] = [];
    const s: number[] = [];
    const latest = this.latest;
    for (let i = this.h; i < this.q.length; i++) {
      if (latest[this.q[i]] === this.s[i]) {
        q.push(this.q[i]);
        s.push(this.s[i]);
      }
    }
    this.q = q;
    this.s = s;
    this.h = 0;
  }

  /** Unlinks every unit. */
  reset(): void {
    for (const g of this.units) if (g !== null) g.slot = -1;
    this.q = [];
    this.s = [];
    this.h = 0;
    this.latest = [];
    this.units = [];
    this.free = [];
  }

  get entries(): number {
    return this.q.length - this.h;
  }
}
