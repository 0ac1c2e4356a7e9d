// The console as a cross-site attacker and a malicious insider meet it: the real console role over a real
// embedded store. ui/server/app.test.ts already walks the router (every route without a session → 401,
// every role without the permission → 403, foreign Origin and missing CSRF token → 403, the WebSocket);
// this file adds what a browser-borne attack actually sends (no Origin, Origin: null, Sec-Fetch-Site
// cross-site, text/plain "simple" form posts, CORS reads) and what an analyst could try beyond their role
// (escalating their own role, managing users, reading the audit log, forging the actor of a change).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, startConsoleEnv, type ConsoleEnv } from "../console/support/console-env.ts";
import { otherAlerts } from "../console/support/fixtures.ts";

let env: ConsoleEnv;
let alertId = "";

interface Session {
  cookie: string;
  csrf: string;
}

async function signIn(user: string): Promise<Session> {
  const res = await fetch(`${env.url}/api/auth/login`, { method: "POST", headers: { origin: env.url, "content-type": "application/json" }, body: JSON.stringify({ username: user, password: PASSWORD }) });
  expect(res.status).toBe(200);
  return { cookie: /(__Host-sigil_session=[^;]+)/.exec(res.headers.get("set-cookie") ?? "")![1], csrf: ((await res.json()) as { csrf: string }).csrf };
}

async function send(s: Session, method: string, path: string, opts: { headers?: Record<string, string | undefined>; body?: string } = {}): Promise<{ status: number; error?: string; headers: Headers }> {
  const h: Record<string, string> = { cookie: s.cookie, "x-csrf-token": s.csrf, origin: env.url, "content-type": "application/json" };
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (v === undefined) delete h[k];
    else h[k] = v;
  }
  const res = await fetch(env.url + path, { method, headers: h, body: opts.body, redirect: "manual" });
  const text = await res.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return { status: res.status, error, headers: res.headers };
}

beforeAll(async () => {
  env = await startConsoleEnv({ config: { console: { web: { auto_build: false } } } });
  await env.addUser("mallory", "analyst");
  await env.addUser("boss", "admin");
  const alerts = otherAlerts(new Date(), 3);
  await env.store.put("alerts", alerts);
  await env.store.refresh();
  alertId = alerts[0].id;
}, 120_000);

afterAll(async () => env?.close());

describe("cross-site requests with a valid session cookie", () => {
  const triage = () => `/api/alerts/${encodeURIComponent(alertId)}/triage`;
  const body = JSON.stringify({ change: { note: "cross-site" } });

  it("refuses a change with no Origin header, Origin: null, or Sec-Fetch-Site cross-site / same-site", async () => {
    const s = await signIn("mallory");
    for (const headers of [{ origin: undefined }, { origin: "null" }, { "sec-fetch-site": "cross-site" }, { "sec-fetch-site": "same-site" }, { origin: env.url.replace("127.0.0.1", "localhost") }]) {
      const r = await send(s, "POST", triage(), { headers, body });
      expect([r.status, r.error], JSON.stringify(headers)).toEqual([403, "csrf_failed"]);
    }
    // the same request from the console itself goes through
    expect((await send(s, "POST", triage(), { headers: { "sec-fetch-site": "same-origin" }, body })).status).toBe(200);
  });

  it("refuses a text/plain form post (a CORS simple request) without the token, and a tokened one that is not JSON", async () => {
    const s = await signIn("mallory");
    const form = await send(s, "POST", triage(), { headers: { "content-type": "text/plain", "x-csrf-token": undefined, origin: "https://evil.example" }, body });
    expect([form.status, form.error]).toEqual([403, "csrf_failed"]);
    const plain = await send(s, "POST", triage(), { headers: { "content-type": "text/plain" }, body });
    expect([plain.status, plain.error]).toEqual([400, "bad_request"]);
    const urlenc = await send(s, "POST", "/api/auth/password", { headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" }, body: "current=x&password=y" });
    expect(urlenc.status).toBe(403);
  });

  it("lets no other origin read API answers (no CORS grant, preflights not allowed)", async () => {
    const s = await signIn("mallory");
    const r = await send(s, "GET", "/api/alerts?size=1", { headers: { origin: "https://evil.example" } });
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect(r.headers.get("access-control-allow-credentials")).toBeNull();
    const pre = await fetch(`${env.url}/api/alerts/${alertId}/triage`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,x-csrf-token" } });
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect(pre.headers.get("access-control-allow-methods")).toBeNull();
  });

  it("refuses the CSRF token of another session", async () => {
    const a = await signIn("mallory");
    const b = await signIn("boss");
    const r = await send(a, "POST", triage(), { headers: { "x-csrf-token": b.csrf }, body });
    expect([r.status, r.error]).toEqual([403, "csrf_failed"]);
  });
});

describe("a malicious insider with analyst rights", () => {
  it("cannot raise their own role, add or enable users, or read the audit log", async () => {
    const m = await signIn("mallory");
    expect((await send(m, "PATCH", "/api/users/mallory", { body: JSON.stringify({ role: "admin" }) })).status).toBe(403);
    expect((await send(m, "POST", "/api/users", { body: JSON.stringify({ name: "mallory2", role: "admin", password: "a long password here" }) })).status).toBe(403);
    expect((await send(m, "GET", "/api/audit")).status).toBe(403);
    expect((await send(m, "GET", "/api/users")).status).toBe(403);
    const me = await fetch(`${env.url}/api/auth/session`, { headers: { cookie: m.cookie } });
    expect(((await me.json()) as { user: { role: string } }).user.role).toBe("analyst");
  });

  it("cannot forge who made a change: extra fields are refused, the audit log names the session's user", async () => {
    const m = await signIn("mallory");
    const path = `/api/alerts/${encodeURIComponent(alertId)}/triage`;
    for (const forged of [{ change: { note: "x" }, actor: "boss" }, { change: { note: "x", author: "boss" } }, { change: { note: "x" }, user: "boss" }]) {
      const r = await send(m, "POST", path, { body: JSON.stringify(forged) });
      expect([r.status, r.error], JSON.stringify(forged)).toEqual([400, "bad_request"]);
    }
    expect((await send(m, "POST", path, { body: JSON.stringify({ change: { note: "looks benign" } }) })).status).toBe(200);
    const b = await signIn("boss");
    const res = await fetch(`${env.url}/api/audit?q=${encodeURIComponent("action:alert.update")}`, { headers: { cookie: b.cookie } });
    const records = ((await res.json()) as { records: { actor: string; target?: string }[] }).records;
    expect(records.length).toBeGreaterThan(0);
    expect(new Set(records.map((r) => r.actor))).toEqual(new Set(["mallory"]));
    const stored = (await env.store.get("alerts", alertId)) as { notes: { author: string; text: string }[] };
    expect(stored.notes.map((n) => n.author)).toEqual(stored.notes.map(() => "mallory"));
  });

  it("cannot change another user's password or sign in as them through the password route", async () => {
    const m = await signIn("mallory");
    const r = await send(m, "POST", "/api/auth/password", { body: JSON.stringify({ current: PASSWORD, password: "mallory owns boss now", user: "boss" }) });
    expect([r.status, r.error]).toEqual([400, "bad_request"]);
    await signIn("boss"); // boss's password still works
  });
});
