import { describe, expect, it } from "vitest";
import { ProtoError, decodeLogsRequest, decodeTraceRequest, encodePartialSuccess } from "./otlp-proto.ts";
import { tracesToEvents } from "../parsers/otlp-json/convert.ts";

/** Protobuf writer for test messages (field numbers of opentelemetry-proto v1). */
function varint(v: bigint): Buffer {
  const out: number[] = [];
  let n = v;
  while (n > 0x7fn) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}
const tag = (f: number, w: number) => varint(BigInt(f * 8 + w));
const ld = (f: number, b: Buffer) => Buffer.concat([tag(f, 2), varint(BigInt(b.length)), b]);
const vi = (f: number, v: number | bigint) => Buffer.concat([tag(f, 0), varint(BigInt(v))]);
const f64 = (f: number, v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return Buffer.concat([tag(f, 1), b]);
};
const dbl = (f: number, v: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return Buffer.concat([tag(f, 1), b]);
};
const s = (x: string) => Buffer.from(x);
const kv = (k: string, value: Buffer) => ld(1, Buffer.concat([ld(1, s(k)), ld(2, value)]));

describe("OTLP protobuf decoding", () => {
  it("decodes a trace request with every span field the converter reads", () => {
    const span = Buffer.concat([
      ld(1, Buffer.from("4bf92f3577b34da6a3ce929d0e0e4736", "hex")),
      ld(2, Buffer.from("00f067aa0ba902b7", "hex")),
      ld(4, Buffer.from("b7ad6b7169203331", "hex")),
      ld(5, s("GET /x")),
      vi(6, 2),
      f64(7, 1730368800000000000n),
      f64(8, 1730368800500000000n),
      ld(9, Buffer.concat([ld(1, s("http.response.status_code")), ld(2, vi(3, 503))])),
      ld(9, Buffer.concat([ld(1, s("ratio")), ld(2, dbl(4, 0.5))])),
      ld(9, Buffer.concat([ld(1, s("tags")), ld(2, ld(5, Buffer.concat([ld(1, ld(1, s("a"))), ld(1, vi(2, 1))])))])),
      ld(15, Buffer.concat([ld(2, s("upstream down")), vi(3, 2)])),
      ld(99, s("an unknown field is skipped")),
    ]);
    const req = ld(1, Buffer.concat([ld(1, kv("service.name", ld(1, s("api")))), ld(2, Buffer.concat([ld(1, ld(1, s("scope"))), ld(2, span)]))]));
    const json = decodeTraceRequest(req);
    const sp = ((json.resourceSpans as any)[0].scopeSpans[0].spans[0]) as Record<string, unknown>;
    expect(sp).toMatchObject({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", parentSpanId: "b7ad6b7169203331", name: "GET /x", kind: 2, startTimeUnixNano: "1730368800000000000", endTimeUnixNano: "1730368800500000000", status: { message: "upstream down", code: 2 } });
    const ev = tracesToEvents(json).events[0];
    expect(ev).toMatchObject({ service: { name: "api" }, parent: { id: "b7ad6b7169203331" }, event: { duration: 500_000_000, outcome: "failure" }, http: { response: { status_code: 503 } } });
    expect((ev.otel as any).attributes).toEqual({ "http.response.status_code": 503, ratio: 0.5, tags: ["a", true] });
  });

  it("decodes log records with times, severity, body and negative ints", () => {
    const rec = Buffer.concat([f64(1, 1730368801000000000n), vi(2, 9), ld(3, s("INFO")), ld(5, ld(1, s("hello"))), ld(6, Buffer.concat([ld(1, s("n")), ld(2, vi(3, BigInt.asUintN(64, -5n)))])), ld(12, s("ev.name"))]);
    const json = decodeLogsRequest(ld(1, ld(2, ld(2, rec))));
    expect((json.resourceLogs as any)[0].scopeLogs[0].logRecords[0]).toEqual({ timeUnixNano: "1730368801000000000", severityNumber: 9, severityText: "INFO", body: { stringValue: "hello" }, attributes: [{ key: "n", value: { intValue: "-5" } }], eventName: "ev.name" });
  });

  it("rejects truncated and malformed input with ProtoError", () => {
    expect(() => decodeLogsRequest(Buffer.from([0x0a, 0x10, 0x01]))).toThrow(ProtoError);
    expect(() => decodeLogsRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff]))).toThrow(ProtoError);
    expect(() => decodeTraceRequest(Buffer.from([0x0b]))).toThrow(ProtoError);
    let deep = ld(1, Buffer.alloc(0));
    for (let i = 0; i < 100; i++) deep = ld(6, ld(1, Buffer.concat([ld(1, s("k")), ld(2, deep)])));
    expect(() => decodeLogsRequest(ld(1, ld(2, ld(2, ld(6, Buffer.concat([ld(1, s("x")), ld(2, deep)]))))))).toThrow(ProtoError);
  });

  it("encodes partial success answers", () => {
    expect(encodePartialSuccess(0, "")).toEqual(new Uint8Array(0));
    expect(Buffer.from(encodePartialSuccess(3, "ab"))).toEqual(Buffer.from([0x0a, 0x06, 0x08, 0x03, 0x12, 0x02, 0x61, 0x62]));
  });
});
