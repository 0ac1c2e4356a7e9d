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
  file?: string;
  tags?: string[];
  author?: string;
  /** false when the rule loaded but is not in the running plan (e.g. disabled, deprecated, failed to compile). */
  enabled: boolean;
  problems: CatalogProblem[];
}
