// Administration and operations: pipeline health, user management (the same operations as `sigil users`),
// and the audit log. Every change is audited; a disabled user's or changed role's sessions end at once.

import { z } from "zod";
import { UsageError } from "../../../platform/errors.ts";
import { parseQuery } from "../../../platform/store/query.ts";
import { ROLES } from "../auth/permissions.ts";
import { checkUserName } from "../auth/users.ts";
import type { ConsoleDeps } from "../deps.ts";
import { intParam, param, readJson, requireSession, timeParam, type RouteSpec } from "../http.ts";
import { pathParam } from "../http.ts";

const addBody = z.strictObject({ name: z.string().min(1).max(64), role: z.enum(ROLES), password: z.string().min(1).max(1024) });
const changeBody = z.strictObject({ role: z.enum(ROLES).optional(), disabled: z.boolean().optional() });

export const adminRoutes: RouteSpec<ConsoleDeps>[] = [
  {
    method: "GET",
    path: "/api/health",
    access: "health:read",
    async handler(c, d) {
      return c.json(await d.health.report());
    },
  },
  {
    method: "GET",
    path: "/api/users",
    access: "users:manage",
    async handler(c, d) {
      return c.json({ users: await d.users.list() });
    },
  },
  {
    method: "POST",
    path: "/api/users",
    access: "users:manage",
    maxBody: 4096,
    async handler(c, d) {
      const s = requireSession(c);
      const body = await readJson(c, addBody, 4096);
      const user = await d.users.add({ name: body.name, role: body.role, password: body.password, createdBy: s.user });
      await d.audit.record({ actor: s.user, action: "user.create", target: user.name, details: { role: user.role }, source_ip: c.get("ip") ?? undefined });
      return c.json({ user }, 201);
    },
  },
  {
    method: "PATCH",
    path: "/api/users/:name",
    access: "users:manage",
    maxBody: 1024,
    async handler(c, d) {
      const s = requireSession(c);
      const name = checkUserName(pathParam(c, "name"));
      const body = await readJson(c, changeBody, 1024);
      if (body.role === undefined && body.disabled === undefined) throw new UsageError("bad_request", "give role or disabled", { location: { key: "body" } });
      if (name === s.user && (body.disabled === true || (body.role !== undefined && body.role !== "admin"))) {
        throw new UsageError("user_self_lockout", "you cannot disable yourself or take away your own admin role", { hint: "ask another admin" });
      }
      let user = await d.users.get(name).then((u) => u && { ...u });
      if (body.role !== undefined) {
        const prev = user?.role;
        const view = await d.users.setRole(name, body.role);
        await d.audit.record({ actor: s.user, action: "user.role_change", target: name, details: { from: prev ?? null, to: view.role }, source_ip: c.get("ip") ?? undefined });
      }
      if (body.disabled !== undefined) {
        await d.users.setDisabled(name, body.disabled);
        await d.audit.record({ actor: s.user, action: body.disabled ? "user.disable" : "user.enable", target: name, source_ip: c.get("ip") ?? undefined });
      }
      const ended = await d.sessions.destroyForUser(name);
      user = await d.users.get(name).then((u) => u && { ...u });
      const { password_hash: _h, id: _i, ...view } = user!;
      return c.json({ user: view, sessions_ended: ended });
    },
  },
  {
    method: "GET",
    path: "/api/audit",
    access: "audit:read",
    async handler(c, d) {
      const now = Date.now();
      const to = timeParam(c, "to", now) ?? now;
      const from = timeParam(c, "from", now) ?? to - 7 * 86_400_000;
      const q = param(c, "q", 2048);
      const r = await d.store.search("audit", {
        query: q && q.trim() ? parseQuery(q) : undefined,
        from,
        to,
        sort: [{ field: "@timestamp", order: "desc" }],
        size: intParam(c, "size", 200, 1, 1000),
        after: param(c, "after", 4096) || undefined,
      });
      return c.json({ total: r.total, next: r.next ?? null, records: r.hits });
    },
  },
];
