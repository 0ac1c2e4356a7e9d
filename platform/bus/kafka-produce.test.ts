// The fast produce path writes exactly the bytes kafkajs' own encoder writes, groups like kafkajs, and
// the LZ4 codec round-trips; importing the Kafka bus installs it.

import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import kafkajs from "kafkajs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { crc32c, encodeRecord, groupMessagesPerPartition, kafkajsCrc32C, kafkajsGroup, kafkajsProduceV3, kafkajsRecord, lz4Codec, produceRequestV3 } from "./kafka-produce.ts";

kafkajs.CompressionCodecs[kafkajs.CompressionTypes.LZ4] = () => lz4Codec;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const bytesOf = (r: { buffer: Buffer }) => Buffer.from(r.buffer).toString("hex");

describe("encodeRecord", () => {
  it("writes the same bytes as kafkajs for any key, value, offset and timestamp delta", () => {
    const text = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "grapheme", maxLength: 200 }), fc.string({ unit: "binary", maxLength: 100 }));
    const payload = fc.oneof(text, fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)), fc.constant(null), fc.constant(undefined));
    fc.assert(
      fc.property(payload, payload, fc.integer({ min: 0, max: 2 ** 30 - 1 }), fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.integer({ min: -200, max: 200 })), (key, value, offsetDelta, timestampDelta) => {
        const m = { key, value, offsetDelta, timestampDelta, headers: {} };
        expect(bytesOf(encodeRecord(m))).toBe(bytesOf(kafkajsRecord(m)));
      }),
      { numRuns: 600 },
    );
  });

  it("writes long values (multi-byte length varints) and headers like kafkajs", () => {
    for (const len of [0, 1, 63, 64, 127, 128, 8191, 8192, 16383, 16384, 70_000, 2_100_000]) {
      const m = { key: "host-1", value: "x".repeat(len), offsetDelta: len % 1000, timestampDelta: 0 };
      expect(bytesOf(encodeRecord(m))).toBe(bytesOf(kafkajsRecord(m)));
    }
    const withHeaders = { key: "src", value: "{}", offsetDelta: 3, timestampDelta: 5, headers: { "sigil-reason": "json_invalid" } };
    expect(bytesOf(encodeRecord(withHeaders))).toBe(bytesOf(kafkajsRecord(withHeaders)));
  });
});

describe("produceRequestV3", () => {
  afterEach(() => vi.restoreAllMocks());
  const hex = async (r: { encode: () => Promise<{ buffer: Buffer }> }) => Buffer.from((await r.encode()).buffer).toString("hex");
  const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "grapheme", maxLength: 100 }));
  const message = fc.record({ key: fc.oneof(text, fc.constant(null)), value: fc.oneof(text, fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), fc.constant(null)) });
  const topicData = fc.array(
    fc.record({ topic: fc.string({ minLength: 1, maxLength: 30 }), partitions: fc.array(fc.record({ partition: fc.nat(100), firstSequence: fc.nat(2 ** 31 - 1), messages: fc.array(message, { minLength: 1, maxLength: 40 }) }), { minLength: 1, maxLength: 4 }) }),
    { minLength: 1, maxLength: 3 },
  );

  it("encodes the same request bytes as kafkajs, uncompressed, gzip and LZ4, idempotent and transactional", async () => {
    vi.spyOn(Date, "now").mockReturnValue(1_732_000_000_123);
    await fc.assert(
      fc.asyncProperty(topicData, fc.constantFrom(0, 1, 3), fc.constantFrom(null, "tx-1"), fc.integer({ min: -1, max: 2 ** 40 }), fc.nat(32767), fc.constantFrom(-1, 1), async (td, compression, transactionalId, producerId, producerEpoch, acks) => {
          const args = { acks, timeout: 30_000, compression, transactionalId, producerId, producerEpoch, topicData: td };
          const ours = produceRequestV3(args);
          const theirs = kafkajsProduceV3(args);
          expect({ apiKey: ours.apiKey, apiVersion: ours.apiVersion, expects: ours.expectResponse() }).toEqual({ apiKey: theirs.apiKey, apiVersion: theirs.apiVersion, expects: theirs.expectResponse() });
          expect(await hex(ours)).toBe(await hex(theirs));
        }),
      { numRuns: 150 },
    );
  });

  it("leaves requests with headers or message timestamps to kafkajs' encoder", async () => {
    vi.spyOn(Date, "now").mockReturnValue(1_732_000_000_123);
    const args = { acks: -1, timeout: 1000, compression: 0, topicData: [{ topic: "sigil.dlq", partitions: [{ partition: 0, firstSequence: 7, messages: [{ key: "s", value: "{}", headers: { "sigil-reason": "x" } }, { key: "s", value: "[]", timestamp: "1732000000000" }] }] }] };
    expect(await hex(produceRequestV3(args))).toBe(await hex(kafkajsProduceV3(args)));
    // a message with headers after plain partitions and topics still sends the whole request through kafkajs
    const late = { acks: -1, timeout: 1000, compression: 3, topicData: [{ topic: "sigil.events", partitions: [{ partition: 0, messages: [{ key: "h", value: "{}" }] }] }, { topic: "sigil.dlq", partitions: [{ partition: 1, messages: [{ key: "s", value: "{}" }] }, { partition: 2, messages: [{ key: "s", value: "{}", headers: { "sigil-reason": "x" } }] }] }] };
    expect(await hex(produceRequestV3(late))).toBe(await hex(kafkajsProduceV3(late)));
  });

  it("keeps concurrent requests apart while their records wait for compression (the records buffer is reused)", async () => {
    vi.spyOn(Date, "now").mockReturnValue(1_732_000_000_123);
    const request = (n: number) => ({ acks: -1, timeout: 1000, compression: n % 2 === 0 ? 3 : 1, producerId: n, producerEpoch: 0, topicData: [{ topic: "sigil.events", partitions: [0, 1].map((partition) => ({ partition, firstSequence: n, messages: Array.from({ length: 50 + n * 37 }, (_, i) => ({ key: `h-${n}`, value: Buffer.from(JSON.stringify({ n, i, pad: "x".repeat((i * n) % 300) })) })) })) }] });
    const requests = Array.from({ length: 8 }, (_, n) => request(n));
    const ours = await Promise.all(requests.map((r) => hex(produceRequestV3(r))));
    for (let n = 0; n < requests.length; n++) expect(ours[n]).toBe(await hex(kafkajsProduceV3(requests[n])));
  });

  it("writes keys shared by many messages and partitions (their bytes made once per request) like kafkajs", async () => {
    vi.spyOn(Date, "now").mockReturnValue(1_732_000_000_123);
    const keys = ["web-1", "wéb-2", "ключ", "", "web-1"];
    const partitions = [0, 1, 2].map((partition) => ({ partition, firstSequence: partition * 10, messages: Array.from({ length: 30 }, (_, i) => ({ key: keys[(i + partition) % keys.length], value: i % 2 ? Buffer.from(`{"n":${i}}`) : `{"n":${i}}` })) }));
    const args = { acks: -1, timeout: 1000, compression: 3, producerId: 7, producerEpoch: 1, topicData: [{ topic: "sigil.events", partitions }, { topic: "sigil.dlq", partitions: partitions.slice(1) }] };
    expect(await hex(produceRequestV3(args))).toBe(await hex(kafkajsProduceV3(args)));
  });
});

describe("crc32c", () => {
  it("is CRC-32C (the check value) and agrees with kafkajs' on any bytes, every length and alignment", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(7), (a, skip) => {
        const b = Buffer.from(a).subarray(Math.min(skip, a.length));
        expect(crc32c(b)).toBe(kafkajsCrc32C(b));
      }),
      { numRuns: 500 },
    );
  });
});

describe("groupMessagesPerPartition", () => {
  it("groups like kafkajs, keeping the order within each partition", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 500 }), fc.integer({ min: 0, max: 12 }), (parts, n) => {
        const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i }));
        const messages = parts.map((p, i) => ({ key: String(i), value: "v", p: n ? p % n : 0 }));
        const partitioner = ({ message }: { message: unknown }) => (message as { p: number }).p;
        const args = { topic: "t", partitionMetadata, messages, partitioner };
        expect(groupMessagesPerPartition(args)).toEqual(kafkajsGroup(args));
      }),
    );
  });
});

describe("lz4Codec", () => {
  it("round-trips and writes LZ4 frames with independent blocks (what Kafka's clients read)", async () => {
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => `{"event":{"id":"${i}"},"host":{"name":"web-${i % 7}"}}`).join(""));
    const packed = await lz4Codec.compress({ buffer: data });
    expect(packed.readUInt32LE(0)).toBe(0x184d2204); // frame magic
    expect(packed[4] & 0xc0).toBe(0x40); // version 01
    expect(packed[4] & 0x20).toBe(0x20); // block independence
    expect(packed.length).toBeLessThan(data.length / 3);
    expect((await lz4Codec.decompress(packed)).equals(data)).toBe(true);
  });
});

describe("installation", () => {
  it("is in place once the Kafka bus module is imported first", () => {
    const out = execFileSync(process.execPath, ["--import", "tsx", "-e", 'const m = await import("./platform/bus/kafka.ts"); const p = await import("./platform/bus/kafka-produce.ts"); const k = (await import("kafkajs")).default; console.log(JSON.stringify({ fast: p.fastProducePath, lz4: typeof k.CompressionCodecs[k.CompressionTypes.LZ4]().compress, bus: typeof m.KafkaBus }));'], { cwd: root, encoding: "utf8", input: "" });
    expect(JSON.parse(out.trim().split("\n").pop()!)).toEqual({ fast: true, lz4: "function", bus: "function" });
  });
});
