// Sign-in, sign-out, the current session and password change. Sign-in is throttled per user name and
// per address, rotates the session, and is audited whether it succeeds or fails.

import { z } from "zod";
import { getCookie, setCookie, deleteCookie } from "hono/cookie";
import { SigilError } from "../../../platform/errors.ts";
import { permissionsOf } from "../auth/permissions.ts";
import type { Session } from "../auth/sessions.ts";
import { normalizeUserName } from "../auth/users.ts";
import type { ConsoleDeps } from "../deps.ts";
import { readJson, requireSession, type Ctx, type RouteSpec } from "../http.ts";
import { metric, prom } from "../../../platform/telemetry/metrics.ts";

/** The cookie name without its `__Host-` prefix (hono adds the prefix and enforces Secure and Path=/). */
export const COOKIE_NAME = "sigil_session";

const signIns = metric("sigil_console_sign_ins_total", () => new prom.Counter({ name: "sigil_console_sign_ins_total", help: "Console sign-in attempts", labelNames: ["outcome"] }));

export function sessionCookie(c: Ctx): string | null {
  return getCookie(c, COOKIE_NAME, "host") ?? null;
}

function sessionView(s: Session, idleMs: number) {
  return {
    user: { name: s.user, role: s.role },
    permissions: permissionsOf(s.role),
    csrf: s.csrf,
    expires_at: new Date(s.expiresAt).toISOString(),
    idle_timeout_ms: idleMs,
  };
}

const loginBody = z.strictObject({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) });
const passwordBody = z.strictObject({ current: z.string().min(1).max(1024), password: z.string().min(1).max(1024) });

export const authRoutes: RouteSpec<ConsoleDeps>[] = [
  {
    method: "POST",
    path: "/api/auth/login",
    access: "public",
    maxBody: 4096,
    async handler(c, d) {
      const body = await readJson(c, loginBody, 4096);
      const name = normalizeUserName(body.username);
      const ip = c.get("ip");
      const wait = d.throttle.retryAfter(name, ip);
      if (wait > 0) {
        signIns.inc({ outcome: "throttled" });
        c.header("retry-after", String(Math.ceil(wait / 1000)));
        throw new SigilError("too_many_attempts", "too many failed sign-ins; wait before trying again", { exitCode: 2, hint: `retry in ${Math.ceil(wait / 1000)} s` });
      }
      const user = await d.users.authenticate(name, body.password);
      if (!user) {
        d.throttle.failure(name, ip);
        signIns.inc({ outcome: "failure" });
        const rec = await d.audit.record({ actor: name.slice(0, 64), action: "auth.sign_in_failed", outcome: "failure", source_ip: ip ?? undefined, details: { reason: "wrong user name or password, or user disabled" } });
        await d.publishAudit?.(rec);
        throw new SigilError("sign_in_failed", "wrong user name or password", { exitCode: 2 });
      }
      d.throttle.success(name, ip);
      const { token, session } = await d.sessions.create(user, { ip, userAgent: c.req.header("user-agent") ?? null, previousToken: sessionCookie(c) });
      setCookie(c, COOKIE_NAME, token, { prefix: "host", httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: Math.floor(d.config.session_ttl_ms / 1000) });
      signIns.inc({ outcome: "success" });
      await d.publishAudit?.(await d.audit.record({ actor: user.name, action: "auth.sign_in", source_ip: ip ?? undefined, details: { role: user.role } }));
      return c.json(sessionView(session, d.config.session_idle_ms));
    },
  },
  {
    method: "POST",
    path: "/api/auth/logout",
    access: "session",
    async handler(c, d) {
      const s = requireSession(c);
      const token = c.get("token");
      if (token) await d.sessions.destroy(token);
      deleteCookie(c, COOKIE_NAME, { prefix: "host", secure: true, path: "/" });
      await d.publishAudit?.(await d.audit.record({ actor: s.user, action: "auth.sign_out", source_ip: c.get("ip") ?? undefined }));
      return c.json({ ok: true });
    },
  },
  {
    method: "GET",
    path: "/api/auth/session",
    access: "session",
    handler(c, d) {
      return c.json(sessionView(requireSession(c), d.config.session_idle_ms));
    },
  },
  {
    method: "POST",
    path: "/api/auth/password",
    access: "session",
    maxBody: 4096,
    async handler(c, d) {
      const s = requireSession(c);
      const body = await readJson(c, passwordBody, 4096);
      const ip = c.get("ip");
      if (d.throttle.retryAfter(s.user, ip) > 0) throw new SigilError("too_many_attempts", "too many failed attempts; wait before trying again", { exitCode: 2 });
      if (!(await d.users.authenticate(s.user, body.current))) {
        d.throttle.failure(s.user, ip);
        throw new SigilError("sign_in_failed", "the current password is wrong", { exitCode: 2 });
      }
      await d.users.setPassword(s.user, body.password);
      // every other session of this user ends; this browser gets a fresh one
      await d.sessions.destroyForUser(s.user);
      const { token, session } = await d.sessions.create({ name: s.user, role: s.role }, { ip, userAgent: c.req.header("user-agent") ?? null });
      setCookie(c, COOKIE_NAME, token, { prefix: "host", httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: Math.floor(d.config.session_ttl_ms / 1000) });
      await d.audit.record({ actor: s.user, action: "user.password_change", target: s.user, source_ip: ip ?? undefined });
      return c.json(sessionView(session, d.config.session_idle_ms));
    },
  },
];
