// A bounded ring of the last live messages with their sequence numbers, so a client that reconnects
// gets exactly what it missed; a gap older than the ring gets a fresh snapshot instead. Bounded by count
// and by the bytes of the messages it holds, so its memory does not depend on how large alerts are.

export interface Buffered {
  seq: number;
  data: string;
}

export class ReplayBuffer {
  private readonly ring: (Buffered | undefined)[];
  private start = 0;
  private size = 0;
  private held = 0;

  /** `maxBytes`: the most message text held (UTF-16 code units, about bytes for JSON); the newest message always stays. */
  constructor(readonly capacity: number, readonly maxBytes = Infinity) {
    this.ring = new Array(capacity);
  }

  push(item: Buffered): void {
    if (this.size === this.capacity) this.dropOldest();
    this.ring[(this.start + this.size) % this.capacity] = item;
    this.size++;
    this.held += item.data.length;
    while (this.held > this.maxBytes && this.size > 1) this.dropOldest();
  }

  private dropOldest(): void {
    const old = this.ring[this.start]!;
    this.held -= old.data.length;
    this.ring[this.start] = undefined;
    this.start = (this.start + 1) % this.capacity;
    this.size--;
  }

  /** Oldest sequence number held, or null when empty. */
  firstSeq(): number | null {
    return this.size ? this.ring[this.start]!.seq : null;
  }

  get length(): number {
    return this.size;
  }

  /** Message text held (what `maxBytes` bounds). */
  get bytes(): number {
    return this.held;
  }

  /**
   * Messages after `seq`, in order; null when some of them already fell out of the ring (the caller
   * sends a snapshot). `current` is the newest sequence number issued.
   */
  since(seq: number, current: number): Buffered[] | null {
    if (seq > current) return null;
    if (seq === current) return [];
    const first = this.firstSeq();
    if (first === null || seq + 1 < first) return null;
    // sequence numbers are consecutive, so the first wanted item sits at a known offset
    const out: Buffered[] = [];
    for (let k = seq + 1 - first; k < this.size; k++) out.push(this.ring[(this.start + k) % this.capacity]!);
    return out;
  }
}
