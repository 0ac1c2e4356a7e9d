// The browser's live channel against a scripted server: snapshot parts, updates applied by version,
// the held set following the filter, resume from the last sequence after a disconnect, and sign-out
// when the server ends the session.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AlertSummary } from "../../../shared/alert-filter.ts";

class FakeSocket {
  static all: FakeSocket[] = [];
  static OPEN = 1;
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(d: string) {
    this.sent.push(JSON.parse(d));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  msg(m: unknown) {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function alert(id: string, over: Partial<AlertSummary> = {}): AlertSummary {
  return {
    id, title: id, level: "high", risk_score: 50, status: "new", close_reason: null, assignee: null, version: 1,
    created: "t", updated: "t", first_seen: "t", last_seen: "t", chain_id: id, tactics: [], techniques: [],
    entities: { users: [], hosts: [], ips: [], services: [] }, signal_count: 1, duplicate_count: 0, notes: 0, ...over,
  };
}

let live: typeof import("./live.svelte.ts").live;

beforeEach(async () => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  vi.stubGlobal("WebSocket", FakeSocket);
  vi.resetModules();
  live = (await import("./live.svelte.ts")).live;
});

afterEach(() => {
  live.stop();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function flush() {
  vi.advanceTimersByTime(50);
}

describe("live channel", () => {
  it("shows a snapshot part by part, then applies updates by version", () => {
    live.setFilter("status=new");
    live.start("alice", () => {});
    const ws = FakeSocket.all[0];
    ws.open();
    expect(ws.sent[0]).toEqual({ type: "subscribe", filter: "status=new", resume: null, sub: 1 });
    ws.msg({ type: "snapshot", epoch: "e1", seq: 10, part: 0, last: false, alerts: [alert("a"), alert("b")], total: 3 });
    expect(live.alerts.size).toBe(2); // the first part shows at once
    expect(live.status).toBe("syncing");
    ws.msg({ type: "snapshot", epoch: "e1", seq: 10, part: 1, last: true, alerts: [alert("c")], total: 3 });
    expect([...live.alerts.keys()]).toEqual(["a", "b", "c"]);
    expect(live.status).toBe("live");
    ws.msg({ type: "alert", seq: 11, alert: alert("a", { version: 3, title: "newer" }) });
    ws.msg({ type: "alert", seq: 12, alert: alert("a", { version: 2, title: "older, late" }) });
    expect(live.alerts.get("a")!.title).toBe("newer");
    // an update that leaves the filter removes the alert; one that enters it adds it
    ws.msg({ type: "alert", seq: 13, alert: alert("b", { version: 2, status: "closed" }) });
    ws.msg({ type: "alert", seq: 14, alert: alert("d", { version: 1 }) });
    expect([...live.alerts.keys()].sort()).toEqual(["a", "c", "d"]);
    ws.msg({ type: "alert", seq: 15, alert: alert("x", { status: "acknowledged" }) });
    expect(live.alerts.has("x")).toBe(false);
  });

  it("reconnects with backoff and resumes from the last sequence it saw", () => {
    live.setFilter("");
    live.start("alice", () => {});
    const first = FakeSocket.all[0];
    first.open();
    first.msg({ type: "snapshot", epoch: "e1", seq: 5, part: 0, last: true, alerts: [alert("a")], total: 1 });
    first.msg({ type: "alert", seq: 6, alert: alert("b") });
    first.msg({ type: "chain", seq: 7, chain: { id: "c", version: 2, score: 1, last_seen: "t", steps: 2, tactics: [] } });
    first.drop(1006);
    expect(live.status).toBe("reconnecting");
    vi.advanceTimersByTime(1000);
    const second = FakeSocket.all[1];
    expect(second).toBeDefined();
    second.open();
    expect(second.sent[0]).toEqual({ type: "subscribe", filter: "", resume: { epoch: "e1", seq: 7 }, sub: 2 });
    second.msg({ type: "resumed", epoch: "e1", from: 7, to: 8, count: 1 });
    second.msg({ type: "alert", seq: 8, alert: alert("missed") });
    flush();
    expect([...live.alerts.keys()].sort()).toEqual(["a", "b", "missed"]);
    expect(live.status).toBe("live");
  });

  it("asks for a fresh snapshot (no resume) after the filter changed", () => {
    live.setFilter("");
    live.start("alice", () => {});
    const ws = FakeSocket.all[0];
    ws.open();
    ws.msg({ type: "snapshot", epoch: "e1", seq: 5, part: 0, last: true, alerts: [], total: 0 });
    live.setFilter("severity=critical");
    expect(ws.sent[1]).toEqual({ type: "subscribe", filter: "severity=critical", resume: null, sub: 2 });
  });

  it("ignores snapshot parts of a subscription it replaced", () => {
    live.setFilter("");
    live.start("alice", () => {});
    const ws = FakeSocket.all[0];
    ws.open();
    live.setFilter("tactic=collection");
    ws.msg({ type: "snapshot", sub: 1, epoch: "e1", seq: 5, part: 0, last: false, alerts: [alert("old-1")], total: 9 });
    ws.msg({ type: "snapshot", sub: 2, epoch: "e1", seq: 5, part: 0, last: false, alerts: [alert("new-1", { tactics: ["collection"] })], total: 2 });
    ws.msg({ type: "snapshot", sub: 1, epoch: "e1", seq: 5, part: 1, last: true, alerts: [alert("old-2")], total: 9 });
    ws.msg({ type: "snapshot", sub: 2, epoch: "e1", seq: 5, part: 1, last: true, alerts: [alert("new-2", { tactics: ["collection"] })], total: 2 });
    expect([...live.alerts.keys()]).toEqual(["new-1", "new-2"]);
    expect(live.status).toBe("live");
  });

  it("stops and reports when the server ends the session", () => {
    const ended = vi.fn();
    live.setFilter("");
    live.start("alice", ended);
    const ws = FakeSocket.all[0];
    ws.open();
    ws.drop(4001, "session_ended: sign in again");
    expect(ended).toHaveBeenCalledOnce();
    vi.advanceTimersByTime(20_000);
    expect(FakeSocket.all).toHaveLength(1); // no reconnect
  });

  it("notifies chain listeners so an open story reloads", () => {
    const seen: string[] = [];
    const off = live.onChain((c) => seen.push(`${c.id}@${c.version}`));
    live.setFilter("");
    live.start("alice", () => {});
    const ws = FakeSocket.all[0];
    ws.open();
    ws.msg({ type: "chain", seq: 1, chain: { id: "c1", version: 4, score: 90, last_seen: "t", steps: 3, tactics: [] } });
    off();
    ws.msg({ type: "chain", seq: 2, chain: { id: "c1", version: 5, score: 90, last_seen: "t", steps: 4, tactics: [] } });
    expect(seen).toEqual(["c1@4"]);
  });
});
