// Key → partition, the same function Kafka's Java client and kafkajs' default partitioner use
// (murmur2, positive, modulo), so a key lands on the same partition in-process and on Kafka.

/** Kafka's murmur2 over the UTF-8 bytes of a key. */
export function murmur2(data: Buffer): number {
  const length = data.length;
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = seed ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k = (data[i4] & 0xff) + ((data[i4 + 1] & 0xff) << 8) + ((data[i4 + 2] & 0xff) << 16) + ((data[i4 + 3] & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const left = length & 3;
  const base = length & ~3;
  if (left === 3) h ^= (data[base + 2] & 0xff) << 16;
  if (left >= 2) h ^= (data[base + 1] & 0xff) << 8;
  if (left >= 1) {
    h ^= data[base] & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Partition for a key, as Kafka's default partitioner picks it. */
export function partitionFor(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, "utf8")) & 0x7fffffff) % partitions;
}
