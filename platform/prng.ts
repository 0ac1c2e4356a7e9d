// mulberry32: a small, fast, seeded pseudo-random generator (32 bits of state). For generated inputs that
// must be the same on every run (the demo's environment, benchmark lanes, property tests whose failures
// replay), never for anything secret.

/** A generator of numbers in [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
