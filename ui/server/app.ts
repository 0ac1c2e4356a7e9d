// The console's HTTP application: one table of routes (each naming the permission it needs), middleware
// per concern (client address, security headers, session, permission, CSRF), errors as JSON with a code,
// and the built web app for everything that is not the API.

import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { SigilError } from "../../platform/errors.ts";
import { can } from "./auth/permissions.ts";
import type { ConsoleDeps } from "./deps.ts";
import { errorBody, statusFor, type ConsoleEnv, type RouteSpec } from "./http.ts";
import { securityHeaders } from "./security-headers.ts";
import { authRoutes, sessionCookie } from "./routes/auth.ts";
import { alertRoutes } from "./routes/alerts.ts";
import { chainRoutes } from "./routes/chains.ts";
import { eventRoutes } from "./routes/events.ts";
import { ruleRoutes } from "./routes/rules.ts";
import { adminRoutes } from "./routes/admin.ts";
import { safeEqual } from "./auth/sessions.ts";

/** Every API route of the console, in registration order (specific paths before parameterized ones). */
export const ROUTES: RouteSpec<ConsoleDeps>[] = [...authRoutes, ...alertRoutes, ...chainRoutes, ...eventRoutes, ...ruleRoutes, ...adminRoutes];

/** The live channel: a WebSocket upgrade on this path, authorized like a GET route with this permission. */
export const LIVE_PATH = "/api/live";
export const LIVE_ACCESS = "alerts:read" as const;

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The client address: the socket peer, or the first X-Forwarded-For hop when behind a trusted proxy. */
export function clientIp(remote: string | undefined, forwarded: string | undefined, trustProxy: boolean): string | null {
  if (trustProxy && forwarded) {
    const first = forwarded.split(",")[0].trim();
    if (first && first.length <= 64) return first;
  }
  return remote ?? null;
}

function guard(route: RouteSpec<ConsoleDeps>, d: ConsoleDeps): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const token = sessionCookie(c);
    c.set("token", token);
    c.set("session", null);
    if (route.access !== "public") {
      const session = await d.sessions.lookup(token);
      if (!session) throw new SigilError("unauthenticated", "sign in first", { exitCode: 2 });
      c.set("session", session);
      if (route.access !== "session" && !can(session.role, route.access)) {
        throw new SigilError("forbidden", `your role (${session.role}) does not allow ${route.access}`, { exitCode: 2, hint: "ask an admin for a role that does" });
      }
    }
    if (UNSAFE.has(c.req.method)) {
      // CSRF: the request must come from the console's own origin, and (once signed in) carry the session's token
      if (!d.origins.allows(c.req.header("origin"), c.req.header("host"))) {
        throw new SigilError("csrf_failed", "the request did not come from the console's origin", { exitCode: 2 });
      }
      const site = c.req.header("sec-fetch-site");
      if (site && site !== "same-origin") throw new SigilError("csrf_failed", "cross-site request refused", { exitCode: 2 });
      const session = c.get("session");
      if (session && !safeEqual(c.req.header("x-csrf-token") ?? "", session.csrf)) {
        throw new SigilError("csrf_failed", "missing or wrong CSRF token", { exitCode: 2, hint: "reload the console" });
      }
    }
    await next();
  };
}

export function createApp(d: ConsoleDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const headers = Object.entries(securityHeaders(d.tls));

  app.use("*", async (c, next) => {
    const incoming = c.env?.incoming;
    c.set("ip", clientIp(incoming?.socket?.remoteAddress, c.req.header("x-forwarded-for"), d.config.trust_proxy));
    await next();
    for (const [k, v] of headers) c.res.headers.set(k, v);
    if (isApiPath(c.req.path)) c.res.headers.set("cache-control", "no-store");
  });

  app.onError((err, c) => {
    const status = statusFor(err);
    if (err instanceof SigilError && status < 500) return c.json(errorBody(err), status);
    if (err instanceof SigilError && status === 503) return c.json(errorBody(err), status);
    d.log.error({ err: err.message, path: c.req.path, method: c.req.method, code: (err as SigilError).code }, "console request failed");
    return c.json({ error: "internal", message: "the console could not complete the request; see its log" }, 500);
  });

  for (const r of ROUTES) {
    // the body is bounded while it streams in (a chunked upload cannot grow past the limit)
    const limit = bodyLimit({
      maxSize: r.maxBody ?? 64 * 1024,
      onError: (c) => c.json({ error: "body_too_large", message: `the request body is larger than ${r.maxBody ?? 64 * 1024} bytes` }, 413),
    });
    app.on(r.method, r.path, guard(r, d), limit, (c) => r.handler(c, d));
  }

  // the web app (public: it holds no data; everything it shows comes from the routes above)
  app.get("*", (c) => {
    if (isApiPath(c.req.path)) return c.json({ error: "not_found", message: `no API route ${c.req.path}` }, 404);
    const res = d.web?.respond(c.req.path, { acceptEncoding: c.req.header("accept-encoding"), ifNoneMatch: c.req.header("if-none-match") });
    if (res) return res;
    if (!d.web) return c.text("the web app is not built; run `npm run build:web` or start the console with console.web.auto_build", 503);
    return c.text("not found", 404);
  });

  app.notFound((c) => c.json({ error: "not_found", message: `no route ${c.req.method} ${c.req.path}` }, 404));
  return app;
}

/** /api and everything under it belongs to the API (a JSON answer), never to the web app. */
function isApiPath(p: string): boolean {
  return p === "/api" || p.startsWith("/api/");
}
