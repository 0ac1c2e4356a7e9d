// Chain-builder options from the typed config section correlate.chains (docs/chains.md explains each).
import type { CorrelateConfig } from "../../platform/config/schema.ts";
import type { ChainOptions } from "./builder.ts";

export function chainOptionsFrom(cfg: CorrelateConfig): Partial<ChainOptions> {
  const c = cfg.chains;
  return {
    windowMs: c.window_ms,
    alertThreshold: c.alert_threshold,
    suppressWindowMs: c.suppress_window_ms,
    maxChains: c.max_chains,
    linkThreshold: c.link_threshold,
    maxStepsPerChain: c.max_steps_per_chain,
  };
}
