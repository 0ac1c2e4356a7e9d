// A bounded ring of the last N live messages with their sequence numbers, so a client that reconnects
// gets exactly what it missed; a gap older than the ring gets a fresh snapshot instead.

export interface Buffered {
  seq: number;
  data: string;
}

export class ReplayBuffer {
  private readonly ring: (Buffered | undefined)[];
  private start = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array(capacity);
  }

  push(item: Buffered): void {
    const i = (this.start + this.size) % this.capacity;
    this.ring[i] = item;
    if (this.size < this.capacity) this.size++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** Oldest sequence number held, or null when empty. */
  firstSeq(): number | null {
    return this.size ? this.ring[this.start]!.seq : null;
  }

  get length(): number {
    return this.size;
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
