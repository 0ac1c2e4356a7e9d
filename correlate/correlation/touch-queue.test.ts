// The least-recently-updated queue: order across queues that share a stamp counter, and renumbering
// that counter before it leaves the small-integer range without changing that order.
import { describe, expect, it } from "vitest";
import { STAMP_LIMIT, TouchQueue, type Touchable } from "./touch-queue.ts";
import { mulberry32 } from "../../platform/prng.ts";

interface Unit extends Touchable {
  name: string;
}
const unit = (name: string): Unit => ({ name, touch: 0, dead: false });

/** Evicts everything, stalest first across the queues (as GroupBudget.reserve picks its victims). */
function evictionOrder(queues: TouchQueue<Unit>[]): string[] {
  const out: string[] = [];
  for (;;) {
    let best: TouchQueue<Unit> | null = null;
    let oldest = Infinity;
    for (const q of queues) {
      const t = q.peekStamp();
      if (t < oldest) {
        oldest = t;
        best = q;
      }
    }
    if (best === null) return out;
    out.push(best.peek()!.name);
    best.shift();
  }
}

/** A failure replays. */
const prng = mulberry32;

describe("TouchQueue", () => {
  it("renumbers the live entries of every queue 1..n in their order across the queues, dropping stale and dead ones", () => {
    const a = new TouchQueue<Unit>();
    const b = new TouchQueue<Unit>();
    const [x, y, z, w] = [unit("x"), unit("y"), unit("z"), unit("w")];
    let seq = STAMP_LIMIT - 10;
    a.push(x, ++seq);
    b.push(y, ++seq);
    a.push(z, ++seq);
    b.push(w, ++seq);
    a.push(x, ++seq); // x again: its first entry is stale
    w.dead = true;
    seq = TouchQueue.renumber([a, b]);
    expect(seq).toBe(3);
    expect([y.touch, z.touch, x.touch]).toEqual([1, 2, 3]);
    expect(a.entries + b.entries).toBe(3);
    b.push(w, ++seq);
    w.dead = false;
    expect(w.touch).toBe(4);
    expect(evictionOrder([a, b])).toEqual(["y", "z", "x", "w"]);
  });

  it("keeps the least-recently-updated order across queues through renumberings at STAMP_LIMIT", () => {
    const rnd = prng(20261121);
    const queues = [new TouchQueue<Unit>(), new TouchQueue<Unit>(), new TouchQueue<Unit>()];
    const units = Array.from({ length: 300 }, (_, i) => ({ u: unit(`u${i}`), q: queues[i % 3] }));
    // the order the model expects: by the step of each live unit's last update
    const last = new Map<string, number>();
    const byUnit = new Map(units.map(({ u }) => [u.name, u]));
    const modelOrder = () => [...last.entries()].sort((p, r) => p[1] - r[1]).map(([name]) => name);
    // start near the limit so the counter crosses it several times
    let seq = STAMP_LIMIT - 3_000;
    let renumberings = 0;
    for (let step = 0; step < 20_000; step++) {
      const { u, q } = units[Math.floor(rnd() * units.length)];
      if (rnd() < 0.02) {
        u.dead = true;
        last.delete(u.name);
        continue;
      }
      if (seq + 1 >= STAMP_LIMIT) {
        seq = TouchQueue.renumber(queues);
        renumberings++;
        // the live units' new stamps are 1..n in the order of their last updates
        const order = modelOrder();
        expect(order.map((name) => byUnit.get(name)!.touch)).toEqual(order.map((_, i) => i + 1));
        // short runs between renumberings: jump close to the limit again
        seq = Math.max(seq, STAMP_LIMIT - 1_500 - Math.floor(rnd() * 1_000));
      }
      if (u.dead) u.dead = false;
      q.push(u, ++seq);
      last.set(u.name, step);
      if ((seq & 63) === 0) q.maybeCompact(units.length);
      expect(seq).toBeLessThan(STAMP_LIMIT);
    }
    expect(renumberings).toBeGreaterThan(3);
    for (const { u } of units) expect(u.touch).toBeLessThan(STAMP_LIMIT);
    expect(evictionOrder(queues)).toEqual(modelOrder());
  });

  it("renumbering empty queues gives 0", () => {
    expect(TouchQueue.renumber([new TouchQueue<Unit>(), new TouchQueue<Unit>()])).toBe(0);
  });
});
