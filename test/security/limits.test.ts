// Oversized input on every listener, as a hostile sender or a broken client produces it: each limit
// answers with its status and code (HTTP), or dead-letters the record with its reason (records inside an
// accepted batch, syslog frames), and names the config key. What is already proven elsewhere is not
// repeated here: ingest body size over TLS (listeners.test.ts), NDJSON line length (test/ingest),
// console body size and query length (ui/server/routes/routes.test.ts).
//
// Listeners: ingest HTTP NDJSON, OTLP/HTTP, syslog TCP and UDP (ingest role in this process, real
// sockets, in-process bus), the console (real role, embedded store) and its live WebSocket, telemetry.

import dgram from "node:dgram";
import http from "node:http";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { batchHeaders, startIngestEnv, type IngestEnv } from "./support/ingest-env.ts";
import { PASSWORD, startConsoleEnv, type ConsoleEnv } from "../console/support/console-env.ts";
import { startTelemetryServer, type TelemetryServer } from "../../platform/telemetry/server.ts";
import { Health } from "../../platform/telemetry/health.ts";

const LIMITS = { max_body_bytes: 64 * 1024, max_line_bytes: 2048, max_events_per_batch: 50, max_json_depth: 8, max_fields: 40, max_inflight_requests: 2 };

let ing: IngestEnv;
let con: ConsoleEnv;
let tel: TelemetryServer;

interface Answer {
  status: number;
  body: string;
}

function post(port: number, path: string, headers: Record<string, string>, body: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path, headers, agent: false }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Raw bytes to a port; the whole answer as text. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const s = net.connect(port, "127.0.0.1", () => s.write(bytes));
    s.on("data", (d) => (got += d.toString("latin1")));
    s.on("close", () => resolve(got));
    s.on("error", () => resolve(got));
    s.setTimeout(5_000, () => s.destroy());
  });
}

const code = (a: Answer) => (JSON.parse(a.body) as { error: { code: string } }).error.code;
const line = (msg: string, extra: Record<string, unknown> = {}) => JSON.stringify({ message: msg, sigil: { origin: `lim:${randomBytes(6).toString("hex")}`, format: "sshd-auth" }, ...extra });
const sshd = (user: string) => `<86>1 ${new Date().toISOString()} lim-host sshd 1 - - Accepted publickey for ${user} from 10.9.0.1 port 22 ssh2`;

async function deadLettersSince(mark: { dead: number }, n: number): Promise<IngestEnv["deadLetters"]> {
  const until = Date.now() + 10_000;
  while (Date.now() < until && ing.deadLetters.length - mark.dead < n) await new Promise((r) => setTimeout(r, 10));
  return ing.deadLetters.slice(mark.dead);
}

beforeAll(async () => {
  ing = await startIngestEnv({ ingest: { limits: LIMITS, syslog: { udp: { enabled: true, port: 0 }, tcp: { port: 0 } } }, security: { tokens: { rate_limit_eps: 0 } } });
  con = await startConsoleEnv({ config: { console: { web: { auto_build: false }, max_ws_clients: 2 } } });
  await con.addUser("lim-analyst", "analyst");
  tel = await startTelemetryServer({ host: "127.0.0.1", port: 0, token: "tel-token", health: new Health() });
}, 120_000);

afterAll(async () => {
  await tel?.close();
  await con?.close();
  await ing?.close();
});

describe("ingest HTTP NDJSON: every limit answers with its code or dead-letters with its reason", () => {
  it("refuses a batch that becomes more events than ingest.limits.max_events_per_batch with 413 too_many_events, publishing nothing", async () => {
    const mark = ing.mark();
    const lines = Array.from({ length: LIMITS.max_events_per_batch + 1 }, (_, i) => line(sshd(`u${i}`))).join("\n");
    const r = await post(ing.port("http"), "/v1/ingest", batchHeaders(ing.token), lines);
    expect([r.status, code(r)]).toEqual([413, "too_many_events"]);
    expect(JSON.parse(r.body).error.message).toContain("ingest.limits.max_events_per_batch");
    await new Promise((res) => setTimeout(res, 200));
    expect(ing.mark()).toEqual(mark);
    // the same batch at the limit goes through
    const ok = await post(ing.port("http"), "/v1/ingest", batchHeaders(ing.token), lines.split("\n").slice(1).join("\n"));
    expect(ok.status).toBe(200);
  });

  it("dead-letters raw JSON records nested deeper than ingest.limits.max_json_depth or with more than max_fields keys, and keeps the rest of the batch", async () => {
    const mark = ing.mark();
    let deep: unknown = "x";
    for (let i = 0; i < LIMITS.max_json_depth + 4; i++) deep = { d: deep };
    const wide = Object.fromEntries(Array.from({ length: LIMITS.max_fields + 10 }, (_, i) => [`k${i}`, i]));
    const body = [JSON.stringify({ "@timestamp": new Date().toISOString(), message: "deep", deep }), JSON.stringify({ "@timestamp": new Date().toISOString(), message: "wide", ...wide }), line(sshd("kept"))].join("\n");
    const r = await post(ing.port("http"), "/v1/ingest?format=app-json", batchHeaders(ing.token), body);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ accepted: 3, rejected: 2 });
    const dead = await deadLettersSince(mark, 2);
    expect(dead.map((d) => d.reason.code).sort()).toEqual(["json_too_deep", "json_too_many_fields"]);
    for (const d of dead) expect(d.raw, "the rejected record is kept").toBeTruthy();
  });

  it("refuses more concurrent requests than ingest.limits.max_inflight_requests with 429 and Retry-After", async () => {
    // requests that hold their slot: the body never finishes
    const holders = Array.from({ length: LIMITS.max_inflight_requests }, () => {
      const s = net.connect(ing.port("http"), "127.0.0.1");
      const h = batchHeaders(ing.token);
      s.write(`POST /v1/ingest HTTP/1.1\r\nHost: x\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\ncontent-length: 1000\r\n\r\n{`);
      return s;
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await post(ing.port("http"), "/v1/ingest", batchHeaders(ing.token), line(sshd("third")));
      expect([r.status, code(r)]).toEqual([429, "too_many_requests"]);
    } finally {
      for (const s of holders) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 300));
    expect((await post(ing.port("http"), "/v1/ingest", batchHeaders(ing.token), line(sshd("after")))).status).toBe(200);
  });

  it("answers headers over Node's limit with 431 headers_too_large on ingest HTTP, OTLP, the console and telemetry", async () => {
    const big = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`;
    for (const [name, port] of [["http", ing.port("http")], ["otlp", ing.port("otlp")], ["console", Number(new URL(con.url).port)], ["telemetry", tel.port]] as const) {
      const got = await raw(port, big);
      expect(got, name).toMatch(/^HTTP\/1\.1 431 /);
      expect(got, name).toContain("headers_too_large");
    }
  });
});

describe("OTLP/HTTP limits", () => {
  const otlp = (body: string) => post(ing.port("otlp"), "/v1/logs", { authorization: `Bearer ${ing.token}`, "content-type": "application/json" }, body);
  const logs = (n: number, body = "x") => JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "lim" } }] }, scopeLogs: [{ logRecords: Array.from({ length: n }, (_, i) => ({ timeUnixNano: String(Date.now() * 1e6), body: { stringValue: `${body} ${i}` } })) }] }] });

  it("refuses a body over ingest.limits.max_body_bytes with 413 body_too_large", async () => {
    const r = await otlp(logs(1, "y".repeat(LIMITS.max_body_bytes)));
    expect([r.status, code(r)]).toEqual([413, "body_too_large"]);
  });

  it("refuses more records than ingest.limits.max_events_per_batch with 413 too_many_events", async () => {
    const r = await otlp(logs(LIMITS.max_events_per_batch + 1));
    expect([r.status, code(r)]).toEqual([413, "too_many_events"]);
  });

  it("refuses JSON nested deeper than ingest.limits.max_json_depth with 400 json_too_deep and dead-letters the request", async () => {
    const mark = ing.mark();
    const r = await otlp('{"resourceLogs":' + "[".repeat(LIMITS.max_json_depth + 5) + "]".repeat(LIMITS.max_json_depth + 5) + "}");
    expect([r.status, code(r)]).toEqual([400, "json_too_deep"]);
    const dead = await deadLettersSince(mark, 1);
    expect(dead.map((d) => d.reason.code)).toEqual(["json_too_deep"]);
  });
});

describe("syslog limits", () => {
  it("TCP: a message longer than ingest.limits.max_line_bytes is dead-lettered with line_too_long; the next one on the connection still arrives", async () => {
    const mark = ing.mark();
    const tag = randomBytes(4).toString("hex");
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(ing.port("syslog-tcp"), "127.0.0.1", () => s.end(`${sshd("x".repeat(LIMITS.max_line_bytes * 2))}\n${sshd(`after-${tag}`)}\n`));
      s.on("close", () => resolve());
      s.on("error", reject);
    });
    const dead = await deadLettersSince(mark, 1);
    expect(dead.map((d) => [d.reason.code, d.receiver])).toEqual([["line_too_long", "syslog-tcp"]]);
    expect(dead[0].reason.message).toContain("ingest.limits.max_line_bytes");
    const until = Date.now() + 10_000;
    while (Date.now() < until && !ing.events.some((e) => JSON.stringify(e).includes(`after-${tag}`))) await new Promise((r) => setTimeout(r, 10));
    expect(ing.events.some((e) => JSON.stringify(e).includes(`after-${tag}`))).toBe(true);
  });

  it("TCP: an octet-counted frame announcing more than the limit is dead-lettered, not buffered", async () => {
    const mark = ing.mark();
    await new Promise<void>((resolve) => {
      const s = net.connect(ing.port("syslog-tcp"), "127.0.0.1", () => s.end(`999999999 ${"z".repeat(LIMITS.max_line_bytes + 10)}`));
      s.on("close", () => resolve());
      s.on("error", () => resolve());
    });
    const dead = await deadLettersSince(mark, 1);
    expect(dead.map((d) => d.reason.code)).toEqual(["line_too_long"]);
  });

  it("UDP: a datagram longer than the limit is dead-lettered with line_too_long", async () => {
    const udp = ing.role.listeners().find((l) => l.name === "syslog-udp")!;
    const mark = ing.mark();
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => sock.send(Buffer.from(sshd("u".repeat(LIMITS.max_line_bytes * 2))), udp.port, "127.0.0.1", () => resolve()));
    sock.close();
    const dead = await deadLettersSince(mark, 1);
    expect(dead.map((d) => [d.reason.code, d.receiver])).toEqual([["line_too_long", "syslog-udp"]]);
  });
});

describe("console limits", () => {
  async function session(): Promise<string> {
    const res = await fetch(`${con.url}/api/auth/login`, { method: "POST", headers: { origin: con.url, "content-type": "application/json" }, body: JSON.stringify({ username: "lim-analyst", password: PASSWORD }) });
    return /(__Host-sigil_session=[^;]+)/.exec(res.headers.get("set-cookie") ?? "")![1];
  }

  it("refuses a URL longer than Node's header limit with 431 and a JSON code", async () => {
    const cookie = await session();
    const res = await fetch(`${con.url}/api/events/search?q=${"a".repeat(20_000)}`, { headers: { cookie } });
    expect(res.status).toBe(431);
    expect(((await res.json()) as { error: string }).error).toBe("headers_too_large");
  });

  it("closes a live WebSocket that sends a message over 16 KiB (1009), and refuses clients past console.max_ws_clients", async () => {
    const cookie = await session();
    const wsUrl = con.url.replace("http", "ws") + "/api/live";
    const open = () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(wsUrl, { headers: { origin: con.url, cookie } });
        ws.on("open", () => resolve(ws));
        ws.on("unexpected-response", (_q, res) => reject(new Error(`status ${res.statusCode}`)));
        ws.on("error", reject);
      });
    const ws = await open();
    const closed = new Promise<number>((resolve) => ws.on("close", (c) => resolve(c)));
    ws.send("x".repeat(17 * 1024));
    expect(await closed).toBe(1009);
    const a = await open();
    const b = await open();
    await expect(open()).rejects.toThrow(/status (503|429)/);
    a.close();
    b.close();
  });
});
