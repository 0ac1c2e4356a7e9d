import { describe, expect, it } from "vitest";
import kafkajs from "kafkajs";
import { murmur2, partitionFor } from "./partitioner.ts";

describe("partitioner", () => {
  it("maps keys exactly as kafkajs' default (Java-compatible) partitioner does", () => {
    const partitioner = kafkajs.Partitioners.DefaultPartitioner();
    const keys = ["", "a", "ab", "abc", "abcd", "host-1", "web-01.example.org", "ünïcødé", "日本語のホスト", ...Array.from({ length: 500 }, (_, i) => `k${i * 7919}`)];
    for (const n of [1, 3, 6, 12, 64]) {
      const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      for (const key of keys) {
        expect(partitionFor(key, n)).toBe(partitioner({ topic: "t", partitionMetadata, message: { key, value: "v" } }));
      }
    }
  });

  it("matches murmur2 values of Kafka's Java client", () => {
    // org.apache.kafka.common.utils.Utils.murmur2 on these UTF-8 strings
    expect(murmur2(Buffer.from("21"))).toBe(-973932308);
    expect(murmur2(Buffer.from("foobar"))).toBe(-790332482);
    expect(murmur2(Buffer.from("a-little-bit-long-string"))).toBe(-985981536);
    expect(murmur2(Buffer.from("a-little-bit-longer-string"))).toBe(-1486304829);
    expect(murmur2(Buffer.from("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"))).toBe(-58897971);
  });
});
