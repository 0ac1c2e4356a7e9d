// Extension points for rule kinds the detection engine loads but does not evaluate (Sigma correlation
// rules, anomaly baselines): `sigil rules lint`, `sigil rules test` and `sigil detect` call every
// registered kind, so the correlation engine plugs in without changing those commands.

import type { Problem } from "../../platform/errors.ts";
import type { SigilConfig } from "../../platform/config/schema.ts";
import type { Compiled, SigmaMatch } from "./engine.ts";
import type { SampleNormalizer } from "./rule-tests.ts";
import type { LoadedRules } from "./types.ts";

/** One run of `sigil detect`, as a rule kind sees it. */
export interface DetectRun {
  compiled: Compiled;
  /** Writes one output object (one JSON line on stdout), e.g. a correlation hit. */
  emit(obj: Record<string, unknown>): void;
  /** The effective config (correlate.allowed_lateness_ms, max_groups ...). */
  config?: SigilConfig;
}

/** What `sigil rules test` hands a rule kind's test besides the compiled rules. */
export interface RuleTestContext {
  /** Turns a sample (JSON object or raw line with its format) into normalized events, as ingest would. */
  normalize?: SampleNormalizer;
}

export interface DetectProcessor {
  /** Every event in input order, after its rule matches were reported through onMatch. */
  onEvent?(event: Record<string, unknown>, line: number): void;
  onMatch?(m: SigmaMatch): void;
  /** End of input: flush what is pending (e.g. `lt` correlations decided at window end). */
  finish?(): void;
  /** Lines for the stderr summary, e.g. "correlations: 3 fired". */
  summary?(): string[];
}

export interface RuleTestResult {
  name: string;
  file: string;
  ok: boolean;
  message?: string;
}

export interface RuleKind {
  /** Kind name, e.g. "correlation". */
  name: string;
  /** Lint: problems of this kind's documents, checked against the loaded detection rules (references...). */
  lint?(loaded: LoadedRules): Problem[];
  /** Detect: a processor for one run. */
  detect?(run: DetectRun): DetectProcessor;
  /** Test: run the samples of this kind's documents. */
  test?(compiled: Compiled, ctx?: RuleTestContext): Promise<RuleTestResult[]> | RuleTestResult[];
}

const kinds: RuleKind[] = [];

/** Registers a rule kind (idempotent by name; a second registration replaces the first). */
export function registerRuleKind(k: RuleKind): void {
  const i = kinds.findIndex((x) => x.name === k.name);
  if (i >= 0) kinds[i] = k;
  else kinds.push(k);
}

export function ruleKinds(): readonly RuleKind[] {
  return kinds;
}
