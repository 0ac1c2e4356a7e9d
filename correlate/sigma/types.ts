// The Sigma rule model after loading: rule metadata, the detection as an intermediate representation
// (field names still in Sigma's vocabulary, values already parsed and expanded), and other documents.

import type { Location, Problem } from "../../platform/errors.ts";
import type { CondNode } from "./condition.ts";
import type { CompiledRegex } from "./regex.ts";
import type { Network } from "./cidr.ts";
import type { SigmaString } from "./sigma-string.ts";

export interface Logsource {
  category?: string;
  product?: string;
  service?: string;
}

export type TimePart = "minute" | "hour" | "day" | "week" | "month" | "year";
export type CmpOp = "gt" | "gte" | "lt" | "lte" | "eq";

/** One value of a field entry after modifiers; alternatives inside `str` are OR-ed. */
export type ValueIR =
  | { k: "null" }
  | { k: "exists"; want: boolean }
  | { k: "str"; alts: SigmaString[]; cased: boolean; /** plain rule value, for pipeline value maps */ plain?: string }
  | { k: "num"; n: number; text: string }
  | { k: "bool"; b: boolean }
  | { k: "re"; re: CompiledRegex }
  | { k: "cidr"; net: Network }
  | { k: "cmp"; op: CmpOp; n: number; part?: TimePart }
  | { k: "fieldref"; field: string; shape: "eq" | "contains" | "prefix" | "suffix"; cased: boolean };

/** `field|modifiers: values`; field null for keyword searches. */
export interface EntryIR {
  field: string | null;
  modifiers: string[];
  values: ValueIR[];
  /** true: every value must match (`all`); false: any. */
  all: boolean;
  /** `neq`: the whole entry is negated. */
  negate: boolean;
  loc: Location;
}

export type DetectionIR = { t: "map"; entries: EntryIR[] } | { t: "anyOf"; items: DetectionIR[] };

/** What alerts carry about a rule (author stays attached: DRL 1.1). */
export interface RuleMeta {
  id: string;
  name?: string;
  title: string;
  level: string;
  status?: string;
  tags: string[];
  author?: string;
  description?: string;
  references?: string[];
  falsepositives?: string[];
  date?: string;
  modified?: string;
}

export interface DetectionRule {
  kind: "detection";
  meta: RuleMeta;
  logsource: Logsource;
  identifiers: Map<string, DetectionIR>;
  /** One or more conditions (a YAML list condition): the rule matches when any does. */
  conditions: CondNode[];
  /** Placeholders without configured values: the rule loads but stays inactive. */
  inactiveReason?: string;
  file: string;
  line: number;
  /** Raw `detection` as plain JS, for tools. */
  raw: Record<string, unknown>;
}

/** A Sigma correlation document, kept as data for the correlation engine (correlate/correlation/). */
export interface CorrelationDoc {
  kind: "correlation";
  id?: string;
  name?: string;
  title?: string;
  /** The whole document as plain JS. */
  doc: Record<string, unknown>;
  file: string;
  line: number;
  /** Line of each top-level key and of each key under `correlation`, for precise errors. */
  keyLines: Record<string, number>;
}

/** A meta filter document (SIGMA.md 8), applied to the rules it targets at compile time. */
export interface FilterDoc {
  kind: "filter";
  id?: string;
  name?: string;
  title: string;
  logsource: Logsource;
  rules: string[] | "any";
  identifiers: Map<string, DetectionIR>;
  condition: CondNode;
  file: string;
  line: number;
}

/** Any other document kind (anomaly baselines, future kinds): kept for registered handlers. */
export interface OtherDoc {
  kind: "other";
  docKind: string;
  doc: Record<string, unknown>;
  file: string;
  line: number;
}

export type RuleDocument = DetectionRule | CorrelationDoc | FilterDoc | OtherDoc;

export interface LoadedRules {
  rules: DetectionRule[];
  correlations: CorrelationDoc[];
  filters: FilterDoc[];
  others: OtherDoc[];
  /** Every error and warning, with file/line/column and a stable code. */
  problems: Problem[];
  /** Files read (rule files only, not sample files). */
  files: string[];
  /** Files that had at least one error. */
  failedFiles: Set<string>;
}

export interface LoadOptions {
  /** Values for `expand` placeholders (config correlate.placeholders). */
  placeholders?: Record<string, string[]>;
  /** Size limits; defaults in limits.ts. */
  limits?: Partial<Limits>;
}

export interface Limits {
  maxValuesPerField: number;
  maxValueLength: number;
  maxWildcardsPerValue: number;
  maxAlternatives: number;
  maxIdentifiers: number;
  maxEntriesPerMap: number;
  maxRegexLength: number;
  maxFileBytes: number;
}
