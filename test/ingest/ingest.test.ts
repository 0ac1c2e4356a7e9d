// `sigil ingest` as a real process against the real Kafka broker: events posted over HTTP NDJSON,
// OTLP/HTTP (JSON and protobuf), syslog UDP, TCP (octet counting and newline framing) and TLS are read
// back from sigil.events; bad input is read back from sigil.dlq with its reason and raw bytes.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { KafkaBus } from "../../platform/bus/kafka.ts";
import { busSchema } from "../../platform/config/sections/bus.ts";
import type { Consumer, IncomingMessage } from "../../platform/bus/types.ts";
import { createDevCerts } from "../../platform/security/certs.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";

const BIN = path.join(PROJECT_ROOT, "bin", "sigil.js");
const prefix = `it-ingest-${randomBytes(4).toString("hex")}.`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-ingest-it-"));
let proc: ChildProcess;
let stderr = "";
let token = "";
const urls: Record<string, string> = {};
let bus: KafkaBus;
let consumer: Consumer;
const events: EcsEvent[] = [];
const eventKeys = new Map<string, string | null>();
const dead: Array<Record<string, unknown>> = [];
let caPem = "";

function env(): NodeJS.ProcessEnv {
  return { ...process.env, SIGIL_CONFIG: path.join(dir, "sigil.yml"), SIGIL_LOG_LEVEL: "info" };
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function post(url: string, body: Buffer | string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: "POST", body: typeof body === "string" ? body : new Uint8Array(body), headers });
}

/** POST over HTTPS trusting the test CA (fetch cannot take a CA), answering like fetch's Response. */
function postTls(url: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; headers: Headers; json(): Promise<unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: "POST", headers, ca: caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const b = Buffer.concat(chunks);
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers: h, body: b, json: async () => JSON.parse(b.toString()) });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

function batchHeaders(): Record<string, string> {
  return { authorization: `Bearer ${token}`, "x-sigil-batch-id": randomBytes(16).toString("hex"), "x-sigil-batch-time": String(Date.now()), "content-type": "application/x-ndjson" };
}

/** Minimal protobuf writer for the test's ExportLogsServiceRequest (field numbers of opentelemetry-proto). */
function pb(field: number, wire: number, payload: Buffer | number | bigint): Buffer {
  const varint = (v: bigint) => {
    const out: number[] = [];
    let n = v;
    while (n > 0x7fn) {
      out.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    out.push(Number(n));
    return Buffer.from(out);
  };
  const tag = varint(BigInt(field * 8 + wire));
  if (wire === 0) return Buffer.concat([tag, varint(BigInt(payload as number))]);
  if (wire === 1) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(payload as bigint));
    return Buffer.concat([tag, b]);
  }
  const bytes = payload as Buffer;
  return Buffer.concat([tag, varint(BigInt(bytes.length)), bytes]);
}
const str = (s: string) => Buffer.from(s, "utf8");
/** A KeyValue with a string AnyValue. */
const keyValue = (k: string, v: string) => Buffer.concat([pb(1, 2, str(k)), pb(2, 2, pb(1, 2, str(v)))]);

beforeAll(async () => {
  const certs = await createDevCerts(path.join(dir, "certs"));
  caPem = fs.readFileSync(certs.caCert, "utf8");
  const brokers = (process.env.SIGIL_TEST_KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
  const config = {
    data_dir: path.join(dir, "data"),
    bus: { type: "kafka", topic_prefix: prefix, partitions: 2, kafka: { brokers } },
    store: { type: "embedded" },
    telemetry: { metrics: { port: 0 } },
    ingest: {
      http: { port: 0 },
      otlp: { port: 0, tls: { enabled: true, cert_file: certs.serverCert, key_file: certs.serverKey } },
      syslog: {
        udp: { port: 0, format: "sshd-auth" },
        tcp: { port: 0 },
        tls: { enabled: true, port: 0, tls: { enabled: true, cert_file: certs.serverCert, key_file: certs.serverKey } },
      },
      limits: { max_body_bytes: 1024 * 1024, max_line_bytes: 4096 },
    },
  };
  fs.writeFileSync(path.join(dir, "sigil.yml"), stringify(config));
  const created = spawnSync(process.execPath, [BIN, "tokens", "create", "--name", "it-ingest", "--json"], { env: env(), encoding: "utf8" });
  expect(created.status, created.stderr).toBe(0);
  token = (JSON.parse(created.stdout) as { token: string }).token;

  proc = spawn(process.execPath, [BIN, "ingest"], { env: env(), stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
    for (const m of stderr.matchAll(/sigil ingest: (\S+) listening on (\S+)/g)) urls[m[1]] = m[2];
  });
  await until("five listeners", () => (Object.keys(urls).length >= 5 ? true : proc.exitCode !== null ? (() => { throw new Error(`sigil ingest exited: ${stderr}`); })() : undefined), 60_000);

  const cfg = busSchema.parse({ type: "kafka", topic_prefix: prefix, kafka: { brokers } });
  bus = await KafkaBus.connect(cfg);
  consumer = await bus.consumer({ groupId: `${prefix}reader`, topics: ["events", "dlq"], fromBeginning: true });
  void consumer.run(async (batch) => {
    for (const m of batch.messages as IncomingMessage[]) {
      const v = JSON.parse(m.value.toString("utf8")) as Record<string, unknown>;
      if (batch.topic === "events") {
        events.push(v as unknown as EcsEvent);
        eventKeys.set((v as unknown as EcsEvent).event.id, m.key);
      } else dead.push(v);
    }
  });
}, 120_000);

afterAll(async () => {
  await consumer?.close();
  await bus?.close();
  if (proc && proc.exitCode === null) {
    proc.kill("SIGTERM");
    await new Promise((r) => proc.once("exit", r));
  }
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("sigil ingest against real Kafka", () => {
  it("accepts agent records over HTTP NDJSON (gzip), publishes events keyed by host and dead-letters bad lines", async () => {
    const lines = [
      { message: "Oct 30 08:15:40 bastion-1 sshd[4188]: Failed password for root from 198.51.100.23 port 41022 ssh2", log: { file: { path: "/var/log/auth.log" }, offset: 0 }, host: { name: "bastion-1" }, agent: { id: "a1", type: "sigil-agent", version: "0.1.0" }, service: { name: "ssh" }, sigil: { origin: "s1:0" } },
      { message: "Oct 30 08:15:41 bastion-1 sshd[4188]: Accepted password for root from 198.51.100.23 port 41022 ssh2", log: { file: { path: "/var/log/auth.log" }, offset: 98 }, host: { name: "bastion-1" }, agent: { id: "a1", type: "sigil-agent" }, sigil: { origin: "s1:98", format: "sshd-auth" } },
      { message: "this is not a syslog line", host: { name: "bastion-1" }, agent: { id: "a1", type: "sigil-agent" }, sigil: { origin: "s1:200", format: "sshd-auth" } },
      { eventVersion: "1.08", eventTime: "2024-10-31T09:00:00Z", eventSource: "iam.amazonaws.com", eventName: "CreateUser", awsRegion: "us-east-1", userIdentity: { type: "IAMUser", userName: "mallory", accountId: "111122223333" }, sourceIPAddress: "203.0.113.5", eventID: "it-ct-1" },
    ].map((l) => JSON.stringify(l));
    lines.push("x".repeat(5000));
    const res = await post(`${urls.http}/v1/ingest`, gzipSync(Buffer.from(lines.join("\n") + "\n")), { ...batchHeaders(), "content-encoding": "gzip" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 5, events: 3, rejected: 2 });

    const failed = await until("the sshd failure event", () => events.find((e) => e.event.action === "ssh_login" && e.event.outcome === "failure"));
    expect(failed).toMatchObject({ user: { name: "root" }, source: { ip: "198.51.100.23", port: 41022 }, host: { name: "bastion-1" }, service: { name: "ssh" }, agent: { id: "a1", type: "sigil-agent", name: "it-ingest" }, log: { file: { path: "/var/log/auth.log" }, offset: 0 } });
    expect(failed.event.ingested).toMatch(/^\d{4}-/);
    expect(eventKeys.get(failed.event.id)).toBe("bastion-1");
    const ct = await until("the CloudTrail event", () => events.find((e) => e.event.dataset === "aws.cloudtrail"));
    expect(ct).toMatchObject({ event: { action: "CreateUser" }, user: { name: "mallory" } });
    const bad = await until("two dead letters", () => (dead.filter((d) => d.receiver === "http").length >= 2 ? dead.filter((d) => d.receiver === "http") : undefined));
    const codes = bad.map((d) => (d.reason as { code: string }).code).sort();
    expect(codes).toEqual(["line_too_long", "syslog_bad_header"]);
    const notSyslog = bad.find((d) => (d.reason as { code: string }).code === "syslog_bad_header")!;
    expect(notSyslog).toMatchObject({ raw: "this is not a syslog line", raw_encoding: "utf8", origin: "s1:200", sender: "it-ingest", line: 3 });
    expect(bad.find((d) => (d.reason as { code: string }).code === "line_too_long")).toMatchObject({ raw_bytes: 4096, line: 5 });
  });

  it("refuses missing tokens, replayed batches and oversized bodies", async () => {
    const line = JSON.stringify({ message: "Oct 30 08:15:40 h sshd[1]: Accepted password for u from 10.0.0.1 port 1 ssh2", agent: { type: "sigil-agent" }, sigil: { origin: "r:0" } });
    expect((await post(`${urls.http}/v1/ingest`, line, { "content-type": "application/x-ndjson" })).status).toBe(401);
    expect((await post(`${urls.http}/v1/ingest`, line, { ...batchHeaders(), authorization: "Bearer sgl_000000000000_wrongwrongwrongwrongwrong" })).status).toBe(401);
    const h = batchHeaders();
    expect((await post(`${urls.http}/v1/ingest`, line, h)).status).toBe(200);
    const again = await post(`${urls.http}/v1/ingest`, line, h);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("batch_duplicate");
    expect((await post(`${urls.http}/v1/ingest`, line, { ...batchHeaders(), "x-sigil-batch-time": String(Date.now() - 3_600_000) })).status).toBe(400);
    const huge = await post(`${urls.http}/v1/ingest`, Buffer.alloc(2 * 1024 * 1024, 0x61), batchHeaders());
    expect(huge.status).toBe(413);
    const bomb = await post(`${urls.http}/v1/ingest`, gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x0a)), { ...batchHeaders(), "content-encoding": "gzip" });
    expect(bomb.status).toBe(413);
    expect((await fetch(`${urls.http}/healthz`)).status).toBe(200);
    expect((await fetch(`${urls.http}/readyz`)).status).toBe(200);
  });

  it("turns OTLP/HTTP spans (JSON) and log records (protobuf) into events, over TLS", async () => {
    const traces = { resourceSpans: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "checkout" } }] }, scopeSpans: [{ spans: [{ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", name: "POST /pay", kind: 2, startTimeUnixNano: "1730368800000000000", endTimeUnixNano: "1730368800250000000", attributes: [{ key: "http.request.method", value: { stringValue: "POST" } }, { key: "http.response.status_code", value: { intValue: "500" } }], status: { code: 2, message: "boom" } }, { traceId: "bad", spanId: "x", name: "invalid" }] }] }] };
    const r1 = await postTls(`${urls.otlp}/v1/traces`, JSON.stringify(traces), { authorization: `Bearer ${token}`, "content-type": "application/json" });
    expect(r1.status).toBe(200);
    expect(await r1.json()).toMatchObject({ partialSuccess: { rejectedSpans: "1" } });
    const span = await until("the span event", () => events.find((e) => e.trace?.id === "4bf92f3577b34da6a3ce929d0e0e4736" && e.event.dataset === "otel.traces"));
    expect(span).toMatchObject({ span: { id: "00f067aa0ba902b7", name: "POST /pay", kind: "server" }, service: { name: "checkout" }, event: { outcome: "failure", duration: 250_000_000 }, http: { response: { status_code: 500 } } });
    expect(eventKeys.get(span.event.id)).toBe("checkout");

    const logRecord = Buffer.concat([pb(1, 1, 1730368801000000000n), pb(2, 0, 17), pb(3, 2, str("ERROR")), pb(5, 2, pb(1, 2, str("payment failed for order 7"))), pb(6, 2, keyValue("user.name", "bob")), pb(9, 2, Buffer.from("4bf92f3577b34da6a3ce929d0e0e4736", "hex")), pb(10, 2, Buffer.from("00f067aa0ba902b7", "hex"))]);
    const req = pb(1, 2, Buffer.concat([pb(1, 2, pb(1, 2, keyValue("service.name", "payments"))), pb(2, 2, Buffer.concat([pb(1, 2, pb(1, 2, str("pay.logger"))), pb(2, 2, logRecord)]))]));
    const r2 = await postTls(`${urls.otlp}/v1/logs`, gzipSync(req), { authorization: `Bearer ${token}`, "content-type": "application/x-protobuf", "content-encoding": "gzip" });
    expect(r2.status).toBe(200);
    expect(r2.headers.get("content-type")).toBe("application/x-protobuf");
    const log = await until("the protobuf log event", () => events.find((e) => e.message === "payment failed for order 7"));
    expect(log).toMatchObject({ "@timestamp": "2024-10-31T10:00:01.000Z", service: { name: "payments" }, user: { name: "bob" }, trace: { id: "4bf92f3577b34da6a3ce929d0e0e4736" }, log: { level: "error", logger: "pay.logger" }, event: { severity: 17, dataset: "otel.logs" } });

    const broken = await postTls(`${urls.otlp}/v1/logs`, Buffer.from([0x0a, 0xff, 0xff, 0xff]), { authorization: `Bearer ${token}`, "content-type": "application/x-protobuf" });
    expect(broken.status).toBe(400);
    const dl = await until("the undecodable protobuf in the dlq", () => dead.find((d) => (d.reason as { code: string }).code === "otlp_bad_protobuf"));
    expect(dl).toMatchObject({ raw_encoding: "base64", raw: Buffer.from([0x0a, 0xff, 0xff, 0xff]).toString("base64"), receiver: "otlp" });
    expect((await postTls(`${urls.otlp}/v1/logs`, "{}", { "content-type": "application/json" })).status).toBe(401);
    expect(urls.otlp).toMatch(/^https:/);
    await expect(post(`${urls.otlp.replace("https:", "http:")}/v1/logs`, "{}", { "content-type": "application/json" })).rejects.toThrow();
  });

  it("receives syslog over UDP, TCP (octet counting and newline framing) and TLS", async () => {
    const udpPort = Number(new URL(urls["syslog-udp"]).port);
    const sock = dgram.createSocket("udp4");
    const udpMsg = "<38>Oct 30 09:00:00 udp-host sshd[77]: Invalid user admin from 192.0.2.9 port 4000";
    await new Promise<void>((resolve, reject) => sock.send(udpMsg, udpPort, "127.0.0.1", (err) => (err ? reject(err) : resolve())));
    sock.close();

    const tcpPort = Number(new URL(urls["syslog-tcp"]).port);
    const octet = "<86>1 2024-10-31T18:20:49.298Z tcp-host sshd 97522 - - Accepted publickey for moe from 10.128.176.58 port 43134 ssh2";
    const newline = "<13>Oct 30 09:00:01 tcp-host app[1]: newline framed message";
    const binary = Buffer.concat([Buffer.from("<13>Oct 30 09:00:02 tcp-host app[1]: latin-1 "), Buffer.from([0xe9, 0xe8]), Buffer.from("\n")]);
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(tcpPort, "127.0.0.1", () => {
        c.write(`${Buffer.byteLength(octet)} ${octet}`);
        c.write(`${newline}\n`);
        c.write(binary);
        c.end("garbage without any header\n");
      });
      c.on("close", () => resolve());
      c.on("error", reject);
    });

    const tlsPort = Number(new URL(urls["syslog-tls"]).port);
    const overTls = "<86>1 2024-10-31T18:21:00.000Z tls-host sudo - - -  alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id";
    await new Promise<void>((resolve, reject) => {
      const c = tls.connect({ port: tlsPort, host: "127.0.0.1", ca: caPem, servername: "localhost" }, () => c.end(`${Buffer.byteLength(overTls)} ${overTls}`));
      c.on("close", () => resolve());
      c.on("error", reject);
    });

    const udpEv = await until("the UDP event", () => events.find((e) => e.host?.name === "udp-host"));
    expect(udpEv).toMatchObject({ event: { dataset: "system.auth", outcome: "failure" }, user: { name: "admin" }, log: { syslog: { priority: 38 } } });
    const tcpEv = await until("the octet-counted TCP event", () => events.find((e) => e.user?.name === "moe" && e.host?.name === "tcp-host"));
    expect(tcpEv.event).toMatchObject({ action: "ssh_login", outcome: "success" });
    await until("the newline-framed event", () => events.find((e) => e.message === "newline framed message"));
    const latin = await until("the Latin-1 event", () => events.find((e) => e.message?.startsWith("latin-1")));
    expect(latin.message).toBe("latin-1 éè");
    const tlsEv = await until("the TLS event", () => events.find((e) => e.host?.name === "tls-host"));
    expect(tlsEv.user).toMatchObject({ name: "alice", effective: { name: "root" } });
    const dl = await until("the TCP garbage in the dlq", () => dead.find((d) => d.receiver === "syslog-tcp"));
    expect(dl).toMatchObject({ reason: { code: "syslog_bad_header" }, raw: "garbage without any header" });
    expect(String(dl.source)).toMatch(/^syslog-tcp 127\.0\.0\.1:\d+$/);
  });

  it("stops gracefully on SIGTERM", async () => {
    const t0 = Date.now();
    proc.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => proc.once("exit", (c) => r(c)));
    const took = Date.now() - t0;
    expect(code, stderr.slice(-3000)).toBe(0);
    expect(took, stderr.split("\n").filter((l) => /stop|shutting|closed|"level":[56]0/.test(l)).join("\n")).toBeLessThan(20_000);
  });
});
