// The rule catalog: what the correlate role has loaded (every detection, correlation and anomaly rule,
// with its lint problems) and which plan version runs, written to the store's `state` collection so
// the console can show it without reaching into correlate. One header document plus one per rule.

import type { JsonObject } from "./ecs.ts";

/** `state` id of the catalog header. */
export const RULE_CATALOG_ID = "rule-catalog";
/** `kind` of the per-rule documents; their id is `rule-catalog:<rule id>`. */
export const RULE_CATALOG_ENTRY_KIND = "rule_catalog_entry";

export function ruleCatalogEntryId(ruleId: string): string {
  return `rule-catalog:${ruleId}`;
}

/** A lint problem as stored (errors.ts Problem, flattened). */
export interface CatalogProblem extends JsonObject {
  code: string;
  message: string;
  severity: "error" | "warning";
  file?: string;
  line?: number;
  column?: number;
}

export interface RuleCatalogHeader extends JsonObject {
  id: typeof RULE_CATALOG_ID;
  kind: "rule_catalog";
  "@timestamp": string; // when the plan was built
  /** Changes whenever the rule set changes; the per-rule documents carry the version they belong to. */
  plan_version: string;
  rule_count: number;
  /** Problems not tied to one loaded rule (unreadable files, rules that failed to load). */
  problems: CatalogProblem[];
  node?: string;
}

export interface RuleCatalogEntry extends JsonObject {
  id: string; // ruleCatalogEntryId(rule id)
  kind: typeof RULE_CATALOG_ENTRY_KIND;
  "@timestamp": string;
  plan_version: string;
  rule_id: string;
  title: string;
  /** detection (Sigma), correlation (Sigma correlation) or anomaly (baseline). */
  type: "detection" | "correlation" | "anomaly";
  level?: string;
  status?: string;
  /** The rule's file (not `file`: the store maps that ECS name as an object). */
  rule_file?: string;
  tags?: string[];
  author?: string;
  /** false when the rule loaded but is not in the running plan (e.g. disabled, deprecated, failed to compile). */
  enabled: boolean;
  problems: CatalogProblem[];
}

/** One loaded rule as the writer describes it (what `catalogDocs` needs). */
export interface CatalogRuleInput {
  id: string;
  title: string;
  type: RuleCatalogEntry["type"];
  level?: string;
  status?: string;
  file?: string;
  tags?: string[];
  author?: string;
  enabled: boolean;
  problems?: CatalogProblem[];
}

/**
 * The `state` documents for a rule set: the header and one entry per rule, all stamped with the plan
 * version. The correlate role writes them with `store.put("state", docs)` whenever it builds a plan;
 * readers take the entries whose plan_version equals the header's, so stale entries never show.
 */
export function catalogDocs(opts: { planVersion: string; builtAt: Date; node?: string; rules: CatalogRuleInput[]; problems?: CatalogProblem[] }): [RuleCatalogHeader, ...RuleCatalogEntry[]] {
  const at = opts.builtAt.toISOString();
  const header: RuleCatalogHeader = { id: RULE_CATALOG_ID, kind: "rule_catalog", "@timestamp": at, plan_version: opts.planVersion, rule_count: opts.rules.length, problems: opts.problems ?? [] };
  if (opts.node) header.node = opts.node;
  const entries = opts.rules.map((r): RuleCatalogEntry => {
    const e: RuleCatalogEntry = { id: ruleCatalogEntryId(r.id), kind: RULE_CATALOG_ENTRY_KIND, "@timestamp": at, plan_version: opts.planVersion, rule_id: r.id, title: r.title, type: r.type, enabled: r.enabled, problems: r.problems ?? [] };
    if (r.level !== undefined) e.level = r.level;
    if (r.status !== undefined) e.status = r.status;
    if (r.file !== undefined) e.rule_file = r.file;
    if (r.tags !== undefined) e.tags = r.tags;
    if (r.author !== undefined) e.author = r.author;
    return e;
  });
  return [header, ...entries];
}
