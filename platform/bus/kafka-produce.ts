// The Kafka produce path without kafkajs' per-message overhead: a produce request encoder that writes
// each partition's records straight into one buffer (kafkajs builds several growing Encoders and
// copies per record), a record encoder for what still goes through kafkajs, linear grouping of messages
// by partition (kafkajs copies the partition's array for every message), and the LZ4 frame codec
// (lz4-napi) that kafkajs lacks. Installed into kafkajs' module cache before kafkajs' producer loads;
// the bytes on the wire are the same as kafkajs' own (checked by kafka-produce.test.ts).

import { createRequire } from "node:module";
import lz4 from "lz4-napi";

const require = createRequire(import.meta.url);

type KafkajsRecord = (m: { offsetDelta?: number; timestampDelta?: number; key?: unknown; value?: unknown; headers?: Record<string, unknown> }) => { buf: Buffer; buffer: Buffer; size(): number };
interface ProduceMessage {
  key?: unknown;
  value?: unknown;
  headers?: Record<string, unknown>;
  timestamp?: unknown;
}
interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: { topic: string; partitions: { partition: number; firstSequence?: number; messages: ProduceMessage[] }[] }[];
}
type ProduceRequestFn = (args: ProduceArgs) => { apiKey: number; apiVersion: number; apiName: string; expectResponse: () => boolean; encode: () => Promise<{ buf: Buffer; buffer: Buffer }> };
type GroupFn = (o: { topic: string; partitionMetadata: unknown[]; messages: unknown[]; partitioner: (o: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number }) => Record<number, unknown[]>;

const RECORD_MODULE = require.resolve("kafkajs/src/protocol/recordBatch/record/v0/index.js");
const GROUP_MODULE = require.resolve("kafkajs/src/producer/groupMessagesPerPartition.js");
const PRODUCE_V3_MODULE = require.resolve("kafkajs/src/protocol/requests/produce/v3/request.js");
/** The modules that capture the ones above when they load; once loaded, replacing ours is too late. */
const DEPENDENTS = [
  require.resolve("kafkajs/src/producer/sendMessages.js"),
  ...[4, 5, 6, 7].map((v) => require.resolve(`kafkajs/src/protocol/requests/produce/v${v}/request.js`)),
];
const LOADED_TOO_EARLY = DEPENDENTS.some((d) => require.cache[d] !== undefined) || require.cache[PRODUCE_V3_MODULE] !== undefined;

/** kafkajs' produce request v3 (v4-v7 are it with another version number): the fallback and the reference in tests. */
export const kafkajsProduceV3 = require(PRODUCE_V3_MODULE) as ProduceRequestFn;
/** kafkajs' CRC-32C (byte at a time; the reference in tests). */
export const kafkajsCrc32C = require("kafkajs/src/protocol/recordBatch/crc32C/index.js") as (b: Buffer) => number;
const { lookupCodec } = require("kafkajs/src/protocol/message/compression/index.js") as { lookupCodec: (type: number) => { compress(e: { buffer: Buffer }): Promise<Buffer> } | null };
const Long = require("kafkajs/src/utils/long.js") as { fromValue(v: unknown): { value: bigint } };

/** kafkajs' own record encoder (the fallback for shapes the fast one does not take, and the reference in tests). */
export const kafkajsRecord = require(RECORD_MODULE) as KafkajsRecord;
/** kafkajs' grouping (the reference in tests). */
export const kafkajsGroup = require(GROUP_MODULE) as GroupFn;

/** A finished record as kafkajs' batch encoder reads it (Encoder's buf / buffer / size). */
class EncodedRecord {
  constructor(readonly buf: Buffer) {}
  get buffer(): Buffer {
    return this.buf;
  }
  get offset(): number {
    return this.buf.length;
  }
  size(): number {
    return this.buf.length;
  }
}

/** Bytes of an unsigned varint. */
function uvarintSize(u: number): number {
  let n = 1;
  while (u > 0x7f) {
    u = Math.floor(u / 128);
    n++;
  }
  return n;
}

/** ZigZag of a safe integer as a non-negative number (exact below 2^52). */
function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

function writeUvarint(buf: Buffer, pos: number, u: number): number {
  while (u > 0x7f) {
    buf[pos++] = (u % 128) | 0x80;
    u = Math.floor(u / 128);
  }
  buf[pos++] = u;
  return pos;
}

const SMALL = 2 ** 50;
const NO_HEADERS_SIZE = 1; // varint(0)

/**
 * Record v0 (Length, Attributes, TimestampDelta, OffsetDelta, Key, Value, Headers) in one buffer.
 * Keys and values that are strings are written as UTF-8 straight into it; headers and unusual shapes
 * go through kafkajs' own encoder.
 */
export function encodeRecord(m: { offsetDelta?: number; timestampDelta?: number; key?: unknown; value?: unknown; headers?: Record<string, unknown> }): EncodedRecord | ReturnType<KafkajsRecord> {
  const offsetDelta = m.offsetDelta ?? 0;
  const timestampDelta = m.timestampDelta ?? 0;
  const { key, value, headers } = m;
  if (
    (headers !== undefined && headers !== null && Object.keys(headers).length > 0) ||
    !Number.isSafeInteger(timestampDelta) ||
    Math.abs(timestampDelta) >= SMALL ||
    !Number.isSafeInteger(offsetDelta) ||
    offsetDelta < 0 ||
    offsetDelta > 0x3fffffff ||
    !(key === null || key === undefined || typeof key === "string" || Buffer.isBuffer(key)) ||
    !(value === null || value === undefined || typeof value === "string" || Buffer.isBuffer(value))
  ) {
    return kafkajsRecord(m);
  }
  const keyLen = key === null || key === undefined ? -1 : typeof key === "string" ? Buffer.byteLength(key) : key.length;
  const valueLen = value === null || value === undefined ? -1 : typeof value === "string" ? Buffer.byteLength(value) : value.length;
  const ts = zigzag(timestampDelta);
  const od = zigzag(offsetDelta);
  const kz = zigzag(keyLen);
  const vz = zigzag(valueLen);
  const body = 1 + uvarintSize(ts) + uvarintSize(od) + uvarintSize(kz) + Math.max(0, keyLen) + uvarintSize(vz) + Math.max(0, valueLen) + NO_HEADERS_SIZE;
  const lz = zigzag(body);
  const buf = Buffer.allocUnsafe(uvarintSize(lz) + body);
  let pos = writeUvarint(buf, 0, lz);
  buf[pos++] = 0; // attributes
  pos = writeUvarint(buf, pos, ts);
  pos = writeUvarint(buf, pos, od);
  pos = writeUvarint(buf, pos, kz);
  if (keyLen > 0) pos += typeof key === "string" ? buf.write(key, pos, keyLen, "utf8") : (key as Buffer).copy(buf, pos);
  pos = writeUvarint(buf, pos, vz);
  if (valueLen > 0) pos += typeof value === "string" ? buf.write(value, pos, valueLen, "utf8") : (value as Buffer).copy(buf, pos);
  buf[pos++] = 0; // no headers
  return new EncodedRecord(pos === buf.length ? buf : buf.subarray(0, pos));
}

/** Messages by partition in one pass (same result and order as kafkajs' version). */
export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: Parameters<GroupFn>[0]): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  const out: Record<number, unknown[]> = {};
  for (const message of messages) {
    const p = partitioner({ topic, partitionMetadata, message });
    const list = out[p];
    if (list === undefined) out[p] = [message];
    else list.push(message);
  }
  return out;
}

/**
 * Records v0 of one partition, back to back, in one buffer (timestamp deltas 0: no message has its
 * own); null when a message is not plain (then kafkajs' encoder writes the request). Messages are read
 * twice, once to size the buffer and once to fill it; a key's UTF-8 bytes are made once per request
 * (`keys`), since a partition's messages mostly share a few keys.
 */
function encodeRecords(messages: ProduceMessage[], keys: Map<string, Buffer>): Buffer | null {
  const n = messages.length;
  const keyLens = new Int32Array(n);
  const valueLens = new Int32Array(n);
  const bodies = new Int32Array(n);
  const keyBytes: (Buffer | null)[] = new Array<Buffer | null>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i];
    const { key, value, headers, timestamp } = m;
    if ((timestamp !== undefined && timestamp !== null) || (headers !== undefined && headers !== null && Object.keys(headers).length > 0)) return null;
    let kb: Buffer | null = null;
    if (typeof key === "string") {
      kb = keys.get(key) ?? null;
      if (kb === null) {
        kb = Buffer.from(key, "utf8");
        keys.set(key, kb);
      }
    } else if (Buffer.isBuffer(key)) kb = key;
    else if (key !== null && key !== undefined) return null;
    let vl: number;
    if (value === null || value === undefined) vl = -1;
    else if (typeof value === "string") vl = Buffer.byteLength(value);
    else if (Buffer.isBuffer(value)) vl = value.length;
    else return null;
    const kl = kb === null ? -1 : kb.length;
    keyBytes[i] = kb;
    keyLens[i] = kl;
    valueLens[i] = vl;
    // attributes, timestampDelta 0, offsetDelta, key, value, header count 0
    const body = 1 + 1 + uvarintSize(i * 2) + uvarintSize(zigzag(kl)) + Math.max(0, kl) + uvarintSize(zigzag(vl)) + Math.max(0, vl) + 1;
    bodies[i] = body;
    total += uvarintSize(body * 2) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i];
    pos = writeUvarint(buf, pos, bodies[i] * 2);
    buf[pos++] = 0; // attributes
    buf[pos++] = 0; // timestampDelta
    pos = writeUvarint(buf, pos, i * 2);
    const kl = keyLens[i];
    pos = writeUvarint(buf, pos, zigzag(kl));
    if (kl > 0) {
      buf.set(keyBytes[i]!, pos);
      pos += kl;
    }
    const vl = valueLens[i];
    pos = writeUvarint(buf, pos, zigzag(vl));
    if (vl > 0) {
      if (typeof m.value === "string") pos += buf.write(m.value, pos, vl, "utf8");
      else {
        buf.set(m.value as Buffer, pos);
        pos += vl;
      }
    }
    buf[pos++] = 0; // headers
  }
  return buf;
}

/** CRC-32C (Castagnoli) lookup tables for eight bytes at a time. */
const CRC_TABLES = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/** CRC-32C of a record batch body, slicing by 8 (several times kafkajs' byte-at-a-time loop). */
export function crc32c(buf: Uint8Array): number {
  const T = CRC_TABLES;
  const n = buf.length;
  const end8 = n - (n & 7);
  let crc = -1;
  let i = 0;
  for (; i < end8; i += 8) {
    const a = (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)) ^ crc;
    const b = buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24);
    crc = T[1792 + (a & 0xff)] ^ T[1536 + ((a >>> 8) & 0xff)] ^ T[1280 + ((a >>> 16) & 0xff)] ^ T[1024 + (a >>> 24)] ^ T[768 + (b & 0xff)] ^ T[512 + ((b >>> 8) & 0xff)] ^ T[256 + ((b >>> 16) & 0xff)] ^ T[b >>> 24];
  }
  for (; i < n; i++) crc = T[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** One partition's record batch v2 as kafkajs frames it: firstOffset, length, epoch, magic, CRC-32C, body. */
async function encodeRecordBatch(records: Buffer, count: number, compression: number, transactional: boolean, producerId: bigint, producerEpoch: number, firstSequence: number): Promise<Buffer> {
  const now = Date.now();
  const codec = (compression & 0x07) === 0 ? null : lookupCodec(compression & 0x07);
  const payload = codec ? await codec.compress({ buffer: records }) : records;
  const out = Buffer.allocUnsafe(8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4 + payload.length);
  out.writeBigInt64BE(0n, 0); // firstOffset
  out.writeInt32BE(out.length - 12, 8); // length of what follows
  out.writeInt32BE(0, 12); // partitionLeaderEpoch
  out.writeInt8(2, 16); // magic
  // 17..20: CRC-32C of the body, below
  let pos = 21;
  out.writeInt16BE((compression & 0x07) | (transactional ? 16 : 0), pos);
  out.writeInt32BE(count - 1, pos + 2); // lastOffsetDelta
  out.writeBigInt64BE(BigInt(now), pos + 6); // firstTimestamp
  out.writeBigInt64BE(BigInt(now), pos + 14); // maxTimestamp
  out.writeBigInt64BE(producerId, pos + 22);
  out.writeInt16BE(producerEpoch, pos + 30);
  out.writeInt32BE(firstSequence, pos + 32);
  out.writeInt32BE(count, pos + 36);
  pos += 40;
  out.set(payload, pos);
  out.writeUInt32BE(crc32c(out.subarray(21)), 17);
  return out;
}

/**
 * Produce request v3 (and, with another version number, v4-v7): the same fields and bytes as kafkajs',
 * with each partition's records written once into one buffer. Requests carrying messages with headers
 * or their own timestamps go through kafkajs' encoder.
 */
export function produceRequestV3(args: ProduceArgs): ReturnType<ProduceRequestFn> {
  const { acks, timeout, topicData } = args;
  const transactionalId = args.transactionalId ?? null;
  const compression = args.compression ?? 0;
  const producerId = BigInt.asIntN(64, args.producerId === undefined ? -1n : Long.fromValue(args.producerId).value);
  const producerEpoch = args.producerEpoch ?? 0;
  return {
    apiKey: 0,
    apiVersion: 3,
    apiName: "Produce",
    expectResponse: () => acks !== 0,
    encode: async () => {
      // every partition's records first: a message that is not plain hands the whole request to kafkajs
      const keys = new Map<string, Buffer>();
      const records: Buffer[][] = [];
      for (const t of topicData) {
        const own: Buffer[] = [];
        for (const p of t.partitions) {
          const r = encodeRecords(p.messages, keys);
          if (r === null) return kafkajsProduceV3(args).encode();
          own.push(r);
        }
        records.push(own);
      }
      const parts: Buffer[] = [];
      const head = Buffer.allocUnsafe(2 + (transactionalId === null ? 0 : Buffer.byteLength(transactionalId)) + 2 + 4 + 4);
      let pos = 0;
      if (transactionalId === null) pos = head.writeInt16BE(-1, 0);
      else {
        pos = head.writeInt16BE(Buffer.byteLength(transactionalId), 0);
        pos += head.write(transactionalId, pos, "utf8");
      }
      pos = head.writeInt16BE(acks, pos);
      pos = head.writeInt32BE(timeout, pos);
      head.writeInt32BE(topicData.length, pos);
      parts.push(head);
      for (let ti = 0; ti < topicData.length; ti++) {
        const t = topicData[ti];
        const name = Buffer.from(t.topic, "utf8");
        const th = Buffer.allocUnsafe(2 + name.length + 4);
        th.writeInt16BE(name.length, 0);
        name.copy(th, 2);
        th.writeInt32BE(t.partitions.length, 2 + name.length);
        parts.push(th);
        const batches = await Promise.all(t.partitions.map((p, i) => encodeRecordBatch(records[ti][i], p.messages.length, compression, transactionalId !== null, producerId, producerEpoch, p.firstSequence ?? 0)));
        t.partitions.forEach((p, i) => {
          const ph = Buffer.allocUnsafe(8);
          ph.writeInt32BE(p.partition, 0);
          ph.writeInt32BE(batches[i].length, 4);
          parts.push(ph, batches[i]);
        });
      }
      const buf = Buffer.concat(parts);
      return { buf, buffer: buf };
    },
  };
}

/** kafkajs codec for LZ4 (the frame format with independent blocks, which Kafka's brokers and clients read). */
export const lz4Codec = {
  compress: (encoder: { buffer: Buffer }): Promise<Buffer> => lz4.compressFrame(encoder.buffer),
  decompress: (buffer: Buffer): Promise<Buffer> => lz4.decompressFrame(buffer),
};

function install(): boolean {
  if (LOADED_TOO_EARLY) return false;
  require.cache[RECORD_MODULE]!.exports = encodeRecord;
  require.cache[GROUP_MODULE]!.exports = groupMessagesPerPartition;
  require.cache[PRODUCE_V3_MODULE]!.exports = produceRequestV3;
  return true;
}

/**
 * True when the fast encoder and grouping are in place: false only when kafkajs' producer was loaded
 * before this module (then kafkajs' own slower code runs; the bytes are the same).
 */
export const fastProducePath = install();
