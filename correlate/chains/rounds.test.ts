import { describe, expect, it } from "vitest";
import { Rounds } from "./rounds.ts";

const tick = () => new Promise<void>((r) => setTimeout(r, 5));

describe("Rounds", () => {
  it("joins that arrive together share one round; a join during a round waits for the next one", async () => {
    const pending: number[] = [];
    const done: number[][] = [];
    let release: (() => void) | null = null;
    const rounds = new Rounds(async () => {
      const mine = pending.splice(0);
      await new Promise<void>((r) => (release = r));
      done.push(mine);
    });
    pending.push(1);
    const a = rounds.join();
    pending.push(2);
    const b = rounds.join();
    await tick();
    // the first round took 1 and 2; 3 arrives while it runs
    pending.push(3);
    let cDone = false;
    const c = rounds.join().then(() => (cDone = true));
    release!();
    await Promise.all([a, b]);
    expect(done).toEqual([[1, 2]]);
    expect(cDone).toBe(false);
    await tick();
    release!();
    await c;
    expect(done).toEqual([[1, 2], [3]]);
    expect(rounds.busy).toBe(false);
  });

  it("a failed round rejects its joiners only; the next round runs", async () => {
    let n = 0;
    const rounds = new Rounds(async () => {
      n++;
      if (n === 1) throw new Error("store down");
    });
    const a = rounds.join();
    await expect(a).rejects.toThrow("store down");
    await expect(rounds.join()).resolves.toBeUndefined();
    expect(n).toBe(2);
  });

  it("runs rounds one at a time", async () => {
    let active = 0;
    let most = 0;
    const rounds = new Rounds(async () => {
      active++;
      most = Math.max(most, active);
      await tick();
      active--;
    });
    const all: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      all.push(rounds.join());
      await new Promise<void>((r) => setTimeout(r, i % 3));
    }
    await Promise.all(all);
    expect(most).toBe(1);
  });
});
