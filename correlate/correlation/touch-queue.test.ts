import { describe, expect, it } from "vitest";
import { SlotTouchQueue, type Slotted } from "./touch-queue.ts";

const unit = (name: string): Slotted & { name: string } => ({ name, slot: -1 });

describe("SlotTouchQueue", () => {
  it("gives the least recently updated unit, skipping updates that a later one replaced", () => {
    const q = new SlotTouchQueue<ReturnType<typeof unit>>();
    const [a, b, c] = [unit("a"), unit("b"), unit("c")];
    q.push(a, 1, 100);
    q.push(b, 2, 200);
    q.push(c, 3, 300);
    q.push(a, 4, 400);
    expect(q.peek()?.name).toBe("b");
    expect(q.peekStamp()).toBe(2);
    expect(q.headTime()).toBe(200);
    q.shift();
    expect(q.peek()?.name).toBe("c");
    q.shift();
    expect(q.peek()?.name).toBe("a");
    expect(q.headTime()).toBe(400);
    q.shift();
    expect(q.peek()).toBeNull();
    expect(q.peekStamp()).toBe(Infinity);
  });

  it("forgets a removed unit and hands its slot to the next one without confusing their entries", () => {
    const q = new SlotTouchQueue<ReturnType<typeof unit>>();
    const [a, b, c] = [unit("a"), unit("b"), unit("c")];
    q.push(a, 1, 0);
    q.push(b, 2, 0);
    const slotOfA = a.slot;
    q.remove(a);
    expect(a.slot).toBe(-1);
    q.push(c, 3, 0);
    expect(c.slot).toBe(slotOfA);
    // a's old entry (stamp 1) names the slot c now holds: it is stale, b comes first
    expect(q.peek()?.name).toBe("b");
    q.shift();
    expect(q.peek()?.name).toBe("c");
  });

  it("compacts stale entries away and keeps the order of the live ones", () => {
    const q = new SlotTouchQueue<ReturnType<typeof unit>>();
    const units = Array.from({ length: 10 }, (_, i) => unit(`u${i}`));
    let stamp = 0;
    for (let round = 0; round < 300; round++) for (const u of units) q.push(u, ++stamp, stamp);
    expect(q.entries).toBe(3_000);
    q.maybeCompact(units.length);
    expect(q.entries).toBe(10);
    const order: string[] = [];
    for (let g = q.peek(); g !== null; g = q.peek()) {
      order.push(g.name);
      q.shift();
    }
    expect(order).toEqual(units.map((u) => u.name));
  });

  it("reset unlinks every unit", () => {
    const q = new SlotTouchQueue<ReturnType<typeof unit>>();
    const a = unit("a");
    q.push(a, 1, 0);
    q.reset();
    expect(a.slot).toBe(-1);
    expect(q.peek()).toBeNull();
    q.push(a, 2, 0);
    expect(q.peek()?.name).toBe("a");
  });
});
