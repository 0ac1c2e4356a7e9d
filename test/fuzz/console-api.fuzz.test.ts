// Fuzz: every console API route of the real console role over a real embedded store holding an
// intrusion chain, alerts and events, called with a valid admin (or analyst) session, the console's
// Origin and the CSRF token, so requests get past authentication into the handlers: random path
// parameters, query strings (the query language, times, sizes, cursors, filters), bodies (random JSON
// and structural mutations of valid ones), headers and methods. Every answer is 2xx or 4xx with a JSON
// error code, never 5xx, never a hang, and the console keeps serving. The live WebSocket gets random
// frames and subscriptions: it answers them or closes with a protocol code, never an internal error.
// The budget is SIGIL_FUZZ_RUNS.

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ROUTES } from "../../ui/server/app.ts";
import { PASSWORD, startConsoleEnv, type ConsoleEnv } from "../console/support/console-env.ts";
import { background, intrusion, otherAlerts } from "../console/support/fixtures.ts";
import { anyString, fuzzParams, fuzzTimeout, HOSTILE_STRINGS, hostileValue, uriPart } from "./support/budget.ts";

let env: ConsoleEnv;
let chainId = "";
const ids = { alert: [] as string[], event: [] as string[], chain: [] as string[] };

interface Session {
  user: string;
  cookie: string;
  csrf: string;
}
let admin: Session;
let analyst: Session;
let users = 0;

async function signIn(user: string): Promise<Session> {
  const res = await fetch(`${env.url}/api/auth/login`, { method: "POST", headers: { origin: env.url, "content-type": "application/json" }, body: JSON.stringify({ username: user, password: PASSWORD }) });
  if (res.status !== 200) throw new Error(`sign-in as ${user}: ${res.status} ${await res.text()}`);
  const m = /(__Host-sigil_session=[^;]+)/.exec(res.headers.get("set-cookie") ?? "");
  return { user, cookie: m![1], csrf: ((await res.json()) as { csrf: string }).csrf };
}

/** A fresh user of `role` with a session: the fuzzer may sign its user out, disable it or change its password. */
async function freshSession(role: string): Promise<Session> {
  const name = `fz-${role}-${++users}`;
  await env.addUser(name, role);
  return signIn(name);
}

async function stillValid(s: Session): Promise<boolean> {
  const r = await fetch(`${env.url}/api/auth/session`, { headers: { cookie: s.cookie } });
  await r.arrayBuffer();
  return r.status === 200;
}

interface Answer {
  status: number;
  text: string;
  type: string;
}

async function call(s: Session | null, method: string, path: string, body: string | undefined, extra: Record<string, string> = {}): Promise<Answer> {
  const headers: Record<string, string> = { origin: env.url, ...(s ? { cookie: s.cookie, "x-csrf-token": s.csrf } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...extra };
  const res = await fetch(env.url + path, { method, headers, body, redirect: "manual", signal: AbortSignal.timeout(20_000) });
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") ?? "" };
}

function expectHandled(a: Answer, what: string): void {
  const show = `${what} → ${a.status} ${a.text.slice(0, 300)}`;
  expect(a.status, show).toBeGreaterThanOrEqual(200);
  expect(a.status, show).toBeLessThan(500);
  if (a.status >= 400) {
    expect(a.type, show).toMatch(/application\/json/);
    expect((JSON.parse(a.text) as { error?: unknown }).error, show).toMatch(/^[a-z][a-z0-9_]*$/);
  }
}

const QUERY_KEYS = ["q", "from", "to", "size", "after", "order", "format", "interval", "buckets", "limit", "window", "rule", "field", "value", "severity", "status", "assignee", "tactic", "entity"];
const QUERIES = [
  "user.name:bob",
  "host.name:db-1 AND NOT event.dataset:syslog",
  'message:"Accepted password"',
  "source.ip:203.0.113.0/24",
  "process.command_line:*bash*",
  "@timestamp:[now-1h TO now]",
  "event.code:>4000",
  "(a OR (b AND (c OR (d))))",
  "a:" + "(".repeat(200),
  "*:*",
  "_id:x",
  "__proto__.polluted:1",
  "constructor:x",
  "f:/(a+)+$/",
  "x".repeat(9000),
];
const queryValue = fc.oneof(
  fc.constantFrom(...QUERIES),
  fc.constantFrom("now", "now-15m", "now-999999d", "0", "-1", "1e300", "9999999999999999", "2026-02-30T25:61:00Z", "2026-11-21", "asc", "desc", "arrow", "json", "24h", "7d", "all", "high,low,bogus", "closed", "me", "10", "100000", ""),
  anyString(100),
);
const queryString = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), anyString(10)), queryValue), { maxLength: 5 }).map((pairs) => {
  const p = new URLSearchParams();
  for (const [k, v] of pairs) p.append(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
});

const VALID_BODIES: Record<string, unknown[]> = {
  "POST /api/auth/login": [{ username: "fz-nobody", password: "wrong password" }],
  "POST /api/auth/password": [{ current: "wrong", password: "another long password" }],
  "POST /api/alerts/:id/triage": [
    { change: { status: "acknowledged" } },
    { base_version: 1, base: { status: "new" }, change: { status: "closed", close_reason: "false_positive", note: "benign" } },
    { change: { assignee: "bob", note: HOSTILE_STRINGS[0] }, force: true },
  ],
  "POST /api/users": [{ name: "fz-new", role: "viewer", password: "a long enough password" }],
  "PATCH /api/users/:name": [{ role: "viewer" }, { disabled: false }],
};

function bodyFor(method: string, path: string): fc.Arbitrary<string | undefined> {
  if (method === "GET") return fc.constant(undefined);
  const valid = VALID_BODIES[`${method} ${path}`] ?? [{}];
  return fc.oneof(
    fc.constantFrom(...valid).map((v) => JSON.stringify(v)),
    fc.tuple(fc.constantFrom(...valid), fc.oneof(fc.constantFrom("change", "status", "note", "name", "role", "password", "username", "current", "disabled", "base", "assignee", "__proto__", "constructor"), anyString(10)), hostileValue()).map(([v, k, x]) => {
      const o = structuredClone(v) as Record<string, unknown>;
      const inner = o.change && typeof o.change === "object" && k !== "change" ? (o.change as Record<string, unknown>) : o;
      Object.defineProperty(inner, k, { value: x, enumerable: true, configurable: true, writable: true });
      return JSON.stringify(o) ?? "null";
    }),
    hostileValue().map((v) => JSON.stringify(v) ?? "null"),
    fc.oneof(anyString(200), fc.constantFrom("", "{", '{"a":' + "[".repeat(10_000), "\u0000", '{"change":{"note":"' + "x".repeat(70_000) + '"}}')),
  );
}

function pathParam(name: string): fc.Arbitrary<string> {
  const known = name === "step" ? ["0", "1", "2", "99", "-1", "1.5", "1e3", "NaN"] : name === "name" ? ["admin", "fz-nobody", "viewer"] : [...ids.alert.slice(0, 3), ...ids.event.slice(0, 3), chainId];
  return fc.oneof(fc.constantFrom(...known), anyString(80)).map((v) => uriPart(v));
}

function request(): fc.Arbitrary<{ method: string; path: string; body: string | undefined; role: "admin" | "analyst"; headers: Record<string, string> }> {
  return fc.constantFrom(...ROUTES).chain((r) => {
    const names = [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
    return fc.record({
      params: fc.tuple(...names.map((n) => pathParam(n))),
      qs: queryString,
      body: bodyFor(r.method, r.path),
      role: fc.constantFrom("admin" as const, "analyst" as const),
      headers: fc.dictionary(fc.constantFrom("accept", "accept-encoding", "if-none-match", "x-forwarded-for", "range", "content-type"), fc.oneof(fc.constantFrom("application/json", "text/html", "gzip, br", "*", "bytes=0-1", "text/plain", "application/json; charset=utf-7"), fc.string({ maxLength: 30 })), { maxKeys: 2 }),
    }).map(({ params, qs, body, role, headers }) => {
      let i = 0;
      const p = r.path.replace(/:(\w+)/g, () => params[i++]);
      return { method: r.method, path: p + qs, body, role, headers };
    });
  });
}

beforeAll(async () => {
  env = await startConsoleEnv({ config: { console: { web: { auto_build: false }, login: { max_failures: 1000 } } } });
  const now = new Date();
  const chain = intrusion(new Date(now.getTime() - 600_000));
  chainId = chain.chainId;
  for (const stage of chain.stages) await env.publish(stage);
  const bg = background(now, 200);
  await env.publish({ events: bg });
  const alerts = otherAlerts(now, 30);
  await env.store.put("alerts", alerts);
  await env.store.refresh();
  ids.alert = [chain.chainId, ...alerts.map((a) => a.id)];
  ids.event = bg.map((e) => e.event.id);
  admin = await freshSession("admin");
  analyst = await freshSession("analyst");
}, 120_000);

afterAll(async () => env?.close());

describe("fuzz: the console API with a valid session", () => {
  it(
    "answers random requests to every route with 2xx or 4xx and a JSON error code, never 5xx or a hang",
    async () => {
      const statuses = new Map<string, Set<number>>();
      await fc.assert(
        fc.asyncProperty(request(), async (r) => {
          if (!(await stillValid(admin))) admin = await freshSession("admin");
          if (!(await stillValid(analyst))) analyst = await freshSession("analyst");
          const s = r.role === "admin" ? admin : analyst;
          const a = await call(s, r.method, r.path, r.body, r.headers);
          expectHandled(a, `${r.role} ${r.method} ${r.path.slice(0, 200)} ${String(r.body).slice(0, 200)}`);
          const key = `${r.method} ${r.path.split("?")[0].split("/").slice(0, 3).join("/")}`;
          if (!statuses.has(key)) statuses.set(key, new Set());
          statuses.get(key)!.add(a.status);
        }),
        fuzzParams(4),
      );
      // not vacuous: requests got into the handlers (some succeeded) and some were refused as bad input
      const all = [...statuses.values()].flatMap((s) => [...s]);
      expect(all.some((s) => s >= 200 && s < 300)).toBe(true);
      expect(all.some((s) => s === 400 || s === 404)).toBe(true);
      const after = await call(await freshSession("viewer"), "GET", "/api/alerts?size=5", undefined);
      expect(after.status).toBe(200);
    },
    fuzzTimeout(600, 4),
  );

  it(
    "answers random methods and paths under /api with a JSON 4xx, never 5xx",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
          fc.oneof(fc.constantFrom("/api", "/api/", "/api/alerts/", "/api/../api/alerts", "/api/alerts/%2e%2e", "/api/events/search/x", "/api/live", "/api/users/%00", "/api//alerts"), anyString(40).map((s) => "/api/" + uriPart(s))),
          async (method, path) => {
            const a = await call(admin, method, path, method === "GET" || method === "HEAD" ? undefined : "{}");
            if (method === "HEAD") expect(a.status, `${method} ${path}`).toBeLessThan(500);
            else expectHandled(a, `${method} ${path}`);
          },
        ),
        fuzzParams(),
      );
    },
    fuzzTimeout(200),
  );

  it(
    "answers random live WebSocket frames and subscriptions, or closes with a protocol code, never an internal error",
    async () => {
      const frame = (epoch: string) =>
        fc.oneof(
          fc.record({ type: fc.constant("subscribe"), filter: fc.oneof(queryString.map((q) => q.slice(1)), anyString(100), fc.constant("x=" + "a".repeat(10_000))), sub: fc.oneof(fc.integer(), fc.double(), anyString(5)), resume: fc.oneof(fc.constant(null), fc.record({ epoch: fc.oneof(fc.constant(epoch), anyString(16)), seq: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-1, 0, Number.MAX_SAFE_INTEGER, 1e300)) })) }, { requiredKeys: ["type"] }).map((m) => JSON.stringify(m)),
          hostileValue().map((v) => JSON.stringify(v) ?? "null"),
          anyString(200),
          fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
        );
      await fc.assert(
        fc.asyncProperty(fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), fc.nat(), async (picks, seed) => {
          if (!(await stillValid(analyst))) analyst = await freshSession("analyst");
          const ws = new WebSocket(env.url.replace("http", "ws") + "/api/live", { headers: { origin: env.url, cookie: analyst.cookie } });
          const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
          const hello = await new Promise<{ epoch: string }>((resolve, reject) => {
            ws.once("message", (d) => resolve(JSON.parse(String(d)) as { epoch: string }));
            ws.once("error", reject);
          });
          const frames = fc.sample(fc.array(frame(hello.epoch), { minLength: picks.length, maxLength: picks.length }), { numRuns: 1, seed })[0];
          for (const f of frames) if (ws.readyState === WebSocket.OPEN) ws.send(f);
          await new Promise((r) => setTimeout(r, 50));
          if (ws.readyState === WebSocket.OPEN) ws.close(1000);
          const code = await closed;
          expect([1000, 1005, 4400, 4009, 1009], `close code ${code} after ${frames.map((f) => String(f).slice(0, 80)).join(" | ")}`).toContain(code);
        }),
        fuzzParams(0.5),
      );
      expect(await stillValid(admin)).toBe(true);
    },
    fuzzTimeout(300),
  );

  it("signs in and out under random credentials without a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyString(200), fc.constantFrom(admin.user, "admin", "__proto__")), anyString(200), async (username, password) => {
        expectHandled(await call(null, "POST", "/api/auth/login", JSON.stringify({ username, password })), "login");
      }),
      fuzzParams(0.5),
    );
  });
});
