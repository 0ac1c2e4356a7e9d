// OTLP protobuf (ExportLogsServiceRequest, ExportTraceServiceRequest) decoded into the OTLP/JSON shape,
// so one converter (parsers/otlp-json/convert.ts) serves both encodings. A small reader of the protobuf
// wire format with the OTLP field numbers (opentelemetry-proto v1: common, resource, logs, trace);
// unknown fields are skipped, nesting and sizes are bounded, malformed input throws ProtoError.

import type { JsonObject, JsonValue } from "../../schema/ecs.ts";

export class ProtoError extends Error {}

const MAX_DEPTH = 32;

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError("truncated varint");
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new ProtoError("varint longer than 10 bytes");
  }

  small(): number {
    // varints that fit in 32 bits without BigInt (tags, lengths, enums)
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw new ProtoError("truncated varint");
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
    // longer (negative int32 enums are 10 bytes): finish reading and keep the low bits
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw new ProtoError("truncated varint");
      if ((this.buf[this.pos++] & 0x80) === 0) return result;
    }
    throw new ProtoError("varint longer than 10 bytes");
  }

  fixed64(): bigint {
    if (this.pos + 8 > this.end) throw new ProtoError("truncated fixed64");
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8);
    this.pos += 8;
    return dv.getBigUint64(0, true);
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) throw new ProtoError("truncated fixed32");
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4);
    this.pos += 4;
    return dv.getUint32(0, true);
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new ProtoError("truncated double");
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8);
    this.pos += 8;
    return dv.getFloat64(0, true);
  }

  bytes(): Uint8Array {
    const len = this.small();
    if (len > this.end - this.pos) throw new ProtoError("length-delimited field runs past the end of its message");
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.small();
        break;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const len = this.small();
        this.pos += len;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new ProtoError("field runs past the end of its message");
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });
const text = (b: Uint8Array) => decoder.decode(b);
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");

/** Iterates the fields of a message: calls `on(field, wire, reader)`; `on` must consume the value or return false. */
function fields(buf: Uint8Array, depth: number, on: (field: number, wire: number, r: Reader) => boolean): void {
  if (depth > MAX_DEPTH) throw new ProtoError(`messages nested deeper than ${MAX_DEPTH}`);
  const r = new Reader(buf);
  while (r.pos < r.end) {
    const tag = r.small();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new ProtoError("field number 0");
    if (!on(field, wire, r)) r.skip(wire);
  }
}

function expectWire(wire: number, want: number, what: string): void {
  if (wire !== want) throw new ProtoError(`${what} has wire type ${wire}, expected ${want}`);
}

function anyValue(buf: Uint8Array, depth: number): JsonObject {
  const out: JsonObject = {};
  fields(buf, depth, (f, w, r) => {
    switch (f) {
      case 1:
        expectWire(w, 2, "AnyValue.string_value");
        out.stringValue = text(r.bytes());
        return true;
      case 2:
        expectWire(w, 0, "AnyValue.bool_value");
        out.boolValue = r.small() !== 0;
        return true;
      case 3: {
        expectWire(w, 0, "AnyValue.int_value");
        out.intValue = BigInt.asIntN(64, r.varint()).toString();
        return true;
      }
      case 4:
        expectWire(w, 1, "AnyValue.double_value");
        out.doubleValue = r.double();
        return true;
      case 5: {
        expectWire(w, 2, "AnyValue.array_value");
        const values: JsonValue[] = [];
        fields(r.bytes(), depth + 1, (f2, w2, r2) => {
          if (f2 !== 1) return false;
          expectWire(w2, 2, "ArrayValue.values");
          values.push(anyValue(r2.bytes(), depth + 2));
          return true;
        });
        out.arrayValue = { values };
        return true;
      }
      case 6:
        expectWire(w, 2, "AnyValue.kvlist_value");
        out.kvlistValue = { values: keyValues(r.bytes(), depth + 1, 1) };
        return true;
      case 7:
        expectWire(w, 2, "AnyValue.bytes_value");
        out.bytesValue = Buffer.from(r.bytes()).toString("base64");
        return true;
      default:
        return false;
    }
  });
  return out;
}

/** Repeated KeyValue at field `field` of a message. */
function keyValues(buf: Uint8Array, depth: number, field: number): JsonValue[] {
  const out: JsonValue[] = [];
  fields(buf, depth, (f, w, r) => {
    if (f !== field) return false;
    expectWire(w, 2, "KeyValue");
    out.push(keyValue(r.bytes(), depth + 1));
    return true;
  });
  return out;
}

function keyValue(buf: Uint8Array, depth: number): JsonObject {
  const kv: JsonObject = { key: "" };
  fields(buf, depth, (f, w, r) => {
    if (f === 1 && w === 2) kv.key = text(r.bytes());
    else if (f === 2 && w === 2) kv.value = anyValue(r.bytes(), depth + 1);
    else return false;
    return true;
  });
  return kv;
}

function resource(buf: Uint8Array, depth: number): JsonObject {
  return { attributes: keyValues(buf, depth, 1) };
}

function scope(buf: Uint8Array, depth: number): JsonObject {
  const s: JsonObject = {};
  const attrs: JsonValue[] = [];
  fields(buf, depth, (f, w, r) => {
    if (f === 1 && w === 2) s.name = text(r.bytes());
    else if (f === 2 && w === 2) s.version = text(r.bytes());
    else if (f === 3 && w === 2) attrs.push(keyValue(r.bytes(), depth + 1));
    else return false;
    return true;
  });
  if (attrs.length) s.attributes = attrs;
  return s;
}

/** A fixed64 or varint nanosecond time as the decimal string OTLP/JSON uses. */
function nanos(w: number, r: Reader): string {
  return (w === 1 ? r.fixed64() : r.varint()).toString();
}

function logRecord(buf: Uint8Array, depth: number): JsonObject {
  const lr: JsonObject = {};
  const attrs: JsonValue[] = [];
  fields(buf, depth, (f, w, r) => {
    switch (f) {
      case 1:
        lr.timeUnixNano = nanos(w, r);
        return true;
      case 11:
        lr.observedTimeUnixNano = nanos(w, r);
        return true;
      case 2:
        expectWire(w, 0, "LogRecord.severity_number");
        lr.severityNumber = r.small();
        return true;
      case 3:
        expectWire(w, 2, "LogRecord.severity_text");
        lr.severityText = text(r.bytes());
        return true;
      case 5:
        expectWire(w, 2, "LogRecord.body");
        lr.body = anyValue(r.bytes(), depth + 1);
        return true;
      case 6:
        expectWire(w, 2, "LogRecord.attributes");
        attrs.push(keyValue(r.bytes(), depth + 1));
        return true;
      case 9:
        expectWire(w, 2, "LogRecord.trace_id");
        lr.traceId = hex(r.bytes());
        return true;
      case 10:
        expectWire(w, 2, "LogRecord.span_id");
        lr.spanId = hex(r.bytes());
        return true;
      case 12:
        expectWire(w, 2, "LogRecord.event_name");
        lr.eventName = text(r.bytes());
        return true;
      default:
        return false;
    }
  });
  if (attrs.length) lr.attributes = attrs;
  return lr;
}

function span(buf: Uint8Array, depth: number): JsonObject {
  const sp: JsonObject = {};
  const attrs: JsonValue[] = [];
  const events: JsonValue[] = [];
  const links: JsonValue[] = [];
  fields(buf, depth, (f, w, r) => {
    switch (f) {
      case 1:
        expectWire(w, 2, "Span.trace_id");
        sp.traceId = hex(r.bytes());
        return true;
      case 2:
        expectWire(w, 2, "Span.span_id");
        sp.spanId = hex(r.bytes());
        return true;
      case 3:
        expectWire(w, 2, "Span.trace_state");
        sp.traceState = text(r.bytes());
        return true;
      case 4:
        expectWire(w, 2, "Span.parent_span_id");
        sp.parentSpanId = hex(r.bytes());
        return true;
      case 5:
        expectWire(w, 2, "Span.name");
        sp.name = text(r.bytes());
        return true;
      case 6:
        expectWire(w, 0, "Span.kind");
        sp.kind = r.small();
        return true;
      case 7:
        sp.startTimeUnixNano = nanos(w, r);
        return true;
      case 8:
        sp.endTimeUnixNano = nanos(w, r);
        return true;
      case 9:
        expectWire(w, 2, "Span.attributes");
        attrs.push(keyValue(r.bytes(), depth + 1));
        return true;
      case 11: {
        expectWire(w, 2, "Span.events");
        const ev: JsonObject = {};
        const evAttrs: JsonValue[] = [];
        fields(r.bytes(), depth + 1, (f2, w2, r2) => {
          if (f2 === 1) ev.timeUnixNano = nanos(w2, r2);
          else if (f2 === 2 && w2 === 2) ev.name = text(r2.bytes());
          else if (f2 === 3 && w2 === 2) evAttrs.push(keyValue(r2.bytes(), depth + 2));
          else return false;
          return true;
        });
        if (evAttrs.length) ev.attributes = evAttrs;
        events.push(ev);
        return true;
      }
      case 13: {
        expectWire(w, 2, "Span.links");
        const link: JsonObject = {};
        fields(r.bytes(), depth + 1, (f2, w2, r2) => {
          if (f2 === 1 && w2 === 2) link.traceId = hex(r2.bytes());
          else if (f2 === 2 && w2 === 2) link.spanId = hex(r2.bytes());
          else return false;
          return true;
        });
        links.push(link);
        return true;
      }
      case 15: {
        expectWire(w, 2, "Span.status");
        const st: JsonObject = {};
        fields(r.bytes(), depth + 1, (f2, w2, r2) => {
          if (f2 === 2 && w2 === 2) st.message = text(r2.bytes());
          else if (f2 === 3 && w2 === 0) st.code = r2.small();
          else return false;
          return true;
        });
        sp.status = st;
        return true;
      }
      default:
        return false;
    }
  });
  if (attrs.length) sp.attributes = attrs;
  if (events.length) sp.events = events;
  if (links.length) sp.links = links;
  return sp;
}

/** Decodes a message of shape { repeated Resource<X> items = 1 } with Resource<X> { resource = 1; repeated Scope<X> = 2 }. */
function resourceItems(buf: Uint8Array, kind: "logs" | "spans"): JsonObject {
  const list: JsonValue[] = [];
  fields(buf, 0, (f, w, r) => {
    if (f !== 1) return false;
    expectWire(w, 2, kind === "logs" ? "ResourceLogs" : "ResourceSpans");
    const rs: JsonObject = {};
    const scopes: JsonValue[] = [];
    fields(r.bytes(), 1, (f2, w2, r2) => {
      if (f2 === 1 && w2 === 2) rs.resource = resource(r2.bytes(), 2);
      else if (f2 === 2 && w2 === 2) {
        const ss: JsonObject = {};
        const items: JsonValue[] = [];
        fields(r2.bytes(), 2, (f3, w3, r3) => {
          if (f3 === 1 && w3 === 2) ss.scope = scope(r3.bytes(), 3);
          else if (f3 === 2 && w3 === 2) items.push(kind === "logs" ? logRecord(r3.bytes(), 3) : span(r3.bytes(), 3));
          else return false;
          return true;
        });
        ss[kind === "logs" ? "logRecords" : "spans"] = items;
        scopes.push(ss);
      } else return false;
      return true;
    });
    rs[kind === "logs" ? "scopeLogs" : "scopeSpans"] = scopes;
    list.push(rs);
    return true;
  });
  return { [kind === "logs" ? "resourceLogs" : "resourceSpans"]: list };
}

/** ExportLogsServiceRequest (protobuf) → OTLP/JSON shape. Throws ProtoError on malformed input. */
export function decodeLogsRequest(buf: Uint8Array): JsonObject {
  return resourceItems(buf, "logs");
}

/** ExportTraceServiceRequest (protobuf) → OTLP/JSON shape. Throws ProtoError on malformed input. */
export function decodeTraceRequest(buf: Uint8Array): JsonObject {
  return resourceItems(buf, "spans");
}

/**
 * ExportLogsServiceResponse / ExportTraceServiceResponse with partial_success (field 1):
 * { rejected_log_records | rejected_spans (int64, field 1), error_message (string, field 2) }.
 * An empty message (no rejections) is zero bytes.
 */
export function encodePartialSuccess(rejected: number, message: string): Uint8Array {
  if (rejected === 0 && !message) return new Uint8Array(0);
  const inner: number[] = [];
  const varint = (out: number[], v: number) => {
    let n = v;
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
  };
  if (rejected > 0) {
    inner.push(0x08);
    varint(inner, rejected);
  }
  const msg = Buffer.from(message, "utf8");
  if (msg.length > 0) {
    inner.push(0x12);
    varint(inner, msg.length);
    inner.push(...msg);
  }
  const out: number[] = [0x0a];
  varint(out, inner.length);
  out.push(...inner);
  return Uint8Array.from(out);
}
