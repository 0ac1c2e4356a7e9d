// Syslog receivers: UDP (one message per datagram, RFC 5426), TCP with octet counting or newline
// framing (RFC 6587, chosen per message by its first byte), and TLS (RFC 5425). Messages from every
// connection are gathered for `publish.linger_ms`, normalized together and published in one batch.
// TCP/TLS connections are paused while the bus pushes back; UDP datagrams that cannot be buffered are
// counted and logged (UDP has no way to push back). Oversized frames go to the dead-letter topic.

import dgram from "node:dgram";
import net from "node:net";
import tls from "node:tls";
import { isUtf8 } from "node:buffer";
import type { IngestConfig } from "../../platform/config/sections/ingest.ts";
import { serverTlsOptions, watchCertificates } from "../../platform/security/tls.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { Normalizer } from "../normalize.ts";
import type { Emit, ParseContext, RawRecord, Rejection } from "../parsers/types.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { deadLetter, ingestMetrics } from "../dead-letter.ts";
import type { Publisher } from "../publisher.ts";
import type { Listener } from "./server.ts";

export type SyslogTransport = "udp" | "tcp" | "tls";

export interface SyslogDeps {
  config: IngestConfig;
  publisher: Publisher;
  ctx: ParseContext;
  log: Logger;
}

/** Records of one transport waiting to be normalized and published together. */
class Batcher {
  private records: RawRecord[] = [];
  private overlong: Rejection[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly receiver: string, private readonly format: string, private readonly deps: SyslogDeps) {}

  /** Adds a record whose room the caller reserved. */
  add(rec: RawRecord): void {
    this.records.push(rec);
    this.schedule();
  }

  /** Adds a rejected frame (room reserved by the caller). */
  reject(r: Rejection): void {
    this.overlong.push(r);
    this.schedule();
  }

  private schedule(): void {
    if (this.records.length + this.overlong.length >= this.deps.config.publish.max_batch_events) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.deps.config.publish.linger_ms);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const records = this.records;
    const rejected = this.overlong;
    if (records.length === 0 && rejected.length === 0) return;
    this.records = [];
    this.overlong = [];
    const events: EcsEvent[] = [];
    const rejections: Rejection[] = [...rejected];
    const emit: Emit = { event: (e) => events.push(e), reject: (r) => rejections.push(r) };
    // one session per connection (source): indented continuation lines only join records of their own stream
    const bySource = new Map<string, RawRecord[]>();
    for (const r of records) {
      const list = bySource.get(r.source);
      if (list) list.push(r);
      else bySource.set(r.source, [r]);
    }
    for (const group of bySource.values()) {
      const n = new Normalizer({ format: this.format, ctx: this.deps.ctx });
      for (const r of group) n.push(r, emit);
      n.flush(emit);
    }
    const reserved = records.length + rejected.length;
    const dead = rejections.map((r) => deadLetter(r, this.receiver));
    const p = this.publishWithRetry(events, dead)
      .catch((err) => this.deps.log.error({ receiver: this.receiver, events: events.length, err: (err as Error).message }, "syslog batch could not be published after retries"))
      .finally(() => {
        this.deps.publisher.release(reserved);
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  /** Syslog senders got no acknowledgement to retry on, so ingest retries for them while the bus recovers. */
  private async publishWithRetry(events: EcsEvent[], dead: ReturnType<typeof deadLetter>[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.publisher.publish(events, dead, this.receiver);
        return;
      } catch (err) {
        if (attempt >= 30) throw err;
        this.deps.log.warn({ receiver: this.receiver, attempt, err: (err as Error).message }, "publishing a syslog batch failed; retrying");
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)).unref());
      }
    }
  }

  async close(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.inflight]);
  }
}

/** A frame's bytes as a record: UTF-8 when valid, else Latin-1 text with the bytes kept for the dead letter. */
function frameRecord(bytes: Buffer, source: string, peer: string, offset: number): RawRecord {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 10 || bytes[end - 1] === 13 || bytes[end - 1] === 0)) end--;
  const view = bytes.subarray(0, end);
  const rec: RawRecord = { data: "", source, peer, offset };
  if (isUtf8(view)) rec.data = view.toString("utf8");
  else {
    rec.data = view.toString("latin1");
    rec.bytes = Uint8Array.from(view);
  }
  return rec;
}

/**
 * Splits a TCP byte stream into syslog frames: "LEN SP MSG" (octet counting) when a frame starts with
 * a digit, else up to the next LF (non-transparent framing). Frames longer than `max` are reported
 * through `onOverlong` with their first bytes and skipped.
 */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0; // bytes of an overlong octet-counted frame still to drop
  private dropping = false; // inside an overlong LF-framed message: drop until LF
  private consumed = 0; // stream offset of buf[0]

  constructor(private readonly max: number, private readonly onFrame: (frame: Buffer, offset: number) => void, private readonly onOverlong: (head: Buffer, size: number, offset: number) => void) {}

  push(chunk: Buffer): void {
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - pos);
        this.skip -= n;
        pos += n;
        if (this.skip > 0) break;
      }
      if (this.dropping) {
        const nl = data.indexOf(10, pos);
        if (nl < 0) {
          pos = data.length;
          break;
        }
        this.dropping = false;
        pos = nl + 1;
      }
      if (pos >= data.length) break;
      const c = data[pos];
      if (c === 10 || c === 13 || c === 0) {
        pos++;
        continue;
      }
      if (c >= 48 && c <= 57) {
        // octet counting: digits, a space, then exactly LEN bytes
        let i = pos;
        let len = 0;
        while (i < data.length && i - pos < 10 && data[i] >= 48 && data[i] <= 57) len = len * 10 + data[i++] - 48;
        if (i >= data.length) break; // need more bytes
        if (data[i] === 32 && i - pos < 10) {
          const start = i + 1;
          if (len > this.max) {
            const head = data.subarray(start, Math.min(data.length, start + this.max));
            this.onOverlong(Buffer.from(head), len, this.consumed + pos);
            const avail = data.length - start;
            if (avail >= len) pos = start + len;
            else {
              this.skip = len - avail;
              pos = data.length;
            }
            continue;
          }
          if (data.length - start < len) break; // wait for the rest of the frame
          this.onFrame(data.subarray(start, start + len), this.consumed + pos);
          pos = start + len;
          continue;
        }
        // digits not followed by a space: a newline-framed message that starts with a digit
      }
      const nl = data.indexOf(10, pos);
      if (nl < 0) {
        if (data.length - pos > this.max) {
          this.onOverlong(Buffer.from(data.subarray(pos, pos + this.max)), data.length - pos, this.consumed + pos);
          this.dropping = true;
          pos = data.length;
        }
        break;
      }
      if (nl - pos > this.max) this.onOverlong(Buffer.from(data.subarray(pos, pos + this.max)), nl - pos, this.consumed + pos);
      else this.onFrame(data.subarray(pos, nl), this.consumed + pos);
      pos = nl + 1;
    }
    this.consumed += pos;
    this.buf = pos >= data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(pos));
    data = Buffer.alloc(0);
  }

  /** The unterminated last message of a closed connection. */
  end(): void {
    if (this.buf.length > 0 && !this.dropping && this.skip === 0) {
      if (this.buf.length > this.max) this.onOverlong(Buffer.from(this.buf.subarray(0, this.max)), this.buf.length, this.consumed);
      else this.onFrame(this.buf, this.consumed);
    }
    this.buf = Buffer.alloc(0);
  }
}

export async function startSyslogUdp(deps: SyslogDeps): Promise<Listener> {
  const cfg = deps.config.syslog.udp;
  const receiver = "syslog-udp";
  const batcher = new Batcher(receiver, cfg.format, deps);
  const dropped = ingestMetrics.dropped();
  let lastWarn = 0;
  const family = net.isIPv6(cfg.host) ? "udp6" : "udp4";
  const sock = dgram.createSocket({ type: family, reuseAddr: false, recvBufferSize: 8 * 1024 * 1024 });
  sock.on("message", (msg, rinfo) => {
    const peer = `${rinfo.address}:${rinfo.port}`;
    if (!deps.publisher.tryReserve(1)) {
      dropped.inc({ receiver, reason: "backpressure" });
      if (Date.now() - lastWarn > 10_000) {
        lastWarn = Date.now();
        deps.log.warn({ receiver, pending: deps.publisher.pendingEvents }, "dropping UDP syslog datagrams: the bus is behind (use TCP or the agent to get push back instead of loss)");
      }
      return;
    }
    const rec = frameRecord(msg.length > deps.config.limits.max_line_bytes ? msg.subarray(0, deps.config.limits.max_line_bytes) : msg, `${receiver} ${peer}`, peer, 0);
    if (msg.length > deps.config.limits.max_line_bytes) batcher.reject({ code: "line_too_long", reason: `datagram of ${msg.length} bytes is longer than ${deps.config.limits.max_line_bytes} (ingest.limits.max_line_bytes)`, record: rec });
    else batcher.add(rec);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.bind(cfg.port, cfg.host, () => {
      sock.off("error", reject);
      resolve();
    });
  });
  sock.on("error", (err) => deps.log.error({ receiver, err: err.message }, "UDP socket error"));
  const addr = sock.address();
  return {
    name: receiver,
    url: `udp://${cfg.host}:${addr.port}`,
    port: addr.port,
    close: async () => {
      await new Promise<void>((resolve) => sock.close(() => resolve()));
      await batcher.close();
    },
  };
}

/** TCP (plain) or TLS syslog listener. */
export async function startSyslogStream(deps: SyslogDeps, transport: "tcp" | "tls"): Promise<Listener> {
  const sys = deps.config.syslog;
  const cfg = transport === "tcp" ? sys.tcp : sys.tls;
  const receiver = `syslog-${transport}`;
  const batcher = new Batcher(receiver, cfg.format, deps);
  const maxLine = deps.config.limits.max_line_bytes;
  const gauge = ingestMetrics.connections();
  const sockets = new Set<net.Socket>();

  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    gauge.inc({ receiver });
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const source = `${receiver} ${peer}`;
    socket.setTimeout(sys.idle_timeout_ms, () => socket.destroy());
    socket.setNoDelay(true);
    let paused = false;
    // frames already read are accepted (the bound is kept by pausing the socket below)
    const splitter = new FrameSplitter(
      maxLine,
      (frame, offset) => {
        deps.publisher.reserve(1);
        batcher.add(frameRecord(frame, source, peer, offset));
      },
      (head, size, offset) => {
        deps.publisher.reserve(1);
        batcher.reject({ code: "line_too_long", reason: `syslog message of ${size} bytes is longer than ${maxLine} (ingest.limits.max_line_bytes)`, record: frameRecord(head, source, peer, offset) });
      },
    );
    socket.on("data", (chunk: Buffer) => {
      splitter.push(chunk);
      if (!paused && deps.publisher.pendingEvents >= deps.config.max_pending_events) {
        // push back: stop reading until the bus caught up
        paused = true;
        socket.pause();
        void deps.publisher.waitForRoom().then(() => {
          paused = false;
          if (!socket.destroyed) socket.resume();
        });
      }
    });
    socket.on("end", () => splitter.end());
    socket.on("error", (err) => deps.log.debug({ receiver, peer, err: err.message }, "syslog connection error"));
    socket.on("close", () => {
      sockets.delete(socket);
      gauge.dec({ receiver });
    });
  };

  const server: net.Server = transport === "tls" ? tls.createServer(serverTlsOptions(cfg.tls, `${receiver} listener`), onConnection) : net.createServer(onConnection);
  server.maxConnections = sys.max_connections;
  if (transport === "tls") server.on("tlsClientError", (err) => deps.log.debug({ receiver, err: err.message }, "TLS handshake failed"));
  const stopWatch = transport === "tls" ? watchCertificates(server as tls.Server, cfg.tls, `${receiver} listener`, deps.log) : () => undefined;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    name: receiver,
    url: `${transport}://${cfg.host}:${port}`,
    port,
    close: async () => {
      stopWatch();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.end();
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 2000).unref();
      });
      await batcher.close();
    },
  };
}
