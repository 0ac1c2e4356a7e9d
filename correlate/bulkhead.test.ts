// Bulkheads in the correlate role: while the store does not acknowledge event writes, detection and
// alerting go on, the events indexer holds no more than its batch in flight (the rest waits on the bus,
// uncommitted, not in memory), and once the store answers every event is stored exactly once.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../platform/config/load.ts";
import { MemoryBus } from "../platform/bus/memory.ts";
import { EmbeddedStore } from "../platform/store/embedded.ts";
import type { Collection, Doc, Store } from "../platform/store/types.ts";
import { logger } from "../platform/telemetry/log.ts";
import type { EcsEvent } from "../schema/ecs.ts";
import { correlateRole } from "./service.ts";
import { TEST_ROUTE_PIPELINE } from "./test-pipeline.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-correlate-bulkhead-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const RULE = `title: Bulkhead test rule
id: 33333333-3333-4333-8333-333333333333
status: stable
author: test
tags: [attack.execution, attack.t1059]
logsource: {product: test}
detection:
  selection:
    message|contains: 'detonate'
  condition: selection
level: critical
`;
const PIPELINE = TEST_ROUTE_PIPELINE;

let n = 0;
const event = (message: string, host = "h1"): EcsEvent =>
  ({ "@timestamp": new Date(Date.UTC(2026, 0, 15, 10, 0, 0, n)).toISOString(), event: { id: `${(++n).toString(16).padStart(32, "0")}`, kind: "event", dataset: "test.events" }, host: { name: host }, message }) as EcsEvent;

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The store with event writes held until `open()`; counts documents inside a held write. */
function slowEventsStore(inner: Store) {
  const gate = { open: false, waiters: [] as (() => void)[], inFlightDocs: 0, maxInFlightDocs: 0, heldCalls: 0 };
  const put = async (collection: Collection, docs: Doc[]) => {
    if (collection === "events" && !gate.open) {
      gate.heldCalls++;
      gate.inFlightDocs += docs.length;
      gate.maxInFlightDocs = Math.max(gate.maxInFlightDocs, gate.inFlightDocs);
      await new Promise<void>((r) => gate.waiters.push(r));
      gate.inFlightDocs -= docs.length;
    }
    return inner.put(collection, docs);
  };
  const store = new Proxy(inner, {
    get(t, p, r) {
      if (p === "put") return put;
      const v = Reflect.get(t, p, r) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  return {
    store,
    gate,
    open() {
      gate.open = true;
      for (const w of gate.waiters.splice(0)) w();
    },
  };
}

describe("correlate role: bulkheads", () => {
  it("alerts while the store holds event writes, with one batch in flight and the rest on the bus", async () => {
    const rules = path.join(dir, "rules");
    fs.mkdirSync(rules);
    fs.writeFileSync(path.join(rules, "execution_detonate.yml"), RULE);
    fs.writeFileSync(path.join(dir, "test-route.yml"), PIPELINE);
    const config = loadConfig({ env: {} });
    config.correlate.pipelines = [path.join(dir, "test-route.yml")];
    config.correlate.watch_rules = false;
    const bus = new MemoryBus({ partitions: 1 });
    const inner = new EmbeddedStore({ file: ":memory:" });
    const slow = slowEventsStore(inner);
    const role = correlateRole({ config, bus, store: slow.store, log: logger("test", { level: "silent" }), rules: [rules], cwd: dir });
    await role.lifecycle.start();
    try {
      const producer = await bus.producer();
      const total = 12_000;
      for (let i = 0; i < total; i += 1_000) {
        const batch = Array.from({ length: 1_000 }, (_, j) => event(i + j === total - 1 ? "please detonate now" : `benign ${i + j}`));
        await producer.send("events", batch.map((e) => ({ key: "h1", value: JSON.stringify(e) })));
      }
      // detection and the chain builder are not held up by the store's event writes
      await until("every event through detection", () => role.stats.events === total);
      await until("the alert stored", async () => (await inner.count("alerts", {})) === 1);
      // the indexer waits with at most one batch (2,000 events) in flight; the rest is uncommitted on the bus
      expect(slow.gate.heldCalls).toBe(1);
      expect(slow.gate.maxInFlightDocs).toBeLessThanOrEqual(2_000);
      expect(await inner.count("events", {})).toBe(0);
      // the store answers again: everything is stored, once
      slow.open();
      await until("every event stored", async () => (await inner.count("events", {})) === total);
      await new Promise((r) => setTimeout(r, 300));
      expect(await inner.count("events", {})).toBe(total);
    } finally {
      slow.open();
      await role.lifecycle.stop();
      await bus.close();
      await inner.close();
    }
  });
});
