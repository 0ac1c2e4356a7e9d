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

  describe("tails (work the joiners wait for and the next round does not)", () => {
    /** A round per join, each leaving a tail the test settles by hand. */
    function tailed() {
      const started: number[] = [];
      const tails: { resolve: () => void; reject: (e: unknown) => void }[] = [];
      let n = 0;
      const rounds = new Rounds(async () => {
        started.push(++n);
        const tail = new Promise<void>((resolve, reject) => tails.push({ resolve, reject }));
        return { tail };
      });
      return { rounds, started, tails };
    }

    it("the next round starts while a tail runs; a round's joiners wait for its tail", async () => {
      const { rounds, started, tails } = tailed();
      let aDone = false;
      const a = rounds.join().then(() => (aDone = true));
      await tick();
      const b = rounds.join();
      await tick();
      expect(started).toEqual([1, 2]); // round 2 did not wait for round 1's tail
      expect(aDone).toBe(false);
      expect(rounds.busy).toBe(true);
      tails[0].resolve();
      await a;
      tails[1].resolve();
      await b;
      await tick();
      expect(rounds.busy).toBe(false);
    });

    it("joiners are answered in round order, whichever tail finishes first", async () => {
      const { rounds, tails } = tailed();
      const order: string[] = [];
      const a = rounds.join().then(() => order.push("a"));
      await tick();
      const b = rounds.join().then(() => order.push("b"));
      await tick();
      tails[1].resolve(); // round 2's tail first
      await tick();
      expect(order).toEqual([]);
      tails[0].resolve();
      await Promise.all([a, b]);
      expect(order).toEqual(["a", "b"]);
    });

    it("at most one tail runs beside a round: round 3 waits for round 1's tail", async () => {
      const { rounds, started, tails } = tailed();
      const all = [rounds.join()];
      await tick();
      all.push(rounds.join());
      await tick();
      all.push(rounds.join());
      await tick();
      expect(started).toEqual([1, 2]);
      tails[0].resolve();
      await tick();
      expect(started).toEqual([1, 2, 3]);
      tails[1].resolve();
      tails[2].resolve();
      await Promise.all(all);
    });

    it("a failed tail rejects its own joiners only", async () => {
      const { rounds, tails } = tailed();
      const a = rounds.join();
      await tick();
      const b = rounds.join();
      await tick();
      tails[0].reject(new Error("audit write failed"));
      tails[1].resolve();
      await expect(a).rejects.toThrow("audit write failed");
      await expect(b).resolves.toBeUndefined();
    });
  });
});
