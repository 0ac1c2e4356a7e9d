// The stateful runner on the in-process bus with an in-memory store double: hits survive restarts and
// rebalances exactly once (by id), redelivered messages are skipped, checkpoints carry offsets.
import { describe, expect, it } from "vitest";
import { MemoryBus } from "../../platform/bus/memory.ts";
import type { Collection, Doc, Store } from "../../platform/store/types.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { Signal } from "../../schema/signal.ts";
import type { MatchedRule } from "../pipeline.ts";
import { PartitionCheckpoint } from "./checkpoint.ts";
import { correlationStage } from "./partition.ts";
import { StatefulRunner } from "./runner.ts";
import { LocalCorrelationStage, routedCopies } from "./stage.ts";
import { at, detectionRule, planFromYaml } from "./testing.ts";

/** Just enough of a Store for checkpoints (unit tests only; the integration test uses Elasticsearch). */
class StateStore implements Partial<Store> {
  docs = new Map<string, Doc>();
  puts = 0;
  async get(_c: Collection, id: string) {
    const d = this.docs.get(id);
    return d ? structuredClone(d) : null;
  }
  async getMany(_c: Collection, ids: string[]) {
    return ids.flatMap((id) => (this.docs.has(id) ? [structuredClone(this.docs.get(id)!)] : []));
  }
  async put(_c: Collection, docs: Doc[]) {
    for (const d of docs) this.docs.set(d.id as string, structuredClone(d));
    this.puts++;
    return { created: docs.length, existing: 0 };
  }
  async delete(_c: Collection, ids: string[]) {
    for (const id of ids) this.docs.delete(id);
  }
}

/** A StateStore whose every `nth` write fails (the store unavailable now and then). */
function flakyStore(nth: number): StateStore {
  const store = new StateStore();
  const put = store.put.bind(store);
  let calls = 0;
  store.put = async (c, docs) => {
    if (++calls % nth === 0) throw new Error("store unavailable");
    return put(c, docs);
  };
  return store;
}

const plan = planFromYaml(
  detectionRule("failed_logon", "1") +
    `---
title: Brute force
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [user.name]
  timespan: 5m
  condition: {gte: 3}
level: high
`,
);
const rule: MatchedRule = { id: plan.rules.get([...plan.rules.keys()].find((k) => plan.rules.get(k)!.name === "failed_logon")!)!.id, name: "failed_logon", title: "failed", level: "low", tags: [] };

/** The routing copies of one event's match, as bus messages. */
const copiesOf = (e: EcsEvent) => routedCopies(plan, rule, e).map((s) => ({ key: s.signal.key, value: JSON.stringify(s) }));

function events(n: number, users: number): EcsEvent[] {
  const out: EcsEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      "@timestamp": new Date(at("00:00") + i * 1_000).toISOString(),
      event: { id: `ev${String(i).padStart(6, "0")}`.padEnd(32, "0"), kind: "event", category: ["authentication"], type: ["start"], dataset: "test" },
      user: { name: `u${(i * 7) % users}` },
      host: { name: `h${i % 3}` },
    } as unknown as EcsEvent);
  }
  return out;
}

/** The hits a single in-process engine finds over the same matches (the ground truth). */
function expectedIds(evs: EcsEvent[]): string[] {
  const ids: string[] = [];
  const st = new LocalCorrelationStage(plan, (s) => ids.push(s.event.id), { allowedLatenessMs: 600_000 });
  for (const e of evs) st.match(rule, e, undefined);
  return ids.sort();
}

async function waitFor(cond: () => boolean, ms = 10_000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function observe(bus: MemoryBus) {
  const hits: Signal[] = [];
  const c = await bus.consumer({ groupId: "observer", topics: ["signals"] });
  await c.run(async (b) => {
    for (const m of b.messages) {
      const s = JSON.parse(m.value.toString()) as Signal;
      if (s.signal.type === "correlation") hits.push(s);
    }
  });
  return { hits, close: () => c.close() };
}

const stage = () => correlationStage(plan, { allowedLatenessMs: 600_000, maxGroups: 10_000 });

describe("StatefulRunner", () => {
  it("finds exactly the hits of one engine, across a restart and a rebalance between two members", async () => {
    const bus = new MemoryBus({ partitions: 4 });
    const store = new StateStore() as unknown as Store;
    const producer = await bus.producer();
    const evs = events(300, 13);
    const send = async (from: number, to: number) => {
      const msgs = evs.slice(from, to).flatMap(copiesOf);
      await producer.send("signals", msgs);
    };
    const obs = await observe(bus);
    const opts = { bus, store, stages: [stage()], checkpointIntervalMs: 60_000, maxBatchSize: 7 };
    const a = new StatefulRunner(opts);
    await a.start();
    await send(0, 100);
    await waitFor(() => a.stats.messages >= 100);
    // restart: a new member picks up from checkpoints
    await a.stop();
    const b = new StatefulRunner({ ...opts, stages: [stage()] });
    await b.start();
    await send(100, 200);
    // rebalance: a second member joins mid-stream and takes some partitions
    const c = new StatefulRunner({ ...opts, stages: [stage()] });
    await c.start();
    await send(200, 300);
    const want = expectedIds(evs);
    await waitFor(() => new Set(obs.hits.map((h) => h.event.id)).size >= want.length);
    await new Promise((r) => setTimeout(r, 300));
    await b.stop();
    await c.stop();
    await obs.close();
    const got = obs.hits.map((h) => h.event.id);
    expect(want.length).toBeGreaterThan(50);
    expect([...new Set(got)].sort()).toEqual(want);
    expect(c.stats.messages + b.stats.messages).toBeGreaterThan(0);
  });

  it("skips redelivered messages its checkpoint already covers", async () => {
    const bus = new MemoryBus({ partitions: 1 });
    const store = new StateStore() as unknown as Store;
    const producer = await bus.producer();
    const evs = events(30, 2);
    const msgs = evs.flatMap(copiesOf);
    await producer.send("signals", msgs);
    const a = new StatefulRunner({ bus, store, stages: [stage()], checkpointIntervalMs: 60_000 });
    await a.start();
    await waitFor(() => a.stats.messages >= 30);
    await a.stop();
    // a crash after the checkpoint but before the commit: the same messages come again
    const bus2 = new MemoryBus({ partitions: 1 });
    await (await bus2.producer()).send("signals", msgs);
    const obs = await observe(bus2);
    const b = new StatefulRunner({ bus: bus2, store, stages: [stage()], checkpointIntervalMs: 60_000 });
    await b.start();
    await waitFor(() => b.stats.messages >= 30);
    await new Promise((r) => setTimeout(r, 100));
    await b.stop();
    await obs.close();
    expect(b.stats.skipped).toBe(30);
    expect(obs.hits).toHaveLength(0);
  });
});

describe("chained correlations across partitions", () => {
  // inner: a burst of failures from one address; outer: one user hit by bursts from two addresses.
  // The inner group lives on the address's key, the outer on the user's: inner hits travel on the bus.
  const chained = planFromYaml(
    detectionRule("failed_logon", "1") +
      `---
title: Burst from one address
id: 1e95725d-7320-415d-80f7-004da920fc11
name: burst
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [source.ip]
  timespan: 2m
  condition: {gte: 3}
level: medium
---
title: One user, bursts from two addresses
id: 2e95725d-7320-415d-80f7-004da920fc11
correlation:
  type: value_count
  rules: [burst]
  group-by: [user.name]
  timespan: 1h
  condition: {field: source.ip, gte: 2}
level: high
`,
  );
  const failed: MatchedRule = { ...rule, id: [...chained.rules.values()].find((r) => r.name === "failed_logon")!.id };
  const INNER = "1e95725d-7320-415d-80f7-004da920fc11";
  const OUTER = "2e95725d-7320-415d-80f7-004da920fc11";
  const evs: EcsEvent[] = [];
  for (let i = 0; i < 240; i++)
    evs.push({
      "@timestamp": new Date(at("00:00") + i * 5_000).toISOString(),
      event: { id: `cx${String(i).padStart(3, "0")}`.padEnd(32, "0"), kind: "event", category: ["authentication"], type: ["start"], dataset: "test" },
      // each address attacks one user at a time, switching users every 40 events
      source: { ip: `203.0.113.${i % 4}` },
      user: { name: `u${(Math.floor(i / 40) + (i % 4)) % 3}` },
    } as unknown as EcsEvent);
  const ipOf = (id: string) => `203.0.113.${Number(id.slice(2, 5)) % 4}`;
  const timeOf = (id: string) => at("00:00") + Number(id.slice(2, 5)) * 5_000;

  /** The outer hits of one in-process engine (the ground truth), and how many inner hits it saw. */
  function local() {
    const out: Signal[] = [];
    const st = new LocalCorrelationStage(chained, (s) => out.push(s), { allowedLatenessMs: 600_000 });
    for (const e of evs) st.match(failed, e, undefined);
    st.finish();
    return { outer: out.filter((s) => s.rule.id === OUTER), inner: st.engine.stats.hits - out.filter((s) => s.rule.id === OUTER).length };
  }

  /** The same events as a live stream (in time order, a few at a time) through runners on `partitions`. */
  async function distributed(partitions: number) {
    const bus = new MemoryBus({ partitions });
    const store = new StateStore() as unknown as Store;
    const obs = await observe(bus);
    const runner = new StatefulRunner({ bus, store, stages: [correlationStage(chained, { allowedLatenessMs: 600_000, maxGroups: 10_000 })], checkpointIntervalMs: 60_000, maxBatchSize: 16 });
    await runner.start();
    const producer = await bus.producer();
    let sent = 0;
    for (let from = 0; from < evs.length; from += 20) {
      const msgs = evs.slice(from, from + 20).flatMap((e) => routedCopies(chained, failed, e).map((s) => ({ key: s.signal.key, value: JSON.stringify(s) })));
      sent += msgs.length;
      await producer.send("signals", msgs);
      await waitFor(() => runner.stats.messages >= sent);
    }
    const want = local();
    // every inner hit was forwarded once, and consumed
    await waitFor(() => obs.hits.filter((h) => h.rule.id === INNER && h.signal.route).length >= want.inner && runner.stats.messages >= sent + want.inner);
    await new Promise((r) => setTimeout(r, 100));
    await runner.stop();
    await obs.close();
    return { forwarded: obs.hits.filter((h) => h.rule.id === INNER && h.signal.route), outer: obs.hits.filter((h) => h.rule.id === OUTER && !h.signal.route), want };
  }

  const view = (s: Signal) => [s.event.id, JSON.stringify(s.signal.events.map((e) => e.id).sort())];

  it("an inner hit is forwarded to the outer group's key on the bus: the same outer hits as one engine", async () => {
    // one partition: inner hits reach the outer group in the order one engine makes them
    const { forwarded, outer, want } = await distributed(1);
    expect(want.outer.length).toBeGreaterThan(20);
    expect(forwarded).toHaveLength(want.inner);
    expect(outer.map(view).sort()).toEqual(want.outer.map(view).sort());
  });

  it("across partitions every outer hit is a real one, each inner hit counted at most once", async () => {
    const { forwarded, outer, want } = await distributed(4);
    expect(new Set(forwarded.map((f) => f.event.id)).size).toBe(want.inner);
    expect(outer.length).toBeGreaterThan(want.outer.length / 2);
    const used = new Set<string>();
    for (const h of outer) {
      const ids = h.signal.events.map((e) => e.id);
      const times = ids.map(timeOf);
      expect(new Set(ids.map(ipOf)).size).toBeGreaterThanOrEqual(2);
      expect(Math.max(...times) - Math.min(...times)).toBeLessThanOrEqual(3_600_000 + 120_000);
      for (const id of ids) {
        expect(used.has(id)).toBe(false);
        used.add(id);
      }
    }
    // Outer hits may differ from one engine's: inner hits from different partitions reach the outer
    // group in arrival order, and a hit suppresses older inputs that arrive after it
    // (docs/decisions/0015, firing and suppression).
  });
});

describe("failures", () => {
  it("a batch whose checkpoint fails is redone from the checkpoint, not counted twice", async () => {
    const bus = new MemoryBus({ partitions: 2 });
    const store = flakyStore(4);
    const evs = events(120, 5);
    const obs = await observe(bus);
    await (await bus.producer()).send("signals", evs.flatMap(copiesOf));
    const r = new StatefulRunner({ bus, store: store as unknown as Store, stages: [stage()], checkpointIntervalMs: 60_000, maxBatchSize: 10 });
    await r.start();
    const want = expectedIds(evs);
    await waitFor(() => new Set(obs.hits.map((h) => h.event.id)).size >= want.length && r.stats.messages >= 120, 20_000);
    await new Promise((res) => setTimeout(res, 200));
    await r.stop();
    await obs.close();
    expect(r.stats.failed).toBeGreaterThan(0);
    expect([...new Set(obs.hits.map((h) => h.event.id))].sort()).toEqual(want);
  });
});

describe("copies stored twice", () => {
  it("a routing copy read again at another offset (a producer's resend) counts once: the hits of one engine, none extra", async () => {
    const bus = new MemoryBus({ partitions: 2 });
    // checkpoints fail now and then too: a redelivered batch re-reads the same offsets, which are not duplicates
    const store = flakyStore(5);
    // three failures per user, then the resends: every batch of ten copies goes out again after the next one
    const evs = events(90, 30);
    const copies = evs.map(copiesOf);
    const obs = await observe(bus);
    const producer = await bus.producer();
    const r = new StatefulRunner({ bus, store: store as unknown as Store, stages: [stage()], checkpointIntervalMs: 60_000, maxBatchSize: 4 });
    await r.start();
    for (let i = 0; i < copies.length; i += 10) {
      await producer.send("signals", copies.slice(i, i + 10).flat());
      if (i >= 10) await producer.send("signals", copies.slice(i - 10, i).flat());
    }
    const want = expectedIds(evs);
    await waitFor(() => r.stats.duplicates >= 80 && new Set(obs.hits.map((h) => h.event.id)).size >= want.length, 20_000);
    await new Promise((res) => setTimeout(res, 200));
    await r.stop();
    await obs.close();
    expect(want.length).toBe(30);
    // every resent copy was recognised (a batch redone after a failed checkpoint reads its duplicates again)
    expect(r.stats.duplicates).toBeGreaterThanOrEqual(80);
    expect(r.stats.failed).toBeGreaterThan(0);
    // each user has exactly three failures: a copy counted twice would fire early and differently
    // (a hit published before its checkpoint failed comes again with the same id: readers keep one)
    expect([...new Set(obs.hits.map((h) => h.event.id))].sort()).toEqual(want);
  });
});

describe("copies published again after a crash", () => {
  it("a restarted instance recognises copies its checkpoint covers when detection publishes them again", async () => {
    const bus = new MemoryBus({ partitions: 2 });
    const store = new StateStore() as unknown as Store;
    const producer = await bus.producer();
    // two failures per user before the crash, one after: exactly one hit per user at the third
    const evs = events(90, 30);
    const copies = evs.map(copiesOf);
    const obs = await observe(bus);
    const opts = { bus, store, stages: [stage()], checkpointIntervalMs: 60_000, maxBatchSize: 7 };
    const a = new StatefulRunner(opts);
    await a.start();
    await producer.send("signals", copies.slice(0, 60).flat());
    await waitFor(() => a.stats.messages >= 60);
    await a.stop();
    // detection died before committing its last events: it publishes their copies again, then goes on
    await producer.send("signals", copies.slice(30, 60).flat());
    await producer.send("signals", copies.slice(60).flat());
    const b = new StatefulRunner({ ...opts, stages: [stage()] });
    await b.start();
    const want = expectedIds(evs);
    await waitFor(() => b.stats.messages >= 60 && new Set(obs.hits.map((h) => h.event.id)).size >= want.length, 20_000);
    await new Promise((res) => setTimeout(res, 200));
    await b.stop();
    await obs.close();
    expect(b.stats.duplicates).toBe(30);
    expect(want.length).toBe(30);
    expect([...new Set(obs.hits.map((h) => h.event.id))].sort()).toEqual(want);
  });
});

describe("PartitionCheckpoint", () => {
  it("restores snapshot plus deltas in order, with the last offset, and splits large payloads", async () => {
    const store = new StateStore();
    let now = 0;
    const ck = new PartitionCheckpoint<{ n: number[] }, { add: number }>(store as unknown as Store, "s", 3, { fullIntervalMs: 1_000, now: () => now });
    expect(await ck.load()).toEqual({ full: null, deltas: [], offset: null });
    await ck.saveFull({ n: Array.from({ length: 300_000 }, (_, i) => i) }, "10");
    expect(store.docs.get("s/p3")!.chunks).toBeGreaterThan(1);
    await ck.saveDelta({ add: 1 }, "11");
    await ck.saveDelta({ add: 2 }, "12");
    const again = new PartitionCheckpoint<{ n: number[] }, { add: number }>(store as unknown as Store, "s", 3, { fullIntervalMs: 1_000, now: () => now });
    const l = await again.load();
    expect(l.full!.n).toHaveLength(300_000);
    expect(l.deltas).toEqual([{ add: 1 }, { add: 2 }]);
    expect(l.offset).toBe("12");
    now = 5_000;
    expect(again.wantsFull()).toBe(true);
    await again.saveFull({ n: [1] }, "13");
    expect([...store.docs.keys()].sort()).toEqual(["s/p3"]);
    const third = await new PartitionCheckpoint<{ n: number[] }, { add: number }>(store as unknown as Store, "s", 3, { fullIntervalMs: 1_000 }).load();
    expect(third).toEqual({ full: { n: [1] }, deltas: [], offset: "13" });
  });
});

describe("idle partitions", () => {
  const fewer = planFromYaml(
    detectionRule("heartbeat", "1") +
      `---
title: Too few heartbeats
id: 0e95725d-7320-415d-80f7-004da920fc12
correlation:
  type: event_count
  rules: [heartbeat]
  group-by: [host.name]
  timespan: 1s
  condition: {lt: 3}
level: low
`,
  );
  const hb: MatchedRule = { id: [...fewer.rules.values()].find((r) => r.name === "heartbeat")!.id, name: "heartbeat", title: "heartbeat", level: "low", tags: [] };
  const run = async (eventTime: number) => {
    const bus = new MemoryBus({ partitions: 1 });
    const obs = await observe(bus);
    const e = { "@timestamp": new Date(eventTime).toISOString(), event: { id: "f".repeat(32), kind: "event", dataset: "t" }, host: { name: "web-1" } } as unknown as EcsEvent;
    await (await bus.producer()).send("signals", routedCopies(fewer, hb, e).map((s) => ({ key: s.signal.key, value: JSON.stringify(s) })));
    const r = new StatefulRunner({ bus, store: new StateStore() as unknown as Store, stages: [correlationStage(fewer, { allowedLatenessMs: 0, maxGroups: 100 })], checkpointIntervalMs: 60_000, idleAdvanceMs: 1_000 });
    await r.start();
    await new Promise((res) => setTimeout(res, 3_500));
    await r.stop();
    await obs.close();
    return obs.hits.length;
  };

  it("a live stream's windows close by the wall clock when nothing more arrives", async () => {
    expect(await run(Date.now())).toBe(1);
  });

  it("a backfill (old event times) is never advanced by the wall clock", async () => {
    expect(await run(Date.now() - 86_400_000)).toBe(0);
  });
});

describe("inputs drained one after another", () => {
  // Detection drains a backlog (after a bus outage) one events partition after another: a signals
  // partition gets every copy of input 0, then every copy of input 1, each spanning minutes of event time.
  const T = at("00:00");
  const ev = (i: number, user: string, t: number): EcsEvent =>
    ({
      "@timestamp": new Date(t).toISOString(),
      event: { id: `in${String(i).padStart(6, "0")}`.padEnd(32, "0"), kind: "event", category: ["authentication"], type: ["start"], dataset: "test" },
      user: { name: user },
    }) as unknown as EcsEvent;
  /** The routing copies of events read from events partition `src`. */
  const fromInput = (evs: EcsEvent[], src: number) =>
    evs.flatMap((e) =>
      routedCopies(plan, rule, e).map((s) => {
        s.signal.route!.src = src;
        return { key: s.signal.key, value: JSON.stringify(s) };
      }),
    );
  const lateness = 60_000;
  /** Detection's view: these events partitions are read to their end; `sent` names the last copy published from input 1. */
  const progress = (caught: number[], sent?: string) => async () => ({ caughtUp: new Set(caught), lastSent: (src: number) => (src === 1 ? sent : undefined) });
  // by default detection has caught up with nothing: every input holds the watermark back
  const runner = (bus: MemoryBus, store: Store, extra: Partial<ConstructorParameters<typeof StatefulRunner>[0]> = {}) =>
    new StatefulRunner({ bus, store, stages: [correlationStage(plan, { allowedLatenessMs: lateness, maxGroups: 10_000 })], checkpointIntervalMs: 60_000, maxBatchSize: 5, inputs: 2, progress: progress([]), ...extra });

  it("a backlog drained input by input, minutes apart in event time, loses no hit: the watermark is the slowest input's", async () => {
    const bus = new MemoryBus({ partitions: 1 });
    const store = new StateStore() as unknown as Store;
    const obs = await observe(bus);
    // 200 s of failed logons: even seconds were read from events partition 0, odd ones from partition 1;
    // every user's window needs events of both inputs
    const evs: EcsEvent[] = [];
    for (let i = 0; i < 200; i++) evs.push(ev(i, `u${Math.floor(i / 4)}`, T + i * 1_000));
    const r = runner(bus, store);
    await r.start();
    const producer = await bus.producer();
    await producer.send("signals", fromInput(evs.filter((_, i) => i % 2 === 0), 0));
    await waitFor(() => r.stats.messages >= 100);
    await producer.send("signals", fromInput(evs.filter((_, i) => i % 2 === 1), 1));
    const want = expectedIds(evs);
    expect(want.length).toBeGreaterThan(0);
    await waitFor(() => r.stats.messages >= 200);
    await waitFor(() => obs.hits.length >= want.length).catch(() => undefined);
    await r.stop();
    await obs.close();
    expect(obs.hits.map((h) => h.event.id).sort()).toEqual(want);
  });

  /** Input 0 runs ten minutes ahead; then input 1, quiet since the start, sends three failed logons of one user. */
  const lateInput = [ev(2, "x", T), ev(3, "x", T + 1_000), ev(4, "x", T + 2_000)];
  const quietInput = async (caught: number[], sent?: string) => {
    const bus = new MemoryBus({ partitions: 1 });
    const obs = await observe(bus);
    const r = runner(bus, new StateStore() as unknown as Store, { progress: progress(caught, sent) });
    await r.start();
    const producer = await bus.producer();
    await new Promise((res) => setTimeout(res, 100));
    await producer.send("signals", fromInput([ev(0, "ahead", T + 600_000), ev(1, "ahead", T + 600_500)], 0));
    await waitFor(() => r.stats.messages >= 2);
    await producer.send("signals", fromInput(lateInput, 1));
    await waitFor(() => r.stats.messages >= 5);
    await new Promise((res) => setTimeout(res, 100));
    await r.stop();
    await obs.close();
    return obs.hits.filter((h) => JSON.stringify(h).includes('"x"')).length;
  };

  it("an input detection has not caught up with holds the watermark back: its backlog still counts", async () => {
    expect(await quietInput([0])).toBe(1);
  });

  it("a drained input does not: what it sends minutes behind the others is late", async () => {
    expect(await quietInput([0, 1])).toBe(0);
  });

  it("a caught-up input whose last published copy has not been read yet still holds it back (the copies are on their way)", async () => {
    const last = JSON.parse(fromInput(lateInput, 1).at(-1)!.value) as Signal;
    expect(await quietInput([0, 1], last.event.id)).toBe(1);
  });

  it("a restarted instance resumes with the inputs' progress from its checkpoint", async () => {
    const bus = new MemoryBus({ partitions: 1 });
    const store = new StateStore() as unknown as Store;
    const obs = await observe(bus);
    const producer = await bus.producer();
    const a = runner(bus, store);
    await a.start();
    await producer.send("signals", fromInput([ev(0, "ahead", T + 600_000)], 0));
    await producer.send("signals", fromInput([ev(1, "x", T)], 1));
    await waitFor(() => a.stats.messages >= 2);
    await a.stop();
    const saved = [...(store as unknown as StateStore).docs.values()].map((d) => JSON.stringify(d)).join("\n");
    expect(saved).toContain("inputs");
    // the new instance knows input 1 is ten minutes behind input 0: its next copies are not late
    const b = runner(bus, store);
    await b.start();
    await producer.send("signals", fromInput([ev(2, "x", T + 1_000), ev(3, "x", T + 2_000)], 1));
    await waitFor(() => b.stats.messages >= 2);
    await waitFor(() => obs.hits.length >= 1).catch(() => undefined);
    await b.stop();
    await obs.close();
    expect(obs.hits.filter((h) => JSON.stringify(h).includes('"x"')).length).toBe(1);
  });
});
