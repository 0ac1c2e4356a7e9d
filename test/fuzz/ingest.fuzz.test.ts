// Fuzz: every ingest listener of the real ingest role (in this process, on the in-process bus, with real
// agent tokens): HTTP NDJSON and OTLP/HTTP get random and mutated bodies, query strings, headers, methods
// and paths; raw random bytes go to the HTTP socket; syslog TCP, UDP and TLS get random bytes. Every HTTP
// answer is 2xx or 4xx with a JSON error code, never 5xx, never a hang; every accepted NDJSON batch is
// fully accounted for on the bus (events + dead letters = what ingest answered); the listeners stay up
// and a valid record still gets through afterwards. The budget is SIGIL_FUZZ_RUNS.

import dgram from "node:dgram";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import tls from "node:tls";
import path from "node:path";
import fs from "node:fs";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anyString, fuzzParams, fuzzTimeout, hostileValue, HOSTILE_STRINGS, textMutation, uriPart } from "./support/budget.ts";
import { batchHeaders, startIngestEnv, type IngestEnv } from "../security/support/ingest-env.ts";
import { PROJECT_ROOT, sharedDataDir } from "../support/shared-data.ts";
import { fixtureInputs } from "../../ingest/parsers/conformance.ts";
import { createDevCerts } from "../../platform/security/certs.ts";

let env: IngestEnv;
const LIMITS = { max_body_bytes: 256 * 1024, max_line_bytes: 16 * 1024, max_events_per_batch: 2_000, max_json_depth: 32, max_fields: 512 };

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request with any method, path and headers; rejects on a client-side error or after 15 s. */
function request(port: number, method: string, target: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: target, headers, agent: false, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer to ${method} ${target} within 15 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The answer is a 2xx, or a 4xx whose JSON body carries a snake_case error code. */
function expectHandled(a: Answer, what: string): void {
  expect(a.status, `${what} → ${a.status} ${a.body.toString("utf8", 0, 300)}`).toBeGreaterThanOrEqual(200);
  expect(a.status, `${what} → ${a.status} ${a.body.toString("utf8", 0, 300)}`).toBeLessThan(500);
  if (a.status >= 400) {
    const j = JSON.parse(a.body.toString("utf8")) as { error?: { code?: string } };
    expect(j.error?.code, what).toMatch(/^[a-z][a-z0-9_]*$/);
  }
}

/** Waits until the bus readers saw `n` more events and `d` more dead letters than at `mark`. */
async function accounted(mark: { events: number; dead: number }, n: number, d: number): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (env.events.length - mark.events >= n && env.deadLetters.length - mark.dead >= d) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  expect([env.events.length - mark.events, env.deadLetters.length - mark.dead]).toEqual([n, d]);
}

const fixtureLines = fs
  .readdirSync(path.join(PROJECT_ROOT, "ingest", "parsers"), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .flatMap((e) => fixtureInputs(path.join(PROJECT_ROOT, "ingest", "parsers", e.name, "fixtures")).flatMap((f) => f.lines.filter((l) => l.length < 8_000).slice(0, 20)));

const agentLine = (message: string, extra: Record<string, unknown> = {}) => JSON.stringify({ message, sigil: { origin: `fuzz:${randomBytes(6).toString("hex")}`, format: "auto" }, ...extra });
/** One agent record that must become one event. */
const validLine = (tag: string) => JSON.stringify({ message: `<86>1 ${new Date().toISOString()} fuzz-host sshd 1 - - Accepted publickey for ${tag} from 10.9.0.1 port 22 ssh2`, sigil: { origin: `fuzz:${randomBytes(6).toString("hex")}`, format: "sshd-auth" } });
const ndjsonLine = fc.oneof(
  { weight: 3, arbitrary: textMutation(fixtureLines) },
  { weight: 2, arbitrary: fc.constantFrom(...fixtureLines) },
  { weight: 2, arbitrary: hostileValue().map((v) => JSON.stringify(v) ?? "null") },
  { weight: 2, arbitrary: fc.tuple(anyString(300), hostileValue()).map(([m, v]) => agentLine(m, { sigil: v })) },
  { weight: 1, arbitrary: fc.record({ message: anyString(100), service: hostileValue(), tags: hostileValue(), created: anyString(30), agent: hostileValue(), truncated: fc.boolean() }).map((o) => JSON.stringify(o)) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom('{"__proto__":{"polluted":1},"message":"x"}', '{"constructor":{"prototype":{"polluted":1}}}', "[".repeat(5000), "x".repeat(20_000), '{"a":' + "[".repeat(100) + "]".repeat(100) + "}") },
);
const body = fc.array(ndjsonLine, { minLength: 0, maxLength: 25 }).map((lines) => Buffer.from(lines.join("\n")));
const format = fc.oneof(fc.constant(undefined), fc.constantFrom("auto", "sshd-auth", "ecs", "windows-events-json", "no-such-format", "../etc", "A B", ""), anyString(20));

function target(p: string, query: string | undefined): string {
  return query === undefined ? p : `${p}?format=${uriPart(query)}`;
}

let ca: Buffer;

beforeAll(async () => {
  const certs = await createDevCerts(fs.mkdtempSync(path.join(os.tmpdir(), "sigil-fuzz-ingest-certs-")));
  ca = fs.readFileSync(certs.caCert);
  const tls = { enabled: true, cert_file: certs.serverCert, key_file: certs.serverKey };
  env = await startIngestEnv({ ingest: { limits: LIMITS, syslog: { udp: { enabled: true, port: 0 }, tcp: { port: 0 }, tls: { enabled: true, port: 0, tls } } }, security: { tokens: { rate_limit_eps: 0 } } });
}, 60_000);
afterAll(async () => env?.close());

describe("fuzz: ingest HTTP NDJSON (/v1/ingest)", () => {
  it(
    "answers random NDJSON batches with 200 and accounts for every line on the bus (events + dead letters), never 5xx",
    async () => {
      const seen = { accepted: 0, events: 0, dead: 0 };
      await fc.assert(
        fc.asyncProperty(body, format, fc.boolean(), async (b, fmt, gzip) => {
          const mark = env.mark();
          const headers: Record<string, string> = batchHeaders(env.token);
          let payload = b;
          if (gzip) {
            payload = gzipSync(b);
            headers["content-encoding"] = "gzip";
          }
          const a = await request(env.port("http"), "POST", target("/v1/ingest", fmt), headers, payload);
          expectHandled(a, `POST /v1/ingest (${b.length} bytes, format ${JSON.stringify(fmt)})`);
          if (a.status === 200) {
            const r = JSON.parse(a.body.toString("utf8")) as { accepted: number; events: number; rejected: number };
            await accounted(mark, r.events, r.rejected);
            seen.accepted++;
            seen.events += r.events;
            seen.dead += r.rejected;
          } else await accounted(mark, 0, 0);
        }),
        fuzzParams(),
      );
      // the property is not vacuous: batches were taken, some records became events, some dead letters
      expect(seen.accepted).toBeGreaterThan(0);
      expect(seen.events).toBeGreaterThan(0);
      expect(seen.dead).toBeGreaterThan(0);
    },
    fuzzTimeout(400),
  );

  it(
    "answers random methods, paths, headers and encodings with a 4xx and a code, never 5xx",
    async () => {
      const header = fc.tuple(
        fc.constantFrom("content-encoding", "content-type", "x-sigil-batch-id", "x-sigil-batch-time", "authorization", "transfer-encoding", "expect", "x-forwarded-for", "content-length", "x-junk"),
        fc.oneof(fc.constantFrom("gzip", "deflate", "br", "identity, gzip", "chunked", "100-continue", "Bearer ", `Bearer ${"x".repeat(400)}`, "-1", "99999999999", "0", "NaN", "1e3"), fc.string({ maxLength: 60 })),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO"),
          fc.oneof(fc.constantFrom("/v1/ingest", "/v1/ingest/", "/V1/INGEST", "/", "/healthz?x=1", "/../v1/ingest", "/v1/ingest%00", "//v1//ingest", "/v1/logs", "*"), anyString(40).map((s) => "/" + uriPart(s))),
          fc.array(header, { maxLength: 4 }),
          fc.oneof(fc.constant(Buffer.alloc(0)), body, fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u))),
          fc.boolean(),
          async (method, p, extra, b, withToken) => {
            const headers: Record<string, string> = withToken ? batchHeaders(env.token) : {};
            for (const [k, v] of extra) headers[k] = v;
            let a: Answer;
            try {
              a = await request(env.port("http"), method, p, headers, method === "GET" || method === "HEAD" ? undefined : b);
            } catch (err) {
              // the client refused to send it (invalid header value) or the server closed a malformed request: both fine, if the server lives
              if (/no answer/.test((err as Error).message)) throw err;
              return;
            }
            if (method !== "HEAD") expectHandled(a, `${method} ${p} ${JSON.stringify(extra)}`);
            else expect(a.status).toBeLessThan(500);
          },
        ),
        fuzzParams(),
      );
      const h = await request(env.port("http"), "GET", "/healthz", {});
      expect(h.status).toBe(200);
    },
    fuzzTimeout(300),
  );

  it("answers malformed HTTP with a JSON error code (fuzz findings: Node's own 400 and 417 had no body)", async () => {
    const raw = (bytes: string) =>
      new Promise<string>((resolve) => {
        let got = "";
        const s = net.connect(env.port("http"), "127.0.0.1", () => s.write(bytes));
        s.on("data", (d) => (got += d.toString("latin1")));
        s.on("close", () => resolve(got));
        s.on("error", () => resolve(got));
        s.setTimeout(5_000, () => s.destroy());
      });
    const bad = await raw("POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: br\r\n\r\n");
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(bad.slice(bad.indexOf("\r\n\r\n") + 4)).error.code).toBe("bad_http_request");
    const huge = await raw(`GET /v1/ingest HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(huge.slice(huge.indexOf("\r\n\r\n") + 4)).error.code).toBe("headers_too_large");
    const expectation = await request(env.port("http"), "POST", "/v1/ingest", { expect: "", ...batchHeaders(env.token) }, Buffer.from("x"));
    expect(expectation.status).toBe(417);
    expect(JSON.parse(expectation.body.toString("utf8")).error.code).toBe("expectation_failed");
  });

  it(
    "survives raw random bytes on its socket and keeps serving",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 4000 }).map((u) => Buffer.from(u)),
            fc.tuple(fc.constantFrom("POST /v1/ingest HTTP/1.1\r\n", "GET / HTTP/1.0\r\n", "POST /v1/ingest HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), fc.string({ unit: "binary", maxLength: 500 })).map(([a, b]) => Buffer.from(a + b)),
          ),
          async (bytes) => {
            await new Promise<void>((resolve) => {
              const s = net.connect(env.port("http"), "127.0.0.1", () => s.end(bytes));
              s.on("data", () => undefined);
              s.on("close", () => resolve());
              s.on("error", () => resolve());
              s.setTimeout(3_000, () => s.destroy());
            });
          },
        ),
        fuzzParams(0.5),
      );
      const mark = env.mark();
      const ok = await request(env.port("http"), "POST", "/v1/ingest", batchHeaders(env.token), Buffer.from(validLine("survivor")));
      expect(ok.status).toBe(200);
      await accounted(mark, 1, 0);
    },
    fuzzTimeout(200),
  );
});

// ---- OTLP ----

function varint(v: number): Buffer {
  const out: number[] = [];
  let n = BigInt(Math.max(0, Math.floor(v)));
  while (n > 0x7fn) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}
const tag = (f: number, w: number) => varint(f * 8 + w);
const ld = (f: number, b: Buffer) => Buffer.concat([tag(f, 2), varint(b.length), b]);
const vi = (f: number, v: number) => Buffer.concat([tag(f, 0), varint(v)]);

/** A valid OTLP ExportLogsServiceRequest with one record (opentelemetry-proto v1 field numbers). */
function logsRequest(body: string, attrs: [string, string][]): Buffer {
  const anyStr = (s: string) => ld(1, Buffer.from(s));
  const kv = (k: string, v: string) => Buffer.concat([ld(1, Buffer.from(k)), ld(2, anyStr(v))]);
  const record = Buffer.concat([vi(1, 1_700_000_000_000_000_000), vi(2, 9), ld(5, anyStr(body)), ...attrs.map(([k, v]) => ld(6, kv(k, v)))]);
  const resource = ld(1, Buffer.concat(attrs.slice(0, 1).map(([k, v]) => ld(1, kv(k, v)))));
  return ld(1, Buffer.concat([resource, ld(2, ld(2, record))]));
}

/** Random protobuf: fields of every wire type (some invalid), nested messages, lengths that lie. */
const protoMessage: fc.Arbitrary<Buffer> = fc.letrec<{ msg: Buffer }>((tie) => ({
  msg: fc
    .array(
      fc.oneof(
        { depthSize: "small" },
        fc.tuple(fc.integer({ min: 1, max: 20 }), fc.nat()).map(([f, v]) => vi(f, v)),
        fc.tuple(fc.integer({ min: 1, max: 20 }), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([f, b]) => Buffer.concat([tag(f, 1), Buffer.from(b)])),
        fc.tuple(fc.integer({ min: 1, max: 20 }), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([f, b]) => Buffer.concat([tag(f, 5), Buffer.from(b)])),
        fc.tuple(fc.integer({ min: 1, max: 20 }), fc.string({ maxLength: 40 })).map(([f, s]) => ld(f, Buffer.from(s))),
        fc.tuple(fc.integer({ min: 1, max: 8 }), tie("msg")).map(([f, m]) => ld(f, m)),
        fc.tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom(3, 4, 6, 7)).map(([f, w]) => tag(f, w)),
        fc.tuple(fc.integer({ min: 1, max: 20 }), fc.nat({ max: 0xffffffff })).map(([f, n]) => Buffer.concat([tag(f, 2), varint(n)])),
      ),
      { maxLength: 6 },
    )
    .map((parts) => Buffer.concat(parts)),
})).msg;

const otlpSeeds: string[] = (() => {
  const out = [fs.readFileSync(path.join(PROJECT_ROOT, "ingest", "parsers", "otlp-json", "fixtures", "traces.json"), "utf8")];
  const dir = sharedDataDir();
  if (dir) for (const f of ["logs.json", "trace.json"]) {
    const p = path.join(dir, "logs", "otlp-json", "opentelemetry-proto-examples", f);
    if (fs.existsSync(p)) out.push(fs.readFileSync(p, "utf8"));
  }
  return out;
})();

const otlpJson = fc.oneof(
  textMutation(otlpSeeds),
  hostileValue().map((v) => JSON.stringify({ resourceLogs: [{ resource: { attributes: v }, scopeLogs: [{ logRecords: [v, { body: { stringValue: HOSTILE_STRINGS[0] }, attributes: v }] }] }] }) ?? "{}"),
  hostileValue().map((v) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [v, { traceId: v, spanId: "zz", name: v, startTimeUnixNano: v, attributes: [{ key: "__proto__", value: v }] }] }] }] }) ?? "{}"),
  hostileValue().map((v) => JSON.stringify(v) ?? "null"),
);

describe("fuzz: OTLP/HTTP (/v1/logs, /v1/traces)", () => {
  const post = (p: string, type: string, b: Buffer) => request(env.port("otlp"), "POST", p, { authorization: `Bearer ${env.token}`, "content-type": type }, b);

  it(
    "answers random and mutated OTLP JSON with 2xx or 4xx and a code, never 5xx",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom("/v1/logs", "/v1/traces"), otlpJson, async (p, json) => {
          expectHandled(await post(p, "application/json", Buffer.from(json)), `POST ${p} json`);
        }),
        fuzzParams(),
      );
    },
    fuzzTimeout(300),
  );

  it(
    "answers random and mutated OTLP protobuf with 2xx or 4xx, never 5xx",
    async () => {
      const valid = fc.tuple(anyString(200), fc.array(fc.tuple(anyString(20), anyString(40)), { maxLength: 4 })).map(([b, a]) => logsRequest(b, a));
      const mutated = fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 3 })).map(([buf, n, byte, op]) => {
        const i = buf.length ? n % buf.length : 0;
        if (op === 0) return buf.subarray(0, i);
        const out = Buffer.from(buf);
        if (op === 1 && out.length) out[i] = byte;
        if (op === 2) return Buffer.concat([buf.subarray(0, i), Buffer.from([byte]), buf.subarray(i)]);
        return out;
      });
      await fc.assert(
        fc.asyncProperty(fc.constantFrom("/v1/logs", "/v1/traces"), fc.oneof(valid, mutated, protoMessage, fc.uint8Array({ maxLength: 1000 }).map((u) => Buffer.from(u))), async (p, b) => {
          const a = await post(p, "application/x-protobuf", b);
          expect(a.status, `POST ${p} protobuf ${b.toString("hex", 0, 64)} → ${a.status} ${a.body.toString("latin1", 0, 200)}`).toBeLessThan(500);
          expect(a.status).toBeGreaterThanOrEqual(200);
        }),
        fuzzParams(),
      );
      const mark = env.mark();
      const ok = await post("/v1/logs", "application/x-protobuf", logsRequest("fuzz survivor", [["service.name", "fuzz"]]));
      expect(ok.status).toBe(200);
      await accounted(mark, 1, 0);
    },
    fuzzTimeout(300),
  );
});

// ---- syslog ----

describe("fuzz: syslog receivers with random bytes", () => {
  const syslogBytes = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)),
    fc.tuple(fc.nat({ max: 99999 }), fc.string({ unit: "binary", maxLength: 300 })).map(([n, s]) => Buffer.from(`${n} ${s}`)),
    fc.array(textMutation(fixtureLines), { maxLength: 10 }).map((l) => Buffer.from(l.join("\n") + "\n")),
    fc.constantFrom(Buffer.from("9999999999999 <13>x"), Buffer.from("<13>" + "x".repeat(40_000) + "\n"), Buffer.from("\n\n\n\r\n"), Buffer.from([0xff, 0xfe, 0x00, 0x0a])),
  );

  it(
    "TCP: random framing and bytes never take the receiver down; a valid message still arrives afterwards",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(syslogBytes, { minLength: 1, maxLength: 4 }), async (chunks) => {
          await new Promise<void>((resolve) => {
            const s = net.connect(env.port("syslog-tcp"), "127.0.0.1", () => {
              for (const c of chunks) s.write(c);
              s.end();
            });
            s.on("data", () => undefined);
            s.on("close", () => resolve());
            s.on("error", () => resolve());
            s.setTimeout(5_000, () => s.destroy());
          });
        }),
        fuzzParams(),
      );
      await survivor((msg) =>
        new Promise<void>((resolve, reject) => {
          const s = net.connect(env.port("syslog-tcp"), "127.0.0.1", () => s.end(msg + "\n"));
          s.on("close", () => resolve());
          s.on("error", reject);
        }),
      );
    },
    fuzzTimeout(200),
  );

  it(
    "UDP: random datagrams never take the receiver down; a valid message still arrives afterwards",
    async () => {
      const udp = env.role.listeners().find((l) => l.name === "syslog-udp");
      expect(udp, "the UDP listener").toBeDefined();
      const sock = dgram.createSocket("udp4");
      try {
        await fc.assert(
          fc.asyncProperty(syslogBytes, async (b) => {
            await new Promise<void>((resolve) => sock.send(b.subarray(0, 60_000), udp!.port, "127.0.0.1", () => resolve()));
          }),
          fuzzParams(),
        );
        await survivor((msg) => new Promise<void>((resolve) => sock.send(Buffer.from(msg), udp!.port, "127.0.0.1", () => resolve())));
      } finally {
        sock.close();
      }
    },
    fuzzTimeout(100),
  );

  it(
    "TLS: random bytes before and after the handshake never take the receiver down; a valid message still arrives afterwards",
    async () => {
      const port = env.role.listeners().find((l) => l.name === "syslog-tls")!.port;
      await fc.assert(
        fc.asyncProperty(fc.boolean(), fc.array(syslogBytes, { minLength: 1, maxLength: 3 }), async (handshake, chunks) => {
          await new Promise<void>((resolve) => {
            const s: net.Socket = handshake
              ? tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: [ca] }, () => {
                  for (const c of chunks) s.write(c);
                  s.end();
                })
              : net.connect(port, "127.0.0.1", () => {
                  for (const c of chunks) s.write(c);
                  s.end();
                });
            s.on("data", () => undefined);
            s.on("close", () => resolve());
            s.on("error", () => resolve());
            s.setTimeout(5_000, () => s.destroy());
          });
        }),
        fuzzParams(0.5),
      );
      await survivor((msg) =>
        new Promise<void>((resolve, reject) => {
          const s = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: [ca] }, () => s.end(msg + "\n"));
          s.on("close", () => resolve());
          s.on("error", reject);
        }),
      );
    },
    fuzzTimeout(200),
  );

  /** Sends a valid RFC 5424 message after the fuzzing and waits for its event on the bus. */
  async function survivor(send: (msg: string) => Promise<void>): Promise<void> {
    const tagText = `survivor-${randomBytes(4).toString("hex")}`;
    await send(`<86>1 ${new Date().toISOString()} fuzz-host sshd 1 - - Accepted publickey for ${tagText} from 10.0.0.1 port 22 ssh2`);
    const until = Date.now() + 10_000;
    while (Date.now() < until && !env.events.some((e) => JSON.stringify(e).includes(tagText))) await new Promise((r) => setTimeout(r, 20));
    expect(env.events.some((e) => JSON.stringify(e).includes(tagText)), "the valid message after the fuzzing became an event").toBe(true);
  }
});
