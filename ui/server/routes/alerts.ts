// Alerts: the queue (same selection as the live snapshot), one alert with its history, triage with
// field-level merge (platform/alerts/triage.ts), and who can be assigned.

import { z } from "zod";
import { SigilError, UsageError } from "../../../platform/errors.ts";
import { CLOSE_REASONS, triageAlert } from "../../../platform/alerts/triage.ts";
import { encodeAlertsMessage } from "../../../platform/alerts/messages.ts";
import { ALERT_STATUSES, type Alert } from "../../../schema/signal.ts";
import { parseFilter } from "../../shared/alert-filter.ts";
import { can } from "../auth/permissions.ts";
import type { ConsoleDeps } from "../deps.ts";
import { intParam, readJson, requireSession, type RouteSpec } from "../http.ts";
import { pathParam } from "../http.ts";
import { queueCounts, queueSnapshot } from "../queue.ts";

const ID_RE = /^[\w.:-]{1,128}$/;

export function checkId(id: string, what: string): string {
  if (!ID_RE.test(id)) throw new UsageError("bad_request", `${what} id must be 1-128 of letters, digits, _ . : -`, { location: { key: "id" } });
  return id;
}

const status = z.enum(ALERT_STATUSES as unknown as [string, ...string[]]);
const reason = z.enum(CLOSE_REASONS);
const assignee = z.string().max(64).nullable();

const triageBody = z.strictObject({
  /** The alert version the analyst's view showed. */
  base_version: z.number().int().min(0).optional(),
  /** The values of the changed fields in that view. */
  base: z.strictObject({ status: status.optional(), close_reason: reason.nullable().optional(), assignee: assignee.optional() }).optional(),
  change: z.strictObject({ status: status.optional(), close_reason: reason.nullable().optional(), assignee: assignee.optional(), note: z.string().max(4000).optional() }),
  /** Write over a conflicting change the analyst has seen. */
  force: z.boolean().optional(),
});

export const alertRoutes: RouteSpec<ConsoleDeps>[] = [
  {
    method: "GET",
    path: "/api/alerts",
    access: "alerts:read",
    async handler(c, d) {
      const s = requireSession(c);
      const filter = parseFilter(new URL(c.req.url).searchParams);
      const size = intParam(c, "size", d.config.live.max_snapshot_alerts, 1, d.config.live.max_snapshot_alerts);
      return c.json(await queueSnapshot(d.store, filter, s.user, size));
    },
  },
  {
    method: "GET",
    path: "/api/alerts/counts",
    access: "alerts:read",
    async handler(c, d) {
      const s = requireSession(c);
      return c.json({ counts: await queueCounts(d.store, parseFilter(new URL(c.req.url).searchParams), s.user) });
    },
  },
  {
    method: "GET",
    path: "/api/alerts/:id",
    access: "alerts:read",
    async handler(c, d) {
      const id = checkId(pathParam(c, "id"), "alert");
      const alert = await d.store.get("alerts", id);
      if (!alert) throw new SigilError("alert_not_found", `no alert with id ${id}`, { exitCode: 2 });
      const history = await d.store.search("audit", {
        query: { op: "term", field: "target", value: id, wildcard: false, phrase: false },
        sort: [{ field: "@timestamp", order: "desc" }],
        size: 200,
      });
      return c.json({ alert, history: history.hits });
    },
  },
  {
    method: "POST",
    path: "/api/alerts/:id/triage",
    access: "alerts:triage",
    maxBody: 16 * 1024,
    async handler(c, d) {
      const s = requireSession(c);
      const id = checkId(pathParam(c, "id"), "alert");
      const body = await readJson(c, triageBody, 16 * 1024);
      if (body.change.assignee) {
        const u = await d.users.get(body.change.assignee);
        if (!u || u.disabled || !can(u.role, "alerts:triage")) {
          throw new UsageError("triage_invalid", `assignee: ${body.change.assignee} is not an active user who can triage`, { location: { key: "change.assignee" } });
        }
        body.change.assignee = u.name;
      }
      const out = await triageAlert(d.store, d.audit, {
        id,
        change: body.change as never,
        base: body.base as never,
        baseVersion: body.base_version,
        force: body.force,
        actor: s.user,
        sourceIp: c.get("ip") ?? undefined,
      });
      if (out.applied.length) {
        d.hub.publishAlert(out.alert);
        // other console processes learn of it from the topic; if the bus is down they find it by polling the store
        d.publishAlerts([encodeAlertsMessage({ kind: "alert", alert: out.alert as Alert, source: "triage" })]).catch((err: unknown) =>
          d.log.warn({ alert: id, err: (err as Error).message }, "publishing a triage change failed; other consoles will pick it up from the store"),
        );
      }
      return c.json({ alert: out.alert, applied: out.applied, conflicts: out.conflicts });
    },
  },
  {
    method: "GET",
    path: "/api/users/assignable",
    access: "alerts:triage",
    async handler(c, d) {
      const users = (await d.users.list()).filter((u) => !u.disabled && can(u.role, "alerts:triage")).map((u) => u.name);
      return c.json({ users });
    },
  },
];
