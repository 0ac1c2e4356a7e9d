// Event search: the store's query language over a time range, result pages and histogram buckets as
// Arrow IPC streams (or JSON with `format=json`, for scripts and the Arrow-vs-JSON benchmark), and one
// event by id.

import { SigilError, UsageError } from "../../../platform/errors.ts";
import { parseQuery } from "../../../platform/store/query.ts";
import type { QueryNode, SearchRequest } from "../../../platform/store/types.ts";
import type { ConsoleDeps } from "../deps.ts";
import { intParam, param, timeParam, type Ctx, type RouteSpec } from "../http.ts";
import { pathParam } from "../http.ts";
import { autoInterval, bucketsToArrow, fillBuckets, hitsToArrow } from "../search/arrow.ts";
import { checkId } from "./alerts.ts";

export const ARROW_STREAM = "application/vnd.apache.arrow.stream";
const DAY = 86_400_000;
/** Longest time range one search may cover. */
const MAX_RANGE_MS = 400 * DAY;

function searchRequest(c: Ctx): { req: SearchRequest; from: number; to: number } {
  const now = Date.now();
  const to = timeParam(c, "to", now) ?? now;
  const from = timeParam(c, "from", now) ?? to - DAY;
  if (from >= to) throw new UsageError("bad_request", "from must be before to", { location: { key: "from" } });
  if (to - from > MAX_RANGE_MS) throw new UsageError("bad_request", `the time range is longer than ${MAX_RANGE_MS / DAY} days`, { location: { key: "from" }, hint: "narrow the time range" });
  const text = param(c, "q", 8192) ?? "";
  let query: QueryNode | undefined;
  if (text.trim()) query = parseQuery(text);
  return { req: { query, from, to, timeField: "@timestamp" }, from, to };
}

function wantsJson(c: Ctx): boolean {
  const f = param(c, "format", 16);
  if (f !== undefined && f !== "json" && f !== "arrow") throw new UsageError("bad_request", "format must be arrow or json", { location: { key: "format" } });
  return f === "json";
}

function arrowResponse(bytes: Uint8Array, headers: Record<string, string>): Response {
  return new Response(bytes as unknown as BodyInit, { status: 200, headers: { "content-type": ARROW_STREAM, "content-length": String(bytes.byteLength), ...headers } });
}

export const eventRoutes: RouteSpec<ConsoleDeps>[] = [
  {
    method: "GET",
    path: "/api/events/search",
    access: "events:search",
    async handler(c, d) {
      const started = performance.now();
      const { req } = searchRequest(c);
      const order = param(c, "order", 8) ?? "desc";
      if (order !== "asc" && order !== "desc") throw new UsageError("bad_request", "order must be asc or desc", { location: { key: "order" } });
      req.sort = [{ field: "@timestamp", order }];
      req.size = intParam(c, "size", 200, 1, 10_000);
      req.after = param(c, "after", 4096) || undefined;
      const json = wantsJson(c);
      const r = await d.store.search("events", req);
      const headers: Record<string, string> = {
        "x-sigil-total": String(r.total),
        "x-sigil-total-lower-bound": String(r.totalIsLowerBound),
        "x-sigil-took-ms": (performance.now() - started).toFixed(1),
      };
      if (r.next) headers["x-sigil-next"] = r.next;
      if (json) return c.json({ total: r.total, total_is_lower_bound: r.totalIsLowerBound, next: r.next ?? null, hits: r.hits }, 200, headers);
      return arrowResponse(hitsToArrow(r.hits), headers);
    },
  },
  {
    method: "GET",
    path: "/api/events/histogram",
    access: "events:search",
    async handler(c, d) {
      const { req, from, to } = searchRequest(c);
      const requested = intParam(c, "interval", 0, 0, 30 * DAY);
      const interval = requested > 0 ? requested : autoInterval(from, to, intParam(c, "buckets", 120, 10, 2000));
      if ((to - from) / interval > 100_000) throw new UsageError("bad_request", "more than 100,000 buckets; use a larger interval", { location: { key: "interval" } });
      const json = wantsJson(c);
      const buckets = fillBuckets(await d.store.histogram("events", req, interval), from, to, interval);
      const total = buckets.reduce((s, b) => s + b.count, 0);
      const headers = { "x-sigil-interval-ms": String(interval), "x-sigil-total": String(total) };
      if (json) return c.json({ interval, total, buckets }, 200, headers);
      return arrowResponse(bucketsToArrow(buckets), headers);
    },
  },
  {
    method: "GET",
    path: "/api/events/:id",
    access: "events:search",
    async handler(c, d) {
      const id = checkId(pathParam(c, "id"), "event");
      const ev = await d.store.get("events", id);
      if (!ev) throw new SigilError("event_not_found", `no event with id ${id}`, { exitCode: 2, hint: "it may be older than the store's retention" });
      return c.json({ event: ev });
    },
  },
];
