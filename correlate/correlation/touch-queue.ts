// Least-recently-updated order without touching neighbours: every update appends (group, stamp) to
// a queue; an entry whose stamp is no longer the group's latest is stale and skipped when read. The
// per-event cost is two sequential writes, whatever the number of groups (no cache misses on other
// groups, unlike a linked list). Compacted when stale entries dominate. Queues whose order is compared
// share one stamp counter; `TouchQueue.renumber` brings it back to small integers, order kept.

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
    this.compact();
  }

  private compact(): void {
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

  /**
   * Gives the live entries of queues that share one stamp counter the stamps 1..n, keeping their order
   * across every queue (stale and dead entries are dropped), and returns n: the counter's value from then
   * on. For a counter that reached STAMP_LIMIT, so once every 2^30 updates: a merge of the queues (each is
   * in stamp order), O(n log k) for n live entries in k queues.
   */
  static renumber(queues: Iterable<TouchQueue<Touchable>>): number {
    const list: TouchQueue<Touchable>[] = [];
    for (const tq of queues) {
      tq.compact();
      if (tq.q.length > 0) list.push(tq);
    }
    // a min-heap of the queues by the stamp of their next entry
    const heap = list.map((_, i) => i);
    const at = new Array<number>(list.length).fill(0);
    const key = (i: number) => list[i].s[at[i]];
    const down = (from: number) => {
      let p = from;
      for (;;) {
        const l = 2 * p + 1;
        if (l >= heap.length) return;
        const c = l + 1 < heap.length && key(heap[l + 1]) < key(heap[l]) ? l + 1 : l;
        if (key(heap[c]) >= key(heap[p])) return;
        [heap[p], heap[c]] = [heap[c], heap[p]];
        p = c;
      }
    };
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
    let n = 0;
    while (heap.length > 0) {
      const i = heap[0];
      const tq = list[i];
      const j = at[i]++;
      tq.s[j] = ++n;
      tq.q[j]!.touch = n;
      if (at[i] === tq.s.length) {
        heap[0] = heap[heap.length - 1];
        heap.pop();
      }
      down(0);
    }
    return n;
  }
}

/**
 * Stamps stay below this: 2^30 is a small integer (Smi) in every V8 build, pointer compression included,
 * so stamps, the counter and the `touch` fields never become heap numbers (a field that once held a
 * double stays a double field, and the code that wrote small integers to it deoptimizes).
 */
export const STAMP_LIMIT = 2 ** 30;
