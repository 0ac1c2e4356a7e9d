// Test harness for the console server: deps over an in-memory store, a real loopback listener, users of
// every role, and a small client that signs in and sends the cookie, Origin and CSRF token like a browser.

import { pino } from "pino";
import { consoleSchema } from "../../../platform/config/sections/console.ts";
import { AuditLog } from "../../../platform/security/audit.ts";
import type { OutgoingMessage } from "../../../platform/bus/types.ts";
import type { Alert, Chain } from "../../../schema/signal.ts";
import { LoginThrottle } from "../auth/throttle.ts";
import { SessionStore } from "../auth/sessions.ts";
import { UserStore } from "../auth/users.ts";
import { ROLES, type Role } from "../auth/permissions.ts";
import type { ConsoleDeps } from "../deps.ts";
import { HealthReader } from "../health/reader.ts";
import { LiveHub } from "../live/hub.ts";
import { OriginPolicy } from "../origin.ts";
import { queueCounts, queueSnapshotPages } from "../queue.ts";
import { startConsoleServer, type ConsoleServer } from "../server.ts";
import { MemoryStore } from "./memory-store.ts";

export const PASSWORD = "correct horse battery staple";

export interface Harness {
  store: MemoryStore;
  deps: ConsoleDeps;
  server: ConsoleServer;
  url: string;
  published: OutgoingMessage[];
  close(): Promise<void>;
}

export async function startHarness(overrides: Record<string, unknown> = {}): Promise<Harness> {
  const store = new MemoryStore();
  const config = consoleSchema.parse({ port: 0, web: { auto_build: false }, live: { poll_interval_ms: 0 }, ...overrides });
  const log = pino({ level: "silent" });
  const users = new UserStore(store);
  const sessions = new SessionStore(store, users, { ttlMs: config.session_ttl_ms, idleMs: config.session_idle_ms, cacheMs: 0 });
  const published: OutgoingMessage[] = [];
  const hub = new LiveHub(
    {
      snapshot: (f, me) => queueSnapshotPages(store, f, me, config.live.max_snapshot_alerts),
      counts: (f, me) => queueCounts(store, f, me),
      sessionAlive: async (c) => (await sessions.lookup(c.token, { touch: false })) !== null,
    },
    { replayBuffer: config.live.replay_buffer, maxClientBufferBytes: config.live.max_client_buffer_bytes, heartbeatMs: config.live.heartbeat_ms, countsEveryMs: 50, sessionCheckMs: 100, log },
  );
  hub.start();
  const deps: ConsoleDeps = {
    config,
    store,
    publishAlerts: async (m) => void published.push(...m),
    hub,
    users,
    sessions,
    throttle: new LoginThrottle({ maxFailures: config.login.max_failures, windowMs: config.login.window_ms, maxLockoutMs: config.login.max_lockout_ms }),
    audit: new AuditLog(store),
    origins: new OriginPolicy({ publicOrigin: config.public_origin, tls: config.tls.enabled, loopbackOnly: true }),
    web: null,
    health: new HealthReader({ urls: [], token: null, store, bus: null, liveStats: () => ({ clients: hub.clients.size, sequence: hub.sequence }) }),
    log,
    tls: config.tls.enabled,
  };
  const server = await startConsoleServer(deps, log);
  return {
    store,
    deps,
    server,
    url: server.url,
    published,
    close: async () => {
      await server.close();
    },
  };
}

/** One user per role, named after it. */
export async function addRoleUsers(h: Harness, roles: readonly Role[] = ROLES): Promise<void> {
  for (const role of roles) {
    if (!(await h.deps.users.get(role))) await h.deps.users.add({ name: role, role, password: PASSWORD, createdBy: "test" });
  }
}

export interface Client {
  cookie: string | null;
  csrf: string | null;
  fetch(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
}

/** A browser-like client: keeps the session cookie, sends Origin and the CSRF token on changes. */
export function client(h: Harness): Client {
  const c: Client = {
    cookie: null,
    csrf: null,
    async fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (c.cookie && !headers.has("cookie")) headers.set("cookie", c.cookie);
      const method = (init.method ?? "GET").toUpperCase();
      if (method !== "GET" && !headers.has("origin")) headers.set("origin", h.url);
      if (method !== "GET" && c.csrf && !headers.has("x-csrf-token")) headers.set("x-csrf-token", c.csrf);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        headers.set("content-type", "application/json");
      }
      const res = await fetch(h.url + path, { ...init, method, headers, body, redirect: "manual" });
      const set = res.headers.get("set-cookie");
      if (set) {
        const m = /^(__Host-sigil_session)=([^;]*)/.exec(set);
        if (m) c.cookie = m[2] ? `${m[1]}=${m[2]}` : null;
      }
      return res;
    },
  };
  return c;
}

export async function signIn(h: Harness, name: string, password = PASSWORD): Promise<Client> {
  const c = client(h);
  const res = await c.fetch("/api/auth/login", { method: "POST", json: { username: name, password } });
  if (res.status !== 200) throw new Error(`sign-in as ${name} failed: ${res.status} ${await res.text()}`);
  c.csrf = ((await res.json()) as { csrf: string }).csrf;
  return c;
}

let n = 0;

export function makeAlert(over: Partial<Alert> = {}): Alert {
  const i = ++n;
  const t = new Date(Date.UTC(2026, 10, 21, 5, 0, i % 60)).toISOString();
  return {
    id: `alert-${i}`,
    "@timestamp": t,
    updated: t,
    version: 1,
    title: `Alert ${i}`,
    level: "high",
    risk_score: 70,
    status: "new",
    close_reason: null,
    assignee: null,
    notes: [],
    chain_id: `alert-${i}`,
    rule_ids: ["r1"],
    tactics: ["credential-access"],
    techniques: ["T1003"],
    entities: { users: ["bob"], hosts: ["ws1"], ips: ["10.0.0.5"], services: [] },
    first_seen: t,
    last_seen: t,
    signal_count: 1,
    duplicate_count: 0,
    ...over,
  };
}

export function makeChain(id: string, over: Partial<Chain> = {}): Chain {
  const t = "2026-11-21T05:00:00.000Z";
  return {
    id,
    "@timestamp": t,
    version: 1,
    score: 80,
    tactics: ["credential-access"],
    techniques: ["T1003"],
    entities: { users: ["bob"], hosts: ["ws1"], ips: ["10.0.0.5"], services: [] },
    first_seen: t,
    last_seen: t,
    steps: [],
    links: [],
    ...over,
  };
}
