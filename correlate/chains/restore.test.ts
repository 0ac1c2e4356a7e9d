// Restoring the chain builder from the store on take-over: stored chains keep their ids and counts,
// candidates below the threshold come back from the stored signals, signals already counted into a
// step are not counted again, and chains whose alert is missing are written.
import { describe, expect, it } from "vitest";
import { EmbeddedStore } from "../../platform/store/embedded.ts";
import { LEVEL_RISK, type Level, type Signal } from "../../schema/signal.ts";
import { alertForChain } from "./alerts.ts";
import { ChainBuilder } from "./builder.ts";
import { EntityModel } from "./model.ts";
import { restoreChainState } from "./restore.ts";

const T = (m: number) => new Date(Date.UTC(2026, 0, 1, 10, m)).toISOString();
function sig(id: string, at: string, rule: string, level: Level, tactic: string, trace: string): Signal {
  return {
    "@timestamp": at,
    event: { id, kind: "signal", dataset: "sigil.signal", severity: 3, risk_score: LEVEL_RISK[level] },
    rule: { id: rule, title: `rule ${rule}`, level, tags: [`attack.${tactic}`], status: "stable" },
    signal: { type: "match", key: "k", events: [{ id: `ev-${id}`, "@timestamp": at, dataset: "test" }] },
    trace: { id: trace },
  } as Signal;
}

const s1 = sig("s1", T(0), "r1", "medium", "discovery", "aaaa0000aaaa0000");
const s2 = sig("s2", T(1), "r2", "medium", "exfiltration", "aaaa0000aaaa0000");
const s3 = sig("s3", T(2), "r1", "medium", "discovery", "aaaa0000aaaa0000"); // counted into s1's step
const s4 = sig("s4", T(3), "r1", "medium", "discovery", "bbbb0000bbbb0000"); // a candidate on its own
const s5 = sig("s5", T(4), "r2", "medium", "exfiltration", "bbbb0000bbbb0000");

/** What the previous holder left in the store: every signal, the promoted chain, and (optionally) its alert. */
async function previousHolder(withAlert: boolean) {
  const live = new ChainBuilder(new EntityModel());
  for (const s of [s1, s2, s3, s4]) live.add(s);
  const [chain] = live.chains();
  const store = new EmbeddedStore({ file: ":memory:" });
  await store.init();
  await store.put("signals", [s1, s2, s3, s4]);
  await store.put("chains", [chain]);
  if (withAlert) await store.put("alerts", [alertForChain(chain, null, T(5))!.alert]);
  return { live, chain, store };
}

describe("restoreChainState", () => {
  it("brings back promoted chains with their counts and candidates from the stored signals", async () => {
    const { live, chain, store } = await previousHolder(true);
    const b = new ChainBuilder(new EntityModel());
    const r = await restoreChainState(store, b, { windowMs: 4 * 3_600_000 });
    expect(r).toMatchObject({ chains: 1, replayed: 1, newest: Date.parse(T(3)) });
    expect(r.write.size).toBe(0); // the stored alert already shows this chain
    const restored = b.chain(chain.id)!;
    expect(restored.steps.map((s) => [s.signal_id, s["count"]])).toEqual(chain.steps.map((s) => [s.signal_id, s["count"]]));
    expect(chain.steps[0]["count"]).toBe(2);
    // the candidate is back: the next signal completes it exactly as it would have on the old holder
    const want = live.add(s5);
    const got = b.add(s5);
    expect(got.chainId).toBe(want.chainId);
    expect(got.promotedNow).toBe(true);
    expect(b.chain(got.chainId)!.steps.map((s) => s.signal_id)).toEqual(["s4", "s5"]);
    await store.close();
  });

  it("asks for the chains whose alert the previous holder did not write", async () => {
    const { chain, store } = await previousHolder(false);
    const b = new ChainBuilder(new EntityModel());
    const r = await restoreChainState(store, b, { windowMs: 4 * 3_600_000 });
    expect([...r.write]).toEqual([chain.id]);
    await store.close();
  });

  it("writes a candidate that stored signals the previous holder never saw take over the threshold", async () => {
    const { store } = await previousHolder(true);
    await store.put("signals", [s5]); // stored by the events stage; the old holder died before reading it
    const b = new ChainBuilder(new EntityModel());
    const r = await restoreChainState(store, b, { windowMs: 4 * 3_600_000 });
    const want = new ChainBuilder(new EntityModel());
    want.add(s4);
    const id = want.add(s5).chainId;
    expect(r.replayed).toBe(2);
    expect([...r.write]).toEqual([id]);
    // when the bus delivers s5 it is a duplicate: the write above is the only one
    expect(b.add(s5).duplicate).toBe(true);
    await store.close();
  });

  it("restores nothing from an empty store, and nothing outside the window", async () => {
    const empty = new EmbeddedStore({ file: ":memory:" });
    await empty.init();
    const r = await restoreChainState(empty, new ChainBuilder(new EntityModel()), { windowMs: 60_000 });
    expect(r.chains + r.replayed).toBe(0);
    await empty.close();
    const { store } = await previousHolder(true);
    await store.put("signals", [sig("late", T(300), "r9", "low", "discovery", "cccc0000cccc0000")]);
    const b = new ChainBuilder(new EntityModel());
    const w = await restoreChainState(store, b, { windowMs: 60 * 60_000 });
    expect(w).toMatchObject({ chains: 0, replayed: 1 });
    expect(b.size).toBe(1);
    await store.close();
  });
});
