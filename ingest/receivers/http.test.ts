import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { MemoryBus } from "../../platform/bus/memory.ts";
import type { Batch } from "../../platform/bus/types.ts";
import { ingestSchema } from "../../platform/config/sections/ingest.ts";
import { ReplayGuard } from "../../platform/security/limits.ts";
import type { TokenVerifier } from "../../platform/security/types.ts";
import { logger } from "../../platform/telemetry/log.ts";
import { defaultParseContext } from "../parsers/types.ts";
import { Publisher } from "../publisher.ts";
import { startHttpReceiver } from "./http.ts";
import { parseNdjson } from "./ndjson.ts";
import type { Listener } from "./server.ts";

const verifier: TokenVerifier = { verify: async (t) => (t === "good" ? { id: "t1", name: "tester", scopes: ["ingest"], rate_limit_eps: 0 } : null) };
const bus = new MemoryBus({ partitions: 2 });
let publisher: Publisher;
let listener: Listener;
const seen: Record<string, Array<{ key: string | null; value: any }>> = { events: [], dlq: [] };

beforeAll(async () => {
  const config = ingestSchema.parse({ http: { port: 0 }, limits: { max_events_per_batch: 5, max_line_bytes: 200 } });
  publisher = new Publisher(await bus.producer(), { maxPending: 10, maxBatchEvents: 100 });
  listener = await startHttpReceiver({ config, verifier, replay: new ReplayGuard(60_000), publisher, ctx: defaultParseContext(), log: logger("test") });
  const c = await bus.consumer({ groupId: "t", topics: ["events", "dlq"] });
  void c.run(async (b: Batch) => {
    for (const m of b.messages) seen[b.topic].push({ key: m.key, value: JSON.parse(m.value.toString()) });
  });
});
afterAll(async () => {
  await listener.close();
  await bus.close();
});

const headers = (token = "good") => ({ authorization: `Bearer ${token}`, "x-sigil-batch-id": randomBytes(8).toString("hex"), "x-sigil-batch-time": String(Date.now()) });
const line = (msg: string, extra: Record<string, unknown> = {}) => JSON.stringify({ message: msg, host: { name: "web-1" }, agent: { id: "a", type: "sigil-agent" }, sigil: { origin: `o:${msg.length}`, format: "sshd-auth" }, ...extra });
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe("HTTP NDJSON receiver (in-process bus)", () => {
  it("publishes events keyed by host and dead letters keyed by source, after which it answers", async () => {
    const body = [line("Oct 30 08:15:40 web-1 sshd[1]: Failed password for root from 10.0.0.9 port 22 ssh2", { tags: ["prod"], sigil: { origin: "o:1", truncated: true, format: "sshd-auth" } }), line("junk"), "x".repeat(300)].join("\n");
    const res = await fetch(`${listener.url}/v1/ingest`, { method: "POST", body, headers: headers() });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 3, events: 1, rejected: 2 });
    await until(() => seen.events.length >= 1 && seen.dlq.length >= 2);
    expect(seen.events[0].key).toBe("web-1");
    expect(seen.events[0].value).toMatchObject({ user: { name: "root" }, tags: ["prod", "truncated"], agent: { name: "tester" } });
    expect(seen.dlq.map((d) => d.value.reason.code).sort()).toEqual(["line_too_long", "syslog_bad_header"]);
    expect(seen.dlq[0].key).toMatch(/^http /);
    expect(publisher.pendingEvents).toBe(0);
  });

  it("answers 429 with Retry-After while the bus is behind, 413 past the event limit, 401 without a token", async () => {
    expect(publisher.tryReserve(10)).toBe(true);
    const busy = await fetch(`${listener.url}/v1/ingest`, { method: "POST", body: line("Oct 30 08:15:40 h sshd[1]: x"), headers: headers() });
    expect(busy.status).toBe(429);
    expect(busy.headers.get("retry-after")).toBe("1");
    publisher.release(10);
    const many = Array.from({ length: 6 }, (_, i) => line(`Oct 30 08:15:4${i} h sshd[1]: Accepted password for u from 10.0.0.1 port 1 ssh2`)).join("\n");
    expect((await fetch(`${listener.url}/v1/ingest`, { method: "POST", body: many, headers: headers() })).status).toBe(413);
    expect((await fetch(`${listener.url}/v1/ingest`, { method: "POST", body: "x", headers: headers("bad") })).status).toBe(401);
    expect((await fetch(`${listener.url}/nope`, { method: "POST" })).status).toBe(404);
    expect((await fetch(`${listener.url}/v1/ingest`)).status).toBe(405);
  });

  it("reads agent envelopes and raw lines apart, grouped by format and source", () => {
    const body = Buffer.from([line("a"), '{"eventName":"x","eventSource":"y"}', "plain text", "", line("b", { sigil: { origin: "o", format: "nginx-access" } })].join("\r\n"));
    const p = parseNdjson(body, { source: "http 1.2.3.4", peer: "1.2.3.4", maxLineBytes: 1000, format: "auto", sender: "t" });
    expect(p.lines).toBe(5);
    expect([...p.groups.values()].map((g) => [g.format, g.records.map((r) => r.data)])).toEqual([
      ["sshd-auth", ["a"]],
      ["auto", ['{"eventName":"x","eventSource":"y"}', "plain text"]],
      ["nginx-access", ["b"]],
    ]);
    const rec = [...p.groups.values()][0].records[0];
    expect(rec).toMatchObject({ host: "web-1", origin: "o:1", line: 1, peer: "1.2.3.4" });
  });
});
