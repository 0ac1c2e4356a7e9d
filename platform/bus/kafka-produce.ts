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

/** One partition's records, sized by sizeRecords and written by writeRecords. */
interface SizedRecords {
  messages: ProduceMessage[];
  keyBytes: (Buffer | null)[];
  valueLens: Int32Array;
  bodies: Int32Array;
  /** Bytes of the records, back to back. */
  size: number;
}

/**
 * Sizes the records v0 of one partition (timestamp deltas 0: no message has its own); null when a
 * message is not plain (then kafkajs' encoder writes the request). A key's UTF-8 bytes are made once
 * per request (`keys`), since a partition's messages mostly share a few keys.
 */
function sizeRecords(messages: ProduceMessage[], keys: Map<string, Buffer>): SizedRecords | null {
  const n = messages.length;
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
    valueLens[i] = vl;
    // attributes, timestampDelta 0, offsetDelta, key, value, header count 0
    const body = 1 + 1 + uvarintSize(i * 2) + uvarintSize(zigzag(kl)) + Math.max(0, kl) + uvarintSize(zigzag(vl)) + Math.max(0, vl) + 1;
    bodies[i] = body;
    total += uvarintSize(body * 2) + body;
  }
  return { messages, keyBytes, valueLens, bodies, size: total };
}

/** Writes sized records into buf at pos; returns the end. */
function writeRecords(r: SizedRecords, buf: Buffer, pos: number): number {
  const { messages, keyBytes, valueLens, bodies } = r;
  for (let i = 0; i < messages.length; i++) {
    pos = writeUvarint(buf, pos, bodies[i] * 2);
    buf[pos++] = 0; // attributes
    buf[pos++] = 0; // timestampDelta
    pos = writeUvarint(buf, pos, i * 2);
    const kb = keyBytes[i];
    pos = writeUvarint(buf, pos, kb === null ? 1 : kb.length * 2);
    if (kb !== null) {
      buf.set(kb, pos);
      pos += kb.length;
    }
    const vl = valueLens[i];
    pos = writeUvarint(buf, pos, zigzag(vl));
    if (vl > 0) {
      const value = messages[i].value;
      if (typeof value === "string") pos += buf.write(value, pos, vl, "utf8");
      else {
        buf.set(value as Buffer, pos);
        pos += vl;
      }
    }
    buf[pos++] = 0; // headers
  }
  return pos;
}

/**
 * Buffers the records of a request are written into before compression, reused across requests: a
 * request's uncompressed records are its largest allocation, and fresh off-heap memory of that size per
 * request makes V8 collect garbage for the external memory alone. At most SCRATCH_KEEP are kept, none
 * larger than SCRATCH_MAX_BYTES.
 */
const scratchPool: Buffer[] = [];
const SCRATCH_KEEP = 2;
const SCRATCH_MAX_BYTES = 64 * 1024 * 1024;

function takeScratch(size: number): Buffer {
  for (let i = 0; i < scratchPool.length; i++) {
    if (scratchPool[i].length >= size) return scratchPool.splice(i, 1)[0];
  }
  return Buffer.allocUnsafeSlow(Math.max(size, 1 << 20));
}

function giveScratch(b: Buffer): void {
  if (b.length > SCRATCH_MAX_BYTES) return;
  if (scratchPool.length >= SCRATCH_KEEP) {
    // keep the largest ones
    let smallest = 0;
    for (let i = 1; i < scratchPool.length; i++) if (scratchPool[i].length < scratchPool[smallest].length) smallest = i;
    if (scratchPool[smallest].length >= b.length) return;
    scratchPool.splice(smallest, 1);
  }
  scratchPool.push(b);
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

/** Bytes of a record batch v2 header: firstOffset, length, epoch, magic, CRC-32C, attributes ... record count. */
const BATCH_HEADER = 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

/** Writes one partition's record batch v2 as kafkajs frames it (header, then `payload`) at pos; returns the end. */
function writeRecordBatch(out: Buffer, pos: number, payload: Uint8Array, count: number, attributes: number, now: bigint, producerId: bigint, producerEpoch: number, firstSequence: number): number {
  const start = pos;
  out.writeBigInt64BE(0n, pos); // firstOffset
  out.writeInt32BE(BATCH_HEADER - 12 + payload.length, pos + 8); // length of what follows
  out.writeInt32BE(0, pos + 12); // partitionLeaderEpoch
  out.writeInt8(2, pos + 16); // magic
  // 17..20: CRC-32C of the rest, below
  pos += 21;
  out.writeInt16BE(attributes, pos);
  out.writeInt32BE(count - 1, pos + 2); // lastOffsetDelta
  out.writeBigInt64BE(now, pos + 6); // firstTimestamp
  out.writeBigInt64BE(now, pos + 14); // maxTimestamp
  out.writeBigInt64BE(producerId, pos + 22);
  out.writeInt16BE(producerEpoch, pos + 30);
  out.writeInt32BE(firstSequence, pos + 32);
  out.writeInt32BE(count, pos + 36);
  pos += 40;
  out.set(payload, pos);
  pos += payload.length;
  out.writeUInt32BE(crc32c(out.subarray(start + 21, pos)), start + 17);
  return pos;
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
      // every partition's records sized first: a message that is not plain hands the whole request to kafkajs
      const keys = new Map<string, Buffer>();
      const sized: SizedRecords[][] = [];
      let recordBytes = 0;
      for (const t of topicData) {
        const own: SizedRecords[] = [];
        for (const p of t.partitions) {
          const r = sizeRecords(p.messages, keys);
          if (r === null) return kafkajsProduceV3(args).encode();
          own.push(r);
          recordBytes += r.size;
        }
        sized.push(own);
      }
      // the records, back to back in one reused buffer, then each partition's compressed (or not)
      const scratch = takeScratch(recordBytes);
      const codec = (compression & 0x07) === 0 ? null : lookupCodec(compression & 0x07);
      let payloads: Uint8Array[][];
      try {
        let pos = 0;
        const views: Buffer[][] = sized.map((own) =>
          own.map((r) => {
            const start = pos;
            pos = writeRecords(r, scratch, pos);
            return scratch.subarray(start, pos);
          }),
        );
        if (codec) {
          // every compression settles before the buffer is reused, even when one fails
          const settled = await Promise.allSettled(views.flat().map((v) => codec.compress({ buffer: v })));
          const failed = settled.find((r) => r.status === "rejected");
          if (failed) throw (failed as PromiseRejectedResult).reason;
          let k = 0;
          payloads = views.map((own) => own.map(() => (settled[k++] as PromiseFulfilledResult<Buffer>).value));
        } else payloads = views;
        // the request in one buffer: header, then per topic its name and per partition its record batch
        const names = topicData.map((t) => Buffer.from(t.topic, "utf8"));
        const tx = transactionalId === null ? null : Buffer.from(transactionalId, "utf8");
        let size = 2 + (tx === null ? 0 : tx.length) + 2 + 4 + 4;
        topicData.forEach((t, ti) => {
          size += 2 + names[ti].length + 4;
          for (const payload of payloads[ti]) size += 4 + 4 + BATCH_HEADER + payload.length;
        });
        const buf = Buffer.allocUnsafe(size);
        let at = 0;
        if (tx === null) at = buf.writeInt16BE(-1, 0);
        else {
          at = buf.writeInt16BE(tx.length, 0);
          buf.set(tx, at);
          at += tx.length;
        }
        at = buf.writeInt16BE(acks, at);
        at = buf.writeInt32BE(timeout, at);
        at = buf.writeInt32BE(topicData.length, at);
        const now = BigInt(Date.now());
        const attributes = (compression & 0x07) | (transactionalId !== null ? 16 : 0);
        topicData.forEach((t, ti) => {
          at = buf.writeInt16BE(names[ti].length, at);
          buf.set(names[ti], at);
          at += names[ti].length;
          at = buf.writeInt32BE(t.partitions.length, at);
          t.partitions.forEach((p, i) => {
            const payload = payloads[ti][i];
            at = buf.writeInt32BE(p.partition, at);
            at = buf.writeInt32BE(BATCH_HEADER + payload.length, at);
            at = writeRecordBatch(buf, at, payload, p.messages.length, attributes, now, producerId, producerEpoch, p.firstSequence ?? 0);
          });
        });
        return { buf, buffer: buf };
      } finally {
        // compression has read the records (or failed): the buffer may be written again
        giveScratch(scratch);
      }
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
