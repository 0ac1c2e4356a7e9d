import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { addRoleUsers, makeAlert, makeChain, signIn, startHarness, type Client, type Harness } from "../test-support/harness.ts";
import { ReplayBuffer } from "./replay-buffer.ts";
import { StorePoller } from "./feed.ts";
import type { Alert } from "../../../schema/signal.ts";

let h: Harness;
let viewer: Client;

beforeAll(async () => {
  h = await startHarness({ live: { poll_interval_ms: 0, replay_buffer: 100, max_client_buffer_bytes: 256 * 1024 } });
  await addRoleUsers(h, ["viewer", "analyst"]);
  viewer = await signIn(h, "viewer");
});
afterAll(async () => h.close());

interface Msg {
  type: string;
  seq?: number;
  epoch?: string;
  alerts?: { id: string }[];
  alert?: { id: string; version: number; status: string };
  chain?: { id: string; version: number };
  counts?: Record<string, number>;
  part?: number;
  last?: boolean;
  total?: number;
  count?: number;
}

/** A live connection that records every message. */
async function connect(c: Client): Promise<{ ws: WebSocket; msgs: Msg[]; next(pred: (m: Msg) => boolean, ms?: number): Promise<Msg>; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(h.url.replace("http", "ws") + "/api/live", { headers: { origin: h.url, cookie: c.cookie! } });
  const msgs: Msg[] = [];
  const waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  ws.on("message", (d) => {
    const m = JSON.parse(String(d)) as Msg;
    msgs.push(m);
    for (const w of [...waiters]) if (w.pred(m)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise((r, j) => {
    ws.once("open", r);
    ws.once("error", j);
  });
  const next = (pred: (m: Msg) => boolean, ms = 3000) =>
    new Promise<Msg>((resolve, reject) => {
      const found = msgs.find(pred);
      if (found) return resolve(found);
      const w = { pred, resolve };
      waiters.push(w);
      setTimeout(() => reject(new Error(`no matching message within ${ms} ms; got ${msgs.map((m) => m.type).join(",")}`)), ms).unref();
    });
  return { ws, msgs, next, closed };
}

describe("live queue", () => {
  it("sends a filtered snapshot with counts, then every update in sequence", async () => {
    await h.store.put("alerts", [makeAlert({ id: "s-high", level: "high" }), makeAlert({ id: "s-low", level: "low" }), makeAlert({ id: "s-closed", level: "high", status: "closed", close_reason: "duplicate" })]);
    const live = await connect(viewer);
    const hello = await live.next((m) => m.type === "hello");
    live.ws.send(JSON.stringify({ type: "subscribe", filter: "severity=high&status=new" }));
    const snap = await live.next((m) => m.type === "snapshot");
    expect(snap.alerts!.map((a) => a.id)).toEqual(["s-high"]);
    const counts = await live.next((m) => m.type === "counts");
    expect(counts.counts).toMatchObject({ new: 1, closed: 1, acknowledged: 0 });
    // updates go to every console (the browser filters), each with the next sequence number
    h.deps.hub.publishAlert(makeAlert({ id: "s-low", level: "low", version: 2 }));
    h.deps.hub.publishAlert(makeAlert({ id: "s-low", level: "low", version: 2 })); // duplicate: dropped
    h.deps.hub.publishChain(makeChain("c-1", { version: 3 }));
    const a = await live.next((m) => m.type === "alert");
    const c = await live.next((m) => m.type === "chain");
    expect(a.alert).toMatchObject({ id: "s-low", version: 2 });
    expect(c.chain).toMatchObject({ id: "c-1", version: 3 });
    expect(c.seq).toBe(a.seq! + 1);
    expect(a.seq).toBe(hello.seq! + 1);
    live.ws.close();
  });

  it("resumes after a disconnect with exactly the missed updates", async () => {
    const first = await connect(viewer);
    first.ws.send(JSON.stringify({ type: "subscribe", filter: "" }));
    await first.next((m) => m.type === "snapshot");
    h.deps.hub.publishAlert(makeAlert({ id: "r-1" }));
    const seen = await first.next((m) => m.type === "alert" && m.alert!.id === "r-1");
    const epoch = (await first.next((m) => m.type === "hello")).epoch;
    first.ws.terminate();
    // published while the console was away
    h.deps.hub.publishAlert(makeAlert({ id: "r-2" }));
    h.deps.hub.publishAlert(makeAlert({ id: "r-3" }));
    const second = await connect(viewer);
    second.ws.send(JSON.stringify({ type: "subscribe", filter: "", resume: { epoch, seq: seen.seq } }));
    const resumed = await second.next((m) => m.type === "resumed");
    expect(resumed.count).toBe(2);
    await second.next((m) => m.type === "alert" && m.alert!.id === "r-3");
    expect(second.msgs.filter((m) => m.type === "alert").map((m) => m.alert!.id)).toEqual(["r-2", "r-3"]);
    expect(second.msgs.some((m) => m.type === "snapshot")).toBe(false);
    second.ws.close();
  });

  it("sends a fresh snapshot when the gap is older than the replay buffer or the server restarted", async () => {
    const live = await connect(viewer);
    const hello = await live.next((m) => m.type === "hello");
    for (let i = 0; i < 150; i++) h.deps.hub.publishAlert(makeAlert({ id: `gap-${i}` }));
    live.ws.send(JSON.stringify({ type: "subscribe", filter: "", resume: { epoch: hello.epoch, seq: hello.seq } }));
    await live.next((m) => m.type === "snapshot");
    expect(live.msgs.some((m) => m.type === "resumed")).toBe(false);
    live.ws.close();
    const other = await connect(viewer);
    other.ws.send(JSON.stringify({ type: "subscribe", filter: "", resume: { epoch: "another-process", seq: 1 } }));
    await other.next((m) => m.type === "snapshot");
    other.ws.close();
  });

  it("splits a large snapshot into parts", async () => {
    const many: Alert[] = [];
    for (let i = 0; i < 2500; i++) many.push(makeAlert({ id: `bulk-${i}`, tactics: ["bulk"] }));
    await h.store.put("alerts", many);
    const live = await connect(viewer);
    live.ws.send(JSON.stringify({ type: "subscribe", filter: "tactic=bulk" }));
    await live.next((m) => m.type === "snapshot" && m.last === true, 10_000);
    const parts = live.msgs.filter((m) => m.type === "snapshot");
    // a small first part the queue can show at once, then large ones
    expect(parts.map((p) => p.alerts!.length)).toEqual([100, 2000, 400]);
    expect(new Set(parts.flatMap((p) => p.alerts!.map((a) => a.id))).size).toBe(2500);
    expect(parts[0].total).toBe(2500);
    live.ws.close();
  });

  it("stops sending a snapshot when the console subscribes again with another filter", async () => {
    const live = await connect(viewer);
    live.ws.send(JSON.stringify({ type: "subscribe", filter: "", sub: 1 }));
    live.ws.send(JSON.stringify({ type: "subscribe", filter: "tactic=bulk", sub: 2 }));
    await live.next((m) => m.type === "snapshot" && (m as { sub?: number }).sub === 2 && m.last === true, 10_000);
    const last1 = live.msgs.filter((m) => m.type === "snapshot" && (m as { sub?: number }).sub === 1 && m.last);
    expect(last1).toHaveLength(0); // the first snapshot was abandoned
    const parts2 = live.msgs.filter((m) => m.type === "snapshot" && (m as { sub?: number }).sub === 2);
    expect(new Set(parts2.flatMap((p) => p.alerts!.map((a) => a.id))).size).toBe(2500);
    live.ws.close();
  });

  it("disconnects a console that does not read, with a reason, instead of buffering without bound", async () => {
    const live = await connect(viewer);
    live.ws.send(JSON.stringify({ type: "subscribe", filter: "status=closed" }));
    await live.next((m) => m.type === "snapshot");
    // stop reading: the socket's receive side pauses, so the server's send buffer grows
    (live.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const client = [...h.deps.hub.clients].at(-1)!;
    const hosts = Array.from({ length: 50 }, (_, i) => `host-${i}-${"x".repeat(200)}`);
    // the kernel's socket buffers take the first few megabytes; after that the server's backlog grows
    for (let i = 0; i < 100_000 && !client.closed; i++) {
      h.deps.hub.publishAlert(makeAlert({ id: `flood-${i}`, entities: { users: [], hosts, ips: [], services: [] } }));
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    expect(client.closed).toBe(true);
    expect(client.ws.bufferedAmount).toBeLessThan(256 * 1024 + 20_000);
    (live.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await live.closed;
    expect(closed.code).toBe(4008);
    expect(closed.reason).toMatch(/^slow_consumer/);
  });

  it("drops a client that sends something other than a subscription", async () => {
    const live = await connect(viewer);
    live.ws.send("not json");
    expect((await live.closed).code).toBe(4400);
  });

  it("closes the socket when the session ends", async () => {
    const c = await signIn(h, "analyst");
    const live = await connect(c);
    await c.fetch("/api/auth/logout", { method: "POST" });
    const closed = await live.closed;
    expect(closed.code).toBe(4001);
  });
});

describe("store poller", () => {
  it("publishes alerts and chains updated since the last poll, once", async () => {
    const published: string[] = [];
    const hub = { publishAlert: (a: Alert) => void published.push(`a:${a.id}:${a.version}`), publishChain: (c: { id: string }) => void published.push(`c:${c.id}`) };
    const t0 = Date.parse("2026-11-21T05:00:00.000Z");
    const poller = new StorePoller(h.store, hub as never, { intervalMs: 1000, overlapMs: 0, now: () => t0 });
    await h.store.put("alerts", [makeAlert({ id: "p-old", updated: "2026-11-21T04:00:00.000Z" }), makeAlert({ id: "p-new", updated: "2026-11-21T05:00:01.000Z", version: 4 })]);
    await h.store.put("chains", [makeChain("p-chain", { "@timestamp": "2026-11-21T05:00:02.000Z" })]);
    await poller.poll();
    expect(published).toContain("a:p-new:4");
    expect(published).toContain("c:p-chain");
    expect(published.some((p) => p.startsWith("a:p-old"))).toBe(false);
  });
});

describe("replay buffer", () => {
  it("returns what follows a sequence number, or null once it fell out", () => {
    const b = new ReplayBuffer(3);
    for (let s = 1; s <= 5; s++) b.push({ seq: s, data: String(s) });
    expect(b.since(2, 5)!.map((x) => x.seq)).toEqual([3, 4, 5]);
    expect(b.since(4, 5)!.map((x) => x.seq)).toEqual([5]);
    expect(b.since(5, 5)).toEqual([]);
    expect(b.since(1, 5)).toBeNull();
    expect(b.since(9, 5)).toBeNull();
  });

  it("holds at most maxBytes of messages (the newest always), releasing what falls out", () => {
    const b = new ReplayBuffer(1000, 100);
    for (let s = 1; s <= 50; s++) b.push({ seq: s, data: "x".repeat(30) });
    expect(b.length).toBe(3);
    expect(b.bytes).toBe(90);
    expect(b.since(47, 50)!.map((x) => x.seq)).toEqual([48, 49, 50]);
    expect(b.since(46, 50)).toBeNull();
    b.push({ seq: 51, data: "y".repeat(500) });
    expect(b.length).toBe(1);
    expect(b.since(50, 51)!.map((x) => x.seq)).toEqual([51]);
    // count still bounds it when messages are small; bytes follow what is held
    const c = new ReplayBuffer(4, 1_000_000);
    for (let s = 1; s <= 10; s++) c.push({ seq: s, data: String(s) });
    expect(c.length).toBe(4);
    expect(c.bytes).toBe(1 + 1 + 1 + 2);
  });
});
