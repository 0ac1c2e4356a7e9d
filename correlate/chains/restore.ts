// Rebuilds the chain builder's state from the store when an instance takes over chain building (at
// start, or when the exclusive `sigil-chains` group hands it the signals partitions after another
// instance failed): stored chains come back with their ids and steps, then the stored signals of the
// window replay in event time so candidates below the alert threshold are not forgotten either.

import type { Store } from "../../platform/store/types.ts";
import type { Alert, Chain, Signal } from "../../schema/signal.ts";
import type { ChainBuilder } from "./builder.ts";
import { chainDigest } from "./alerts.ts";

export interface RestoreOptions {
  /** correlate.chains.window_ms: what is older than the newest signal by more than this cannot link any more. */
  windowMs: number;
  /** Stored chains read at most (newest first). */
  maxChains?: number;
  /** Stored signals replayed at most (oldest first inside the window). */
  maxSignals?: number;
}

export interface RestoreResult {
  /** Chains rebuilt from their stored documents. */
  chains: number;
  /** Stored signals replayed into the builder (not already part of a restored chain). */
  replayed: number;
  /** Event time of the newest stored signal (epoch ms; NaN when there is none): the builder's watermark. */
  newest: number;
  /**
   * Chains to write before handling new signals (idempotent): restored chains whose alert is missing
   * or behind (the previous holder stopped between writing a chain and its alert), and candidates the
   * replay took over the alert threshold (signals the previous holder never saw: their redelivery is a
   * duplicate to this builder and would write nothing).
   */
  write: Set<string>;
}

const PAGE = 1_000;

/** Restores `builder` (expected empty) from the store's chains and signals. */
export async function restoreChainState(store: Store, builder: ChainBuilder, o: RestoreOptions): Promise<RestoreResult> {
  const maxChains = o.maxChains ?? 10_000;
  const maxSignals = o.maxSignals ?? 200_000;
  const result: RestoreResult = { chains: 0, replayed: 0, newest: NaN, write: new Set() };
  // what the previous owner acknowledged must be visible to search (Elasticsearch refreshes lazily)
  await store.refresh("signals");
  await store.refresh("chains");
  const last = await store.search("signals", { sort: [{ field: "@timestamp", order: "desc" }], size: 1 });
  const newest = last.hits.length ? Date.parse(String(last.hits[0]["@timestamp"])) : NaN;
  if (!Number.isFinite(newest)) return result;
  result.newest = newest;
  const from = newest - o.windowMs;

  // 1. stored chains, with the steps they had (ids kept: the alert of a chain is updated, never duplicated)
  const stored: Chain[] = [];
  for (let after: string | undefined; stored.length < maxChains; ) {
    const page = await store.search("chains", { from, sort: [{ field: "@timestamp", order: "desc" }], size: Math.min(PAGE, maxChains - stored.length), after });
    for (const d of page.hits as Chain[]) if (d["merged_into"] === undefined || d["merged_into"] === null) stored.push(d);
    if (!page.next || page.hits.length === 0) break;
    after = page.next;
  }
  const storedSteps = new Map<string, number>();
  for (let i = 0; i < stored.length; i += 200) {
    const slice = stored.slice(i, i + 200);
    const ids = slice.flatMap((c) => c.steps.map((s) => s.signal_id));
    const signals = (await store.getMany("signals", ids)) as Signal[];
    for (const c of slice) {
      if (builder.restore(c, signals)) {
        result.chains++;
        storedSteps.set(c.id, c.steps.length);
      }
    }
  }

  // 2. every other stored signal of the window, in event time: the candidates below the alert
  // threshold come back (they were only in the previous holder's memory). Signals linking to a
  // restored chain are left out (builder.add with replay).
  for (let after: string | undefined, seen = 0; seen < maxSignals; ) {
    const page = await store.search("signals", { from, sort: [{ field: "@timestamp", order: "asc" }], size: Math.min(PAGE, maxSignals - seen), after });
    for (const s of page.hits as Signal[]) {
      seen++;
      if (!s.event || typeof s.event.id !== "string" || !s.rule || !s.signal || s.signal.route) continue;
      const r = builder.add(s, { replay: true });
      if (r.duplicate) continue;
      result.replayed++;
      if (r.promoted) result.write.add(r.chainId);
      for (const m of r.merged) result.write.delete(m);
    }
    if (!page.next || page.hits.length === 0) break;
    after = page.next;
  }

  // 3. restored chains whose alert is missing or shows other content (never one that lost steps
  // because a signal could not be read back: the stored alert stays as it is then)
  const restoredIds = [...storedSteps.keys()].filter((id) => builder.isPromoted(id));
  for (let i = 0; i < restoredIds.length; i += PAGE) {
    const ids = restoredIds.slice(i, i + PAGE);
    const alerts = new Map(((await store.getMany("alerts", ids)) as Alert[]).map((a) => [a.id, a]));
    for (const id of ids) {
      const c = builder.chain(id);
      if (!c) continue;
      const alert = alerts.get(id);
      if (!alert || (alert["chain_digest"] !== chainDigest(c) && c.steps.length >= (storedSteps.get(id) ?? 0))) result.write.add(id);
    }
  }
  return result;
}
