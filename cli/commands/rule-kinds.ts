// Rule kinds beyond Sigma detection rules that `sigil detect`, `sigil rules lint` and `sigil rules test`
// run (correlation rules, anomaly baselines). Adding one: export a RuleKind from its part and add one
// loader line here; it registers itself with correlate/sigma/kinds.ts.

import { registerRuleKind, type RuleKind } from "../../correlate/sigma/kinds.ts";

type KindLoader = () => Promise<RuleKind>;

export const RULE_KINDS: KindLoader[] = [
  async () => (await import("../../correlate/correlation/kind.ts")).correlationKind,
  async () => (await import("../../correlate/baselines/kind.ts")).anomalyKind,
];

let loaded = false;

/** Registers every listed rule kind once. */
export async function loadRuleKinds(): Promise<void> {
  if (loaded) return;
  loaded = true;
  for (const load of RULE_KINDS) registerRuleKind(await load());
}
