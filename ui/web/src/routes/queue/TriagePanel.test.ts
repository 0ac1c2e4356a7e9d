// The triage panel against a scripted server: a change shows at once (optimistic) and is replaced by
// the server's answer; a conflicting change of another analyst comes back as a visible notice with a
// choice; notes render as text; the CSRF token goes with every change.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { flushSync, mount, unmount, tick } from "svelte";
import TriagePanel from "./TriagePanel.svelte";
import { session } from "../../lib/session.svelte.ts";
import type { Alert } from "../../../../../schema/signal.ts";

function alert(over: Partial<Alert> = {}): Alert {
  return {
    id: "a1", "@timestamp": "2026-11-21T05:00:00Z", updated: "2026-11-21T05:00:00Z", version: 3, title: "Chain on ws1", level: "high", risk_score: 80,
    status: "new", close_reason: null, assignee: null, notes: [], chain_id: "a1", rule_ids: [], tactics: ["execution"], techniques: ["T1059"],
    entities: { users: ["bob"], hosts: ["ws1"], ips: [], services: [] }, first_seen: "2026-11-21T04:00:00Z", last_seen: "2026-11-21T05:00:00Z", signal_count: 2, duplicate_count: 0,
    ...over,
  };
}

interface Call {
  url: string;
  method: string;
  body: unknown;
  headers: Record<string, string>;
}

let calls: Call[];
let stored: Alert;
let triageAnswer: (body: { change: Record<string, unknown> }) => { status: number; json: unknown };
let release: (() => void) | null;
let component: Record<string, unknown> | null = null;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

beforeEach(() => {
  calls = [];
  stored = alert();
  release = null;
  session.set({ user: { name: "alice", role: "analyst" }, permissions: ["alerts:read", "alerts:triage"], csrf: "tok-123", expires_at: "", idle_timeout_ms: 1 });
  vi.stubGlobal("fetch", async (url: string, init: RequestInit = {}) => {
    const method = init.method ?? "GET";
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ url, method, body, headers: (init.headers ?? {}) as Record<string, string> });
    if (url === "/api/users/assignable") return json(200, { users: ["alice", "bob"] });
    if (url === "/api/alerts/a1" && method === "GET") return json(200, { alert: stored, history: [] });
    if (url === "/api/alerts/a1/triage") {
      await new Promise<void>((r) => (release = r));
      const a = triageAnswer(body);
      return json(a.status, a.json);
    }
    return json(404, { error: "not_found" });
  });
});

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.innerHTML = "";
  vi.unstubAllGlobals();
});

async function settle() {
  for (let i = 0; i < 10; i++) {
    await Promise.resolve();
    await tick();
  }
  flushSync();
}

async function open(): Promise<HTMLElement> {
  const target = document.createElement("div");
  document.body.appendChild(target);
  component = mount(TriagePanel, { target, props: { alertId: "a1" } }) as Record<string, unknown>;
  await vi.waitFor(() => expect(target.querySelector('[data-testid="alert-status"]')).not.toBeNull());
  return target;
}

const q = (el: HTMLElement, id: string) => el.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;

describe("TriagePanel", () => {
  it("shows the change at once, then the server's confirmed alert; sends the base and the CSRF token", async () => {
    triageAnswer = () => ({ status: 200, json: { alert: (stored = alert({ status: "acknowledged", version: 4 })), applied: ["status"], conflicts: [] } });
    const el = await open();
    q(el, "acknowledge").click();
    await settle();
    expect(q(el, "alert-status").textContent).toBe("Acknowledged"); // optimistic, server not answered yet
    expect(el.textContent).toContain("saving…");
    const call = calls.find((c) => c.url === "/api/alerts/a1/triage")!;
    expect(call.body).toEqual({ base_version: 3, base: { status: "new", close_reason: null }, change: { status: "acknowledged" } });
    expect(call.headers["x-csrf-token"]).toBe("tok-123");
    release!();
    await vi.waitFor(() => expect(el.textContent).not.toContain("saving…"));
    expect(q(el, "alert-status").textContent).toBe("Acknowledged");
  });

  it("rolls back and explains when the server refuses", async () => {
    triageAnswer = () => ({ status: 400, json: { error: "triage_invalid", message: "assignee: bob is not an active user who can triage" } });
    const el = await open();
    q(el, "assign-me").click();
    await settle();
    expect(q(el, "alert-assignee").textContent).toBe("alice");
    release!();
    await vi.waitFor(() => expect(el.querySelector('[role="alert"]')?.textContent).toContain("not an active user"));
    expect(q(el, "alert-assignee").textContent).toBe("unassigned");
  });

  it("shows a conflict instead of overwriting, and applies mine only when asked", async () => {
    triageAnswer = (body) =>
      (body as { force?: boolean }).force
        ? { status: 200, json: { alert: (stored = alert({ assignee: "alice", version: 5 })), applied: ["assignee"], conflicts: [] } }
        : { status: 200, json: { alert: (stored = alert({ assignee: "bob", version: 4 })), applied: [], conflicts: [{ field: "assignee", base: null, yours: "alice", theirs: "bob" }] } };
    const el = await open();
    q(el, "assign-me").click();
    await settle();
    release!();
    await vi.waitFor(() => expect(q(el, "conflict-notice")).not.toBeNull());
    expect(q(el, "conflict-notice").textContent).toContain("now bob");
    expect(q(el, "alert-assignee").textContent).toBe("bob");
    [...q(el, "conflict-notice").querySelectorAll("button")].find((b) => b.textContent === "Apply mine")!.click();
    await settle();
    release!();
    await vi.waitFor(() => expect(el.querySelector('[data-testid="conflict-notice"]')).toBeNull());
    expect(q(el, "alert-assignee").textContent).toBe("alice");
    const last = calls.filter((c) => c.url === "/api/alerts/a1/triage").at(-1)!;
    expect(last.body).toMatchObject({ change: { assignee: "alice" }, force: true });
  });

  it("renders notes as text", async () => {
    stored = alert({ notes: [{ id: "n1", author: "bob", at: "2026-11-21T05:01:00Z", text: "<img src=x onerror=alert(1)> check this" }] });
    const el = await open();
    expect(el.querySelector(".note-text")!.textContent).toBe("<img src=x onerror=alert(1)> check this");
    expect(el.querySelectorAll(".notes img").length).toBe(0);
  });
});
