// The story of a chain: the chain with its steps and links, its entity graph built from the signals,
// and the raw events behind one step (from the events collection).

import { SigilError } from "../../../platform/errors.ts";
import type { Chain, Signal } from "../../../schema/signal.ts";
import type { ConsoleDeps } from "../deps.ts";
import type { RouteSpec } from "../http.ts";
import { pathParam } from "../http.ts";
import { intParam } from "../http.ts";
import { buildEntityGraph } from "../story/graph.ts";
import { checkId } from "./alerts.ts";

const MAX_STEP_EVENTS = 100;

async function loadChain(d: ConsoleDeps, id: string): Promise<Chain> {
  const chain = await d.store.get("chains", checkId(id, "chain"));
  if (!chain) throw new SigilError("chain_not_found", `no chain with id ${id}`, { exitCode: 2, hint: "the chain may have been merged into another; open its alert" });
  return chain as Chain;
}

async function signalsOf(d: ConsoleDeps, chain: Chain): Promise<Map<string, Signal>> {
  const ids = [...new Set((chain.steps ?? []).map((s) => s.signal_id).filter((x): x is string => typeof x === "string"))].slice(0, 1000);
  const out = new Map<string, Signal>();
  for (let i = 0; i < ids.length; i += 500) {
    for (const s of await d.store.getMany("signals", ids.slice(i, i + 500))) {
      const id = (s["event"] as { id?: unknown } | undefined)?.id;
      if (typeof id === "string") out.set(id, s as Signal);
    }
  }
  return out;
}

export const chainRoutes: RouteSpec<ConsoleDeps>[] = [
  {
    method: "GET",
    path: "/api/chains/:id",
    access: "alerts:read",
    async handler(c, d) {
      const chain = await loadChain(d, pathParam(c, "id"));
      const alert = await d.store.get("alerts", chain.id);
      const signals = await signalsOf(d, chain);
      const graph = buildEntityGraph(chain, signals);
      const stepSignals = (chain.steps ?? []).map((s) => {
        const sig = signals.get(s.signal_id);
        return sig ? { type: sig.signal?.type ?? "match", rule: sig.rule, threat: sig.threat ?? null, correlation: sig.signal?.correlation ?? null, anomaly: sig.signal?.anomaly ?? null } : null;
      });
      return c.json({ chain, alert, graph, step_signals: stepSignals });
    },
  },
  {
    method: "GET",
    path: "/api/chains/:id/steps/:step/events",
    access: "alerts:read",
    async handler(c, d) {
      const chain = await loadChain(d, pathParam(c, "id"));
      const n = Number(pathParam(c, "step"));
      if (!Number.isInteger(n) || n < 0 || n >= (chain.steps?.length ?? 0)) {
        throw new SigilError("step_not_found", `chain ${chain.id} has no step ${pathParam(c, "step")}`, { exitCode: 2 });
      }
      const limit = intParam(c, "limit", MAX_STEP_EVENTS, 1, MAX_STEP_EVENTS);
      const refs = (chain.steps[n].events ?? []).slice(0, limit);
      const events = await d.store.getMany("events", refs.map((r) => r.id));
      const found = new Set(events.map((e) => (e["event"] as { id?: string } | undefined)?.id));
      return c.json({ step: n, refs, events, missing: refs.filter((r) => !found.has(r.id)).map((r) => r.id) });
    },
  },
];
