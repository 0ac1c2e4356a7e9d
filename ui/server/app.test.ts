// Every route the router holds refuses a request without a session and a request from a role without
// its permission; changes also need the console's Origin and the session's CSRF token.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createApp, LIVE_ACCESS, LIVE_PATH, ROUTES } from "./app.ts";
import { can, ROLES, type Role } from "./auth/permissions.ts";
import { addRoleUsers, signIn, startHarness, type Client, type Harness } from "./test-support/harness.ts";

let h: Harness;
const sessions = new Map<Role, Client>();

beforeAll(async () => {
  h = await startHarness();
  await addRoleUsers(h);
  for (const r of ROLES) sessions.set(r, await signIn(h, r));
});
afterAll(async () => h.close());

/** The router's own table: every method and path registered on the Hono app, middleware left out. */
function registered(): { method: string; path: string }[] {
  const app = createApp(h.deps);
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of app.routes) {
    if (r.method === "ALL") continue; // app.use middleware
    seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  }
  return [...seen.values()];
}

function concrete(path: string): string {
  return path.replace(/:(\w+)/g, (_, name: string) => (name === "step" ? "0" : "x1"));
}

function specOf(method: string, path: string) {
  const spec = ROUTES.find((r) => r.method === method && r.path === path);
  if (!spec) throw new Error(`route ${method} ${path} is registered but not in the route table`);
  return spec;
}

describe("route table", () => {
  it("registers every table entry and nothing else under /api", () => {
    const api = registered().filter((r) => r.path.startsWith("/api/"));
    expect(api.length).toBe(ROUTES.length);
    for (const r of api) specOf(r.method, r.path);
    const other = registered().filter((r) => !r.path.startsWith("/api/"));
    expect(other).toEqual([{ method: "GET", path: "/*" }]); // the web app's static files
  });

  it("has exactly one public route: sign-in", () => {
    expect(ROUTES.filter((r) => r.access === "public").map((r) => `${r.method} ${r.path}`)).toEqual(["POST /api/auth/login"]);
  });

  it("refuses every non-public route without a session", async () => {
    const routes = registered().filter((r) => r.path.startsWith("/api/") && specOf(r.method, r.path).access !== "public");
    expect(routes.length).toBeGreaterThan(15);
    for (const r of routes) {
      const res = await fetch(h.url + concrete(r.path), {
        method: r.method,
        headers: { origin: h.url, "content-type": "application/json" },
        body: r.method === "GET" ? undefined : "{}",
      });
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe("unauthenticated");
    }
  });

  it("refuses a forged or expired session cookie", async () => {
    const res = await fetch(h.url + "/api/alerts", { headers: { cookie: "__Host-sigil_session=" + "A".repeat(43) } });
    expect(res.status).toBe(401);
  });

  it("refuses every route to each role without its permission, and lets the others through", async () => {
    let refusals = 0;
    for (const r of registered().filter((x) => x.path.startsWith("/api/"))) {
      const spec = specOf(r.method, r.path);
      if (spec.access === "public" || spec.access === "session") continue;
      for (const role of ROLES) {
        const res = await sessions.get(role)!.fetch(concrete(r.path), { method: r.method, json: r.method === "GET" ? undefined : {} });
        if (can(role, spec.access)) {
          expect([401, 403], `${role} ${r.method} ${r.path}`).not.toContain(res.status);
        } else {
          expect(res.status, `${role} ${r.method} ${r.path}`).toBe(403);
          expect(((await res.json()) as { error: string }).error).toBe("forbidden");
          refusals++;
        }
      }
    }
    expect(refusals).toBeGreaterThan(10);
  });

  it("refuses changes without the CSRF token or from another origin", async () => {
    const admin = sessions.get("admin")!;
    for (const r of ROUTES.filter((x) => x.method !== "GET")) {
      const path = concrete(r.path);
      const noToken = await admin.fetch(path, { method: r.method, json: {}, headers: { "x-csrf-token": "wrong" } });
      if (r.access !== "public") expect(noToken.status, `${r.method} ${r.path} without CSRF token`).toBe(403);
      const foreign = await admin.fetch(path, { method: r.method, json: {}, headers: { origin: "https://evil.example" } });
      expect(foreign.status, `${r.method} ${r.path} from another origin`).toBe(403);
      expect(((await foreign.json()) as { error: string }).error).toBe("csrf_failed");
      const rebinding = await admin.fetch(path, { method: r.method, json: {}, headers: { origin: "http://evil.example:1", host: "evil.example:1" } });
      expect(rebinding.status, `${r.method} ${r.path} via a rebound host name`).toBe(403);
    }
  });

  it("refuses the live WebSocket without a session, from another origin, and lets every role with its permission in", async () => {
    const wsUrl = h.url.replace("http", "ws") + LIVE_PATH;
    const attempt = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrl, { headers });
        ws.on("open", () => {
          ws.close();
          resolve(101);
        });
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("error", () => resolve(-1));
      });
    expect(await attempt({ origin: h.url })).toBe(401);
    const viewer = sessions.get("viewer")!;
    expect(await attempt({ origin: "https://evil.example", cookie: viewer.cookie! })).toBe(403);
    for (const role of ROLES) {
      const code = await attempt({ origin: h.url, cookie: sessions.get(role)!.cookie! });
      expect(code, role).toBe(can(role, LIVE_ACCESS) ? 101 : 403);
    }
  });

  it("answers unknown API paths with a JSON 404 and sends the security headers everywhere", async () => {
    const res = await sessions.get("viewer")!.fetch("/api/nope");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("content-security-policy")).not.toMatch(/unsafe-(inline|eval)/);
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-store");
    // /api itself is the API's too: a JSON 404 whether or not the web app is built (fuzz finding)
    for (const p of ["/api", "/api/"]) {
      const r = await sessions.get("viewer")!.fetch(p);
      expect(r.status, p).toBe(404);
      expect(((await r.json()) as { error: string }).error, p).toBe("not_found");
    }
  });
});
