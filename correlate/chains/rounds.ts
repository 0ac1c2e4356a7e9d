// Group commit for the chain builder's writes: batches handled at the same time (one per signals
// partition) share one round of store writes and one publish instead of one round each, and rounds run
// one after another, so two writes of the same chain or alert never race.
//
// A round may leave a tail: work its joiners still wait for (the audit records of what it wrote) that
// the next round need not wait for. The next round's writes overlap that tail; at most one tail runs
// beside a round, and joiners resolve in round order.

/** What a round returns: nothing, or the part of its work that may overlap the next round. */
export type RoundResult = void | { tail: Promise<void> };

/** Serial rounds of work; each round does everything its joiners left pending before it started. */
export class Rounds {
  private running = false;
  private next: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | null = null;
  /** Settles (never rejects) once the last started round's joiners were answered. */
  private answered: Promise<void> = Promise.resolve();
  private tails = 0;

  /** `round` takes what is pending when it starts; a caller that joins while it runs waits for the next one. */
  constructor(private readonly round: () => Promise<RoundResult>) {}

  /**
   * Resolves once a round that started after this call has finished, its tail included (rejects with
   * that round's error or its tail's). A round starts one macrotask after the first join, so batches
   * delivered together join the same one.
   */
  join(): Promise<void> {
    if (!this.next) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.next = { promise, resolve, reject };
    }
    const p = this.next.promise;
    if (!this.running) void this.loop();
    return p;
  }

  /** True while a round runs, one is waiting to start, or a round's tail has not finished. */
  get busy(): boolean {
    return this.running || this.tails > 0;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.next) {
        await new Promise<void>((r) => setImmediate(r));
        const d = this.next;
        this.next = null;
        let own: Promise<void>;
        try {
          const r = await this.round();
          own = r ? r.tail : Promise.resolve();
        } catch (err) {
          own = Promise.reject(err);
        }
        own.catch(() => undefined); // answered below, in round order
        const before = this.answered;
        this.tails++;
        this.answered = before
          .then(() => own)
          .then(d.resolve, d.reject)
          .finally(() => this.tails--);
        // the previous round's tail is done before the next round starts: one tail beside a round at most
        await before;
      }
    } finally {
      this.running = false;
    }
  }
}
