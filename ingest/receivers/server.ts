// What the HTTP NDJSON and OTLP/HTTP receivers share: an HTTP or HTTPS listener (TLS from config,
// certificates reloaded on change), bearer-token authentication with per-token rate limits, bodies read
// within a byte limit (gzip inflated within the same limit), bounded concurrency, JSON error answers,
// and /healthz and /readyz.

import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { createGunzip, createInflate } from "node:zlib";
import type { TlsConfig } from "../../platform/config/sections/common.ts";
import { serverTlsOptions, watchCertificates } from "../../platform/security/tls.ts";
import { jsonProtocolErrors } from "../../platform/security/client-error.ts";
import type { TokenInfo, TokenVerifier } from "../../platform/security/types.ts";
import type { RateLimiter } from "../../platform/security/limits.ts";
import { health as defaultHealth, type Health } from "../../platform/telemetry/health.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { ingestMetrics } from "../dead-letter.ts";

export interface ListenerOptions {
  name: string;
  host: string;
  port: number;
  tls: TlsConfig;
  log: Logger;
  health?: Health;
}

export interface Listener {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A request that failed with an HTTP status and a stable code. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: http.ServerResponse, err: HttpError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
}

/**
 * Buffers request bodies are read into, reused once the caller gives a body back: a fresh body-sized
 * Buffer per request is external memory V8 counts towards starting full collections. Buffers are powers
 * of two from 64 KiB to `maxBytes` (larger bodies get their own, not kept); at most `keep` wait for
 * reuse, so an idle pool holds at most keep × maxBytes.
 */
export class BodyPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly owned = new WeakSet<ArrayBuffer>();
  /** Buffers taken from the pool instead of allocated (tests look at it). */
  reused = 0;

  constructor(
    /** Largest buffer the pool hands out and keeps (a larger body gets a buffer of its own). */
    readonly maxBytes = 4 * 1024 * 1024,
    private readonly keep = 4,
  ) {}

  /** A buffer of at least `n` bytes (its contents are whatever the last body left). */
  take(n: number): Buffer {
    if (n > this.maxBytes) return Buffer.allocUnsafeSlow(n);
    for (let i = 0; i < this.free.length; i++) {
      if (this.free[i].byteLength >= n) {
        this.reused++;
        return Buffer.from(this.free.splice(i, 1)[0]);
      }
    }
    let size = 64 * 1024;
    while (size < n) size *= 2;
    const buf = Buffer.allocUnsafeSlow(size);
    this.owned.add(buf.buffer as ArrayBuffer);
    return buf;
  }

  /** Gives back a body read with this pool (or a buffer from take) once nothing reads it any more. */
  give(body: Buffer): void {
    const ab = body.buffer as ArrayBuffer;
    if (!this.owned.has(ab) || this.free.includes(ab)) return;
    if (this.free.length >= this.keep) {
      // keep the larger ones
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i].byteLength < this.free[smallest].byteLength) smallest = i;
      if (this.free[smallest].byteLength >= ab.byteLength) return;
      this.free.splice(smallest, 1);
    }
    this.free.push(ab);
  }
}

/**
 * Reads a request body up to `limit` bytes (after inflating gzip/deflate, so a small compressed bomb
 * cannot expand past the limit). Throws HttpError 413 / 415 / 400. With a pool, the body is read into
 * one of its buffers (copied once from the socket's chunks) and the caller gives it back when done.
 */
export function readBody(req: http.IncomingMessage, limit: number, pool?: BodyPool): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new HttpError(413, "body_too_large", `request body of ${declared} bytes is larger than the ${limit}-byte limit (ingest.limits.max_body_bytes); send smaller batches`));
      return;
    }
    const enc = String(req.headers["content-encoding"] ?? "identity").toLowerCase().trim();
    let stream: NodeJS.ReadableStream = req;
    let inflated = false;
    if (enc === "gzip" || enc === "x-gzip") stream = req.pipe(createGunzip());
    else if (enc === "deflate") stream = req.pipe(createInflate());
    else if (enc !== "identity" && enc !== "") {
      req.resume();
      reject(new HttpError(415, "unsupported_encoding", `content-encoding ${JSON.stringify(enc)} is not supported; use gzip, deflate or none`));
      return;
    }
    if (stream !== req) inflated = true;
    const chunks: Buffer[] = [];
    // with a pool: the body is written into `into` as it comes (sized from the declared length; an
    // inflated body, whose size is unknown, starts at four times it and doubles when full)
    const hint = Number.isFinite(declared) && declared > 0 ? Math.min(limit, inflated ? Math.min(declared * 4, pool?.maxBytes ?? 0) : declared) : 64 * 1024;
    let into: Buffer | null = pool ? pool.take(hint) : null;
    let size = 0;
    let done = false;
    const giveBack = () => {
      if (into !== null) pool!.give(into);
      into = null;
    };
    const fail = (err: HttpError) => {
      if (done) return;
      done = true;
      giveBack();
      req.resume();
      reject(err);
    };
    stream.on("data", (c: Buffer) => {
      if (done) return;
      if (size + c.length > limit) {
        fail(new HttpError(413, "body_too_large", `request body is larger than the ${limit}-byte limit (ingest.limits.max_body_bytes) after decompression; send smaller batches`));
        (stream as unknown as { destroy?: () => void }).destroy?.();
        return;
      }
      if (into !== null) {
        if (size + c.length > into.length) {
          const bigger = pool!.take(Math.min(limit, Math.max(size + c.length, into.length * 2)));
          into.copy(bigger, 0, 0, size);
          pool!.give(into);
          into = bigger;
        }
        into.set(c, size);
      } else chunks.push(c);
      size += c.length;
    });
    stream.on("error", (err: Error) => fail(new HttpError(400, "bad_body", `the request body could not be read or decompressed: ${err.message}`)));
    stream.on("end", () => {
      if (done) return;
      done = true;
      if (into !== null) resolve(into.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
  });
}

/** Verifies `Authorization: Bearer <token>` for `scope` and the token's rate for `units` events. */
export async function authenticate(req: http.IncomingMessage, verifier: TokenVerifier, scope: string): Promise<TokenInfo> {
  const h = req.headers.authorization;
  const m = typeof h === "string" ? /^Bearer\s+(\S{1,300})$/i.exec(h) : null;
  if (!m) throw new HttpError(401, "token_missing", "an agent token is required: send Authorization: Bearer <token> (create one with `sigil tokens create`)", { "www-authenticate": 'Bearer realm="sigil-ingest"' });
  let info: TokenInfo | null;
  try {
    info = await verifier.verify(m[1], scope);
  } catch (err) {
    throw new HttpError(503, "token_store_unavailable", `cannot verify tokens right now: ${(err as Error).message}`, { "retry-after": "5" });
  }
  if (!info) throw new HttpError(401, "token_rejected", `the token is unknown, revoked or lacks the ${scope} scope`, { "www-authenticate": 'Bearer realm="sigil-ingest", error="invalid_token"' });
  return info;
}

/** Applies the token's rate limit to `units` events; 429 with Retry-After when over. */
export function rateLimit(limiter: RateLimiter | undefined, info: TokenInfo, units: number): void {
  if (!limiter) return;
  const waitMs = limiter.take(info.id, units, info.rate_limit_eps > 0 ? info.rate_limit_eps : undefined);
  if (waitMs > 0) throw new HttpError(429, "rate_limited", `token ${info.name} is over its rate limit; retry later`, { "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))) });
}

/** Bounded concurrency: a counter with a ceiling. */
export class Gate {
  private n = 0;
  constructor(private readonly max: number) {}
  enter(): boolean {
    if (this.n >= this.max) return false;
    this.n++;
    return true;
  }
  leave(): void {
    this.n = Math.max(0, this.n - 1);
  }
}

/**
 * Starts an HTTP(S) listener whose `route` handles everything but /healthz and /readyz. Errors thrown
 * as HttpError become JSON answers with their status; anything else is a 500 with code internal.
 */
export async function startHttpListener(opts: ListenerOptions, route: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => Promise<void>): Promise<Listener> {
  const h = opts.health ?? defaultHealth;
  const requests = ingestMetrics.requests();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    res.on("finish", () => requests.inc({ receiver: opts.name, status: String(res.statusCode) }));
    if (path === "/healthz" && (req.method === "GET" || req.method === "HEAD")) return sendJson(res, 200, { status: "ok" });
    if (path === "/readyz" && (req.method === "GET" || req.method === "HEAD")) {
      void h.readiness().then((r) => sendJson(res, r.ready ? 200 : 503, { ready: r.ready }));
      return;
    }
    route(req, res, path).catch((err: unknown) => {
      if (!req.complete) {
        // the body was not read (refused before it): drain it and do not keep this connection
        res.setHeader("connection", "close");
        req.resume();
      }
      if (err instanceof HttpError) sendError(res, err);
      else {
        opts.log.error({ listener: opts.name, err: (err as Error).message }, "request failed");
        sendError(res, new HttpError(500, "internal", "the request could not be processed; see the ingest log"));
      }
    });
  };
  const useTls = opts.tls.enabled;
  const server = useTls ? https.createServer(serverTlsOptions(opts.tls, `${opts.name} listener`), handler) : http.createServer(handler);
  server.requestTimeout = 60_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 30_000;
  server.maxHeadersCount = 100;
  jsonProtocolErrors(server);
  const stopWatch = useTls ? watchCertificates(server as https.Server, opts.tls, `${opts.name} listener`, opts.log) : () => undefined;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    name: opts.name,
    url: `${useTls ? "https" : "http"}://${host}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        stopWatch();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
