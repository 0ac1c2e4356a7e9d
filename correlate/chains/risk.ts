// Chain risk in the spirit of risk-based alerting: each distinct rule adds its severity times its
// confidence; breadth (tactics, techniques, hosts, sources) multiplies; the sum saturates at 100.
// One low signal stays quiet; several tactics on one entity escalate. See docs/chains.md.

import { LEVEL_RISK, type Level } from "../../schema/signal.ts";

export interface RiskOptions {
  /** Risk sum at which the score reaches 63 (1 - 1/e); larger means harder to escalate. */
  scale: number;
  /** Added to the multiplier for every distinct tactic after the first. */
  perTactic: number;
  /** Added for every distinct technique beyond the number of tactics (capped by maxTechniqueBonus). */
  perTechnique: number;
  maxTechniqueBonus: number;
  /** Added for every distinct host after the first, and for every distinct source (dataset) after the first. */
  perHost: number;
  perSource: number;
  maxSpreadBonus: number;
}

export const DEFAULT_RISK_OPTIONS: RiskOptions = {
  scale: 120,
  perTactic: 0.3,
  perTechnique: 0.05,
  maxTechniqueBonus: 0.5,
  perHost: 0.15,
  perSource: 0.1,
  maxSpreadBonus: 0.6,
};

/** Confidence of a rule from its Sigma status (and hunting rules, which are meant to be noisy). */
export function ruleConfidence(status: string | undefined, tags: readonly string[] | undefined): number {
  if (tags?.some((t) => t === "detection.threat-hunting")) return 0.5;
  switch (status) {
    case "stable":
      return 1;
    case "test":
      return 0.85;
    case "experimental":
      return 0.7;
    case "deprecated":
    case "unsupported":
      return 0.4;
    default:
      return 0.85;
  }
}

/** What one step contributes to the risk. */
export interface RiskInput {
  ruleId: string;
  level: Level;
  /** The signal's own risk score (event.risk_score) when it differs from the level's default. */
  riskScore?: number;
  confidence: number;
  /** Anomaly score over its threshold (>= 1), scales the anomaly's risk up to 1.5x. */
  anomalyFactor?: number;
  count: number;
}

export interface RiskBreakdown {
  score: number;
  sum: number;
  multiplier: number;
  tactics: number;
  techniques: number;
  hosts: number;
  sources: number;
}

/** The chain score (0..100) and how it was reached. */
export function chainRisk(
  steps: readonly RiskInput[],
  breadth: { tactics: number; techniques: number; hosts: number; sources: number },
  opts: RiskOptions = DEFAULT_RISK_OPTIONS,
): RiskBreakdown {
  // one contribution per rule: its strongest step, plus a little for repeats
  const perRule = new Map<string, { risk: number; count: number }>();
  for (const s of steps) {
    const base = (s.riskScore ?? LEVEL_RISK[s.level] ?? 47) * s.confidence * Math.min(1.5, s.anomalyFactor ?? 1);
    const prev = perRule.get(s.ruleId);
    if (!prev) perRule.set(s.ruleId, { risk: base, count: s.count });
    else perRule.set(s.ruleId, { risk: Math.max(prev.risk, base), count: prev.count + s.count });
  }
  let sum = 0;
  for (const { risk, count } of perRule.values()) sum += risk * (1 + 0.1 * Math.log(Math.max(1, count)));
  const t = Math.max(1, breadth.tactics);
  const tech = Math.min(opts.maxTechniqueBonus, opts.perTechnique * Math.max(0, breadth.techniques - t));
  const spread = Math.min(opts.maxSpreadBonus, opts.perHost * Math.max(0, breadth.hosts - 1) + opts.perSource * Math.max(0, breadth.sources - 1));
  const multiplier = 1 + opts.perTactic * (t - 1) + tech + spread;
  const score = Math.round(100 * (1 - Math.exp((-sum * multiplier) / opts.scale)));
  return { score, sum: Math.round(sum * 10) / 10, multiplier: Math.round(multiplier * 100) / 100, ...breadth };
}

/** Sigma level for a 0..100 score (for the alert's level). */
export function levelForScore(score: number): Level {
  if (score >= 90) return "critical";
  if (score >= 70) return "high";
  if (score >= 47) return "medium";
  if (score >= 21) return "low";
  return "informational";
}
