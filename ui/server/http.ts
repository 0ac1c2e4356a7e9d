// HTTP plumbing shared by the console's routes: the route table type, the request context, JSON bodies
// validated by strict zod schemas, and errors as `{error: code, message, hint, location}` with a status.

import type { Context } from "hono";
import type { HttpBindings } from "@hono/node-server";
import { z } from "zod";
import { SigilError, UsageError } from "../../platform/errors.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import type { Permission } from "./auth/permissions.ts";
import type { Session } from "./auth/sessions.ts";

export type ConsoleEnv = {
  Bindings: HttpBindings;
  Variables: { session: Session | null; token: string | null; ip: string | null };
};
export type Ctx = Context<ConsoleEnv>;

/**
 * Who may call a route: "public" (sign-in only), "session" (any signed-in user), or one permission.
 * Every route is in a table like this; `app.ts` registers them and the route test walks the router.
 */
export type Access = "public" | "session" | Permission;

export interface RouteSpec<D> {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  access: Access;
  /** Largest request body accepted (default 64 KiB). */
  maxBody?: number;
  handler: (c: Ctx, deps: D) => Promise<Response> | Response;
}

/** HTTP status for an error code. */
export function statusFor(err: unknown): 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 503 {
  if (!(err instanceof SigilError)) return 500;
  const code = err.code;
  if (code === "unauthenticated") return 401;
  if (code === "forbidden" || code === "csrf_failed") return 403;
  if (code.endsWith("_not_found")) return 404;
  if (code === "store_conflict" || code.endsWith("_conflict") || code === "user_exists") return 409;
  if (code === "body_too_large") return 413;
  if (code === "too_many_attempts") return 429;
  if (code === "store_unavailable" || code === "store_circuit_open" || code === "bus_unavailable") return 503;
  if (err.exitCode === 2) return 400;
  return 500;
}

export function errorBody(err: SigilError): Record<string, unknown> {
  const body: Record<string, unknown> = { error: err.code, message: err.message };
  if (err.hint) body["hint"] = err.hint;
  if (err.location) body["location"] = err.location;
  return body;
}

/** Reads a JSON request body (bounded, prototype-safe) and validates it with a strict zod schema. */
export async function readJson<S extends z.ZodType>(c: Ctx, schema: S, maxBytes = 64 * 1024): Promise<z.infer<S>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new UsageError("bad_request", "the request body must be JSON", { hint: "send Content-Type: application/json" });
  }
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > maxBytes) throw new UsageError("body_too_large", `the request body is larger than ${maxBytes} bytes`);
  const buf = await c.req.arrayBuffer();
  if (buf.byteLength > maxBytes) throw new UsageError("body_too_large", `the request body is larger than ${maxBytes} bytes`);
  let value: unknown;
  try {
    value = safeJsonParse(new TextDecoder("utf-8", { fatal: true }).decode(buf));
  } catch (err) {
    throw new UsageError("bad_request", `the request body is not valid JSON: ${(err as Error).message}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = issue.path.join(".") || "body";
    throw new UsageError("bad_request", `${key}: ${issue.message}`, { location: { key } });
  }
  return r.data;
}

/** A query parameter, bounded in length; throws `bad_request` past the bound. */
export function param(c: Ctx, name: string, max = 2048): string | undefined {
  const v = c.req.query(name);
  if (v !== undefined && v.length > max) throw new UsageError("bad_request", `query parameter ${name} is longer than ${max} characters`, { location: { key: name } });
  return v;
}

/** A path parameter of the matched route (e.g. `:id`). */
export function pathParam(c: Ctx, name: string): string {
  const v = c.req.param(name) as string | undefined;
  if (v === undefined) throw new UsageError("bad_request", `missing path parameter ${name}`, { location: { key: name } });
  return v;
}

export function intParam(c: Ctx, name: string, def: number, min: number, max: number): number {
  const v = param(c, name, 32);
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError("bad_request", `query parameter ${name} must be an integer from ${min} to ${max}`, { location: { key: name } });
  }
  return n;
}

/** A time bound from a query parameter: ISO 8601, epoch ms, or relative like "now-24h". */
export function timeParam(c: Ctx, name: string, now = Date.now()): number | undefined {
  const v = param(c, name, 64);
  if (v === undefined || v === "") return undefined;
  const t = parseTime(v, now);
  if (t === null) throw new UsageError("bad_request", `query parameter ${name}: ${JSON.stringify(v)} is not a time`, { location: { key: name }, hint: 'use ISO 8601, epoch milliseconds or "now-15m", "now-24h", "now-7d"' });
  return t;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 7 * 86_400_000 };

export function parseTime(v: string, now = Date.now()): number | null {
  if (v === "now") return now;
  const rel = /^now-(\d{1,6})([smhdw])$/.exec(v);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]];
  if (/^\d{10,15}$/.test(v)) return Number(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v)) return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

export function requireSession(c: Ctx): Session {
  const s = c.get("session");
  if (!s) throw new SigilError("unauthenticated", "sign in first", { exitCode: 2 });
  return s;
}
