// Rules and baselines: every rule in the catalog the correlate role publishes (schema/rule-catalog.ts)
// with its hit count and last hit from the signals collection and its lint problems; each anomaly
// baseline's history (schema/baseline-history.ts) with its expected band and the anomalies raised on it.

import { UsageError } from "../../../platform/errors.ts";
import type { Doc, QueryNode, Store } from "../../../platform/store/types.ts";
import { RULE_CATALOG_ENTRY_KIND, RULE_CATALOG_ID, type RuleCatalogEntry, type RuleCatalogHeader } from "../../../schema/rule-catalog.ts";
import { BASELINE_HISTORY_KIND, BASELINE_SUMMARY_KIND, type BaselineHistory, type BaselineSummary } from "../../../schema/baseline-history.ts";
import type { Signal } from "../../../schema/signal.ts";
import type { ConsoleDeps } from "../deps.ts";
import { param, timeParam, type RouteSpec } from "../http.ts";

const DAY = 86_400_000;
const WINDOWS: Record<string, number | null> = { "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, all: null };

function term(field: string, value: string): QueryNode {
  return { op: "term", field, value, wildcard: false, phrase: false };
}

async function searchAll(store: Store, collection: "state" | "signals", query: QueryNode, max: number): Promise<Doc[]> {
  const out: Doc[] = [];
  let after: string | undefined;
  while (out.length < max) {
    const r = await store.search(collection, { query, size: Math.min(1000, max - out.length), after, sort: [{ field: "id", order: "asc" }] });
    out.push(...r.hits);
    if (!r.next || r.hits.length === 0) break;
    after = r.next;
  }
  return out;
}

export interface RuleRow {
  rule_id: string;
  title: string;
  type: string;
  level: string | null;
  status: string | null;
  file: string | null;
  enabled: boolean;
  in_catalog: boolean;
  problems: RuleCatalogEntry["problems"];
  hits: number;
  last_hit: string | null;
}

/** Rules with hits and last hit over a window (null = all time). */
export async function ruleRows(store: Store, windowMs: number | null, now = Date.now()): Promise<{ header: RuleCatalogHeader | null; rows: RuleRow[] }> {
  const header = (await store.get("state", RULE_CATALOG_ID)) as RuleCatalogHeader | null;
  const entries = header
    ? ((await searchAll(store, "state", { op: "and", args: [term("kind", RULE_CATALOG_ENTRY_KIND), term("plan_version", String(header.plan_version))] }, 50_000)) as RuleCatalogEntry[])
    : [];
  const range = windowMs === null ? {} : { from: now - windowMs, to: now + 60_000 };
  const hits = await store.terms("signals", { ...range }, "rule.id", 10_000); // the stores' terms limit
  const hitCount = new Map(hits.map((b) => [b.key, b.count]));
  // last hits: one pass over the newest signals, then a direct look-up for the few rules not seen in it
  const last = new Map<string, string>();
  const titles = new Map<string, { title: string; level: string | null }>();
  const recent = await store.search("signals", { ...range, sort: [{ field: "@timestamp", order: "desc" }], size: 5000 });
  for (const s of recent.hits as Signal[]) {
    const id = s.rule?.id;
    if (typeof id !== "string") continue;
    if (!last.has(id)) last.set(id, s["@timestamp"]);
    if (!titles.has(id)) titles.set(id, { title: String(s.rule.title ?? id), level: typeof s.rule.level === "string" ? s.rule.level : null });
  }
  const missing = [...hitCount.keys()].filter((id) => !last.has(id)).slice(0, 200);
  for (const id of missing) {
    const r = await store.search("signals", { ...range, query: term("rule.id", id), sort: [{ field: "@timestamp", order: "desc" }], size: 1 });
    const s = r.hits[0] as Signal | undefined;
    if (s) {
      last.set(id, s["@timestamp"]);
      titles.set(id, { title: String(s.rule?.title ?? id), level: typeof s.rule?.level === "string" ? s.rule.level : null });
    }
  }
  const rows: RuleRow[] = entries.map((e) => ({
    rule_id: e.rule_id,
    title: e.title,
    type: e.type,
    level: e.level ?? null,
    status: e.status ?? null,
    file: e.rule_file ?? null,
    enabled: e.enabled !== false,
    in_catalog: true,
    problems: Array.isArray(e.problems) ? e.problems : [],
    hits: hitCount.get(e.rule_id) ?? 0,
    last_hit: last.get(e.rule_id) ?? null,
  }));
  const known = new Set(rows.map((r) => r.rule_id));
  for (const [id, n] of hitCount) {
    if (known.has(id)) continue;
    const t = titles.get(id);
    rows.push({ rule_id: id, title: t?.title ?? id, type: "unknown", level: t?.level ?? null, status: null, file: null, enabled: false, in_catalog: false, problems: [], hits: n, last_hit: last.get(id) ?? null });
  }
  rows.sort((a, b) => b.hits - a.hits || (a.title < b.title ? -1 : 1));
  return { header, rows };
}

export const ruleRoutes: RouteSpec<ConsoleDeps>[] = [
  {
    method: "GET",
    path: "/api/rules",
    access: "rules:read",
    async handler(c, d) {
      const w = param(c, "window", 8) ?? "7d";
      if (!(w in WINDOWS)) throw new UsageError("bad_request", `window must be one of ${Object.keys(WINDOWS).join(", ")}`, { location: { key: "window" } });
      const { header, rows } = await ruleRows(d.store, WINDOWS[w]);
      return c.json({
        window: w,
        plan: header ? { version: header.plan_version, built: header["@timestamp"], rule_count: header.rule_count, problems: header.problems ?? [], node: header.node ?? null } : null,
        rules: rows,
      });
    },
  },
  {
    method: "GET",
    path: "/api/baselines",
    access: "rules:read",
    async handler(c, d) {
      // the summaries (one small document per baseline), not the histories with every point
      const docs = (await searchAll(d.store, "state", term("kind", BASELINE_SUMMARY_KIND), 5000)) as BaselineSummary[];
      const baselines = docs.map((h) => ({ id: h.history_id, rule_id: h.rule_id, rule_title: h.rule_title ?? null, metric: h.metric, entity: h.entity, interval_ms: h.interval_ms, updated: h["@timestamp"], points: typeof h.point_count === "number" ? h.point_count : 0, last: h.last_point ?? null }));
      // baselines known only from the anomalies they raised (no history published)
      const known = new Set(baselines.map((b) => `${b.rule_id}\u0000${b.entity?.field}=${b.entity?.value}`));
      const recent = await d.store.search("signals", { query: term("signal.type", "anomaly"), sort: [{ field: "@timestamp", order: "desc" }], size: 2000 });
      const fromAnomalies = new Map<string, { rule_id: string; rule_title: string; metric: string; entity: { field: string; value: string }; anomalies: number; last_anomaly: string }>();
      for (const s of recent.hits as Signal[]) {
        const a = s.signal?.anomaly;
        if (!a?.entity) continue;
        const k = `${s.rule.id}\u0000${a.entity.field}=${a.entity.value}`;
        if (known.has(k)) continue;
        const cur = fromAnomalies.get(k);
        if (cur) cur.anomalies++;
        else fromAnomalies.set(k, { rule_id: s.rule.id, rule_title: s.rule.title, metric: a.metric, entity: a.entity, anomalies: 1, last_anomaly: s["@timestamp"] });
      }
      return c.json({ baselines, anomaly_only: [...fromAnomalies.values()] });
    },
  },
  {
    method: "GET",
    path: "/api/baselines/history",
    access: "rules:read",
    async handler(c, d) {
      const rule = param(c, "rule", 256);
      const field = param(c, "field", 256);
      const value = param(c, "value", 1024);
      if (!rule || !field || value === undefined) throw new UsageError("bad_request", "give rule, field and value", { location: { key: "rule" } });
      const now = Date.now();
      const to = timeParam(c, "to", now) ?? now;
      const from = timeParam(c, "from", now) ?? to - 30 * DAY;
      const docs = await d.store.search("state", {
        query: { op: "and", args: [term("kind", BASELINE_HISTORY_KIND), term("rule_id", rule), term("entity.field", field), term("entity.value", value)] },
        size: 1,
        sort: [{ field: "id", order: "asc" }],
      });
      const history = (docs.hits[0] as BaselineHistory | undefined) ?? null;
      const points = history ? history.points.filter((p) => { const t = Date.parse(p.t); return t >= from && t < to; }) : [];
      const sigs = await d.store.search("signals", {
        query: { op: "and", args: [term("signal.type", "anomaly"), term("rule.id", rule), term("signal.anomaly.entity.field", field), term("signal.anomaly.entity.value", value)] },
        from,
        to,
        sort: [{ field: "@timestamp", order: "asc" }],
        size: 5000,
      });
      const anomalies = (sigs.hits as Signal[]).map((s) => {
        const a = s.signal.anomaly!;
        return { id: s.event.id, t: a.interval_start, observed: a.observed, low: a.expected?.low ?? null, high: a.expected?.high ?? null, center: a.expected?.center ?? null, score: a.score, metric: a.metric };
      });
      return c.json({
        rule_id: rule,
        rule_title: history?.rule_title ?? (sigs.hits[0] as Signal | undefined)?.rule?.title ?? rule,
        metric: history?.metric ?? anomalies[0]?.metric ?? null,
        entity: { field, value },
        interval_ms: history?.interval_ms ?? (sigs.hits[0] as Signal | undefined)?.signal?.anomaly?.interval_ms ?? null,
        points,
        anomalies,
        has_history: history !== null,
      });
    },
  },
];
