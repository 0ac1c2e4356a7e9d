// Group commit for the chain builder's writes: batches handled at the same time (one per signals
// partition) share one round of store writes and one publish instead of one round each, and rounds run
// one after another, so two writes of the same chain or alert never race.

/** Serial rounds of work; each round does everything its joiners left pending before it started. */
export class Rounds {
  private running = false;
  private next: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | null = null;

  /** `round` takes what is pending when it starts; a caller that joins while it runs waits for the next one. */
  constructor(private readonly round: () => Promise<void>) {}

  /**
   * Resolves once a round that started after this call has finished (rejects with that round's error).
   * A round starts one macrotask after the first join, so batches delivered together join the same one.
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

  /** True while a round runs or one is waiting to start. */
  get busy(): boolean {
    return this.running;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.next) {
        await new Promise<void>((r) => setImmediate(r));
        const d = this.next;
        this.next = null;
        try {
          await this.round();
          d.resolve();
        } catch (err) {
          d.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
