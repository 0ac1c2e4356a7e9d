// The correlate role on the in-process bus and an in-memory store (as `sigil start` runs it): events
// become stored events and signals, a changed rule directory is compiled and swapped in without a
// restart, and a rule that does not compile leaves the running plan in place.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../platform/config/load.ts";
import { MemoryBus } from "../platform/bus/memory.ts";
import { EmbeddedStore } from "../platform/store/embedded.ts";
import { logger } from "../platform/telemetry/log.ts";
import type { EcsEvent } from "../schema/ecs.ts";
import type { Alert } from "../schema/signal.ts";
import type { Collection, Doc, PutResult, UpdateManyOptions } from "../platform/store/types.ts";
import { decodeAlertsMessage } from "../platform/alerts/messages.ts";
import { correlateRole } from "./service.ts";
import { TEST_ROUTE_PIPELINE, testRule } from "./test-pipeline.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-correlate-role-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const rule = (id: string, word: string) => testRule(id, word);
const pipeline = TEST_ROUTE_PIPELINE;
let n = 0;
const event = (message: string): EcsEvent =>
  ({ "@timestamp": new Date(Date.UTC(2026, 0, 15, 10, 0, n)).toISOString(), event: { id: `${(++n).toString(16).padStart(32, "0")}`, kind: "event", dataset: "test.events" }, host: { name: "h1" }, message }) as EcsEvent;

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The correlate role as `sigil start` runs it, on a fresh in-process bus over `store`, with `rules`
 * (file name → text) in a rule folder of its own; `stop()` stops the role and closes the bus and store.
 */
async function startCorrelate<S extends EmbeddedStore>(name: string, rules: Record<string, string>, store: S, opts: { watchRules?: boolean } = {}) {
  const rulesDir = path.join(dir, `rules-${name}`);
  fs.mkdirSync(rulesDir);
  for (const [file, text] of Object.entries(rules)) fs.writeFileSync(path.join(rulesDir, file), text);
  const pipe = path.join(dir, `test-route-${name}.yml`);
  fs.writeFileSync(pipe, pipeline);
  const config = loadConfig({ env: {} });
  config.correlate.pipelines = ["ecs-windows", pipe];
  if (opts.watchRules !== undefined) config.correlate.watch_rules = opts.watchRules;
  const bus = new MemoryBus({ partitions: 2 });
  const role = correlateRole({ config, bus, store, log: logger("test", { level: "silent" }), rules: [rulesDir], cwd: dir });
  await role.lifecycle.start();
  const stop = async () => {
    await role.lifecycle.stop();
    await bus.close();
    await store.close();
  };
  return { role, bus, store, rulesDir, stop };
}

describe("correlate role (in-process)", () => {
  it("detects, stores, and swaps in a changed rule set without a restart", async () => {
    const { role, bus, store, rulesDir: rules, stop } = await startCorrelate("swap", { "execution_alpha.yml": rule("11111111-1111-4111-8111-111111111111", "alpha") }, new EmbeddedStore({ file: ":memory:" }));
    try {
      const producer = await bus.producer();
      await producer.send("events", [event("alpha one"), event("beta one")].map((e) => ({ key: "h1", value: JSON.stringify(e) })));
      await until("two events stored", async () => (await store.count("events", {})) === 2);
      await until("one signal", async () => (await store.count("signals", {})) === 1);

      fs.writeFileSync(path.join(rules, "execution_beta.yml"), rule("22222222-2222-4222-8222-222222222222", "beta"));
      await until("the new plan", () => role.stats.planSwaps >= 1);
      fs.writeFileSync(path.join(rules, "execution_broken.yml"), "title: broken\nid: nope\ndetection: {condition: missing}\n");
      const swaps = role.stats.planSwaps;
      await new Promise((r) => setTimeout(r, 1500));
      expect(role.stats.planSwaps).toBe(swaps); // the broken rule kept the running plan

      await producer.send("events", [event("beta two")].map((e) => ({ key: "h1", value: JSON.stringify(e) })));
      await until("the beta signal", async () => (await store.count("signals", {})) === 2);
      const sigs = await store.search("signals", { size: 10 });
      expect(sigs.hits.map((s) => (s["rule"] as { id: string }).id).sort()).toEqual(["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]);

      // a malformed message is dead-lettered with its reason, not dropped
      await producer.send("events", [{ key: "h1", value: "{not json" }]);
      await until("the malformed message counted", () => role.stats.malformed === 1);
    } finally {
      await stop();
    }
  });
});

/**
 * The embedded store with an `updateMany` that behaves as Elasticsearch's does: one read, `beforeWrite`
 * while the writes are in flight, a document changed meanwhile computed again from what is stored.
 * `meanwhile` runs between the read and the write (an analyst's triage in the console).
 */
class RacingStore extends EmbeddedStore {
  meanwhile: ((collection: Collection, ids: string[]) => Promise<void>) | null = null;
  creates = 0;
  async updateMany(collection: Collection, ids: string[], fn: (id: string, current: Doc | null) => Doc | null, opts: UpdateManyOptions = {}): Promise<(Doc | null)[]> {
    const read = await Promise.all(ids.map((id) => (opts.absent?.(id) ? Promise.resolve(null) : this.get(collection, id))));
    const next = ids.map((id, i) => fn(id, read[i] === null ? null : structuredClone(read[i])));
    opts.beforeWrite?.();
    await this.meanwhile?.(collection, ids);
    return Promise.all(
      ids.map((id, i) => {
        if (read[i] === null && next[i] !== null) this.creates++;
        return this.update(collection, id, (cur) => {
          const same = (cur === null && read[i] === null) || (cur !== null && read[i] !== null && cur["version"] === read[i]!["version"]);
          return same ? (next[i] === null ? null : { ...next[i]!, version: (read[i]?.["version"] as number | undefined) ?? 0 }) : fn(id, cur);
        });
      }),
    );
  }
}

describe("correlate role: the alert path", () => {
  it("publishes a new alert before it is stored, and an alert triaged meanwhile again as stored", async () => {
    const gamma = rule("33333333-3333-4333-8333-333333333333", "gamma").replace("level: high", "level: critical");
    const { bus, store, stop } = await startCorrelate("alert-path", { "execution_gamma.yml": gamma }, new RacingStore({ file: ":memory:" }), { watchRules: false });
    const seen: Alert[] = [];
    const watcher = await bus.consumer({ groupId: "test-alerts", topics: ["alerts"] });
    await watcher.run(async (b) => {
      for (const m of b.messages) {
        const d = decodeAlertsMessage(m.value);
        if (d?.kind === "alert") seen.push(d.alert);
      }
    });
    try {
      const producer = await bus.producer();
      await producer.send("events", [event("gamma one")].map((e) => ({ key: "h1", value: JSON.stringify(e) })));
      await until("the first alert", () => seen.length === 1);
      const first = seen[0];
      expect(first).toMatchObject({ status: "new", version: 1 });
      // a new chain's alert is created without a read
      expect(store.creates).toBe(1);
      expect(await store.get("alerts", first.id)).toMatchObject({ version: 1 });

      // the chain grows while an analyst acknowledges its alert between the builder's read and write
      store.meanwhile = async (collection, ids) => {
        store.meanwhile = null;
        if (collection !== "alerts") return;
        await store.update("alerts", ids[0], (cur) => ({ ...cur!, status: "acknowledged", assignee: "ana" }));
      };
      await producer.send("events", [event("gamma two")].map((e) => ({ key: "h1", value: JSON.stringify(e) })));
      await until("the stored alert with both steps", async () => ((await store.get("alerts", first.id))?.["signal_count"] as number | undefined) === 2);
      const stored = (await store.get("alerts", first.id)) as Alert;
      // the triage is kept, on top of the analyst's version
      expect(stored).toMatchObject({ status: "acknowledged", assignee: "ana", version: 3 });
      // what went out last is what is stored: the update computed before the triage went out first, then the stored one
      await until("the stored version published", () => seen.some((a) => a.version === 3));
      const last = seen[seen.length - 1];
      expect(last).toMatchObject({ status: "acknowledged", assignee: "ana", version: 3, signal_count: 2 });
      expect(seen.filter((a) => a.version === 3)).toHaveLength(1);
    } finally {
      await watcher.close();
      await stop();
    }
  });
});

/** The embedded store with audit writes that fail while `failAudits` > 0 (the audit index refusing writes). */
class FlakyAuditStore extends EmbeddedStore {
  failAudits = 0;
  auditAttempts = 0;
  override async put(collection: Collection, docs: Doc[]): Promise<PutResult> {
    if (collection === "audit") {
      this.auditAttempts++;
      if (this.failAudits > 0) {
        this.failAudits--;
        throw new Error("audit index refused the write");
      }
    }
    return super.put(collection, docs);
  }
}

describe("correlate role: audit records of alert changes", () => {
  it("a failed audit write is written again with the next round: the new alert is audited once, though it is stored already", async () => {
    const flaky = new FlakyAuditStore({ file: ":memory:" });
    flaky.failAudits = 1;
    const delta = rule("44444444-4444-4444-8444-444444444444", "delta").replace("level: high", "level: critical");
    const { bus, store, stop } = await startCorrelate("audit", { "execution_delta.yml": delta }, flaky, { watchRules: false });
    try {
      const producer = await bus.producer();
      await producer.send("events", [event("delta one")].map((e) => ({ key: "h1", value: JSON.stringify(e) })));
      await until("the alert stored", async () => (await store.count("alerts", {})) === 1);
      const alert = (await store.search("alerts", { size: 1 })).hits[0] as Alert;
      await until("the alert's creation audited", async () => (await store.search("audit", { size: 100 })).hits.some((a) => a["action"] === "alert.create" && a["target"] === alert.id));
      expect(store.auditAttempts).toBeGreaterThanOrEqual(2); // the first write failed
      const audits = (await store.search("audit", { size: 100 })).hits.filter((a) => a["target"] === alert.id);
      expect(audits.map((a) => a["action"])).toEqual(["alert.create"]);
    } finally {
      await stop();
    }
  });
});
