// Hot-swap of every rule kind in the correlate role (in-process bus, embedded store, as `sigil start`
// runs it): a correlation rule added while running fires, the state of an unchanged correlation is
// carried into the new plan (its window completes across the swap), and a removed one stops firing.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../platform/config/load.ts";
import { MemoryBus } from "../platform/bus/memory.ts";
import { partitionFor } from "../platform/bus/partitioner.ts";
import { EmbeddedStore } from "../platform/store/embedded.ts";
import { logger } from "../platform/telemetry/log.ts";
import type { EcsEvent } from "../schema/ecs.ts";
import type { Signal } from "../schema/signal.ts";
import { correlateRole } from "./service.ts";
import { TEST_ROUTE_PIPELINE } from "./test-pipeline.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-rule-swap-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const detection = `title: Failed sign-in
id: 31111111-1111-4111-8111-111111111111
name: failed_sign_in
status: test
author: test
tags: [attack.credential-access, attack.t1110]
logsource: {product: test}
detection:
  selection:
    message|contains: 'failed'
  condition: selection
level: low
`;
const correlation = (id: string, title: string, gte: number) => `title: ${title}
id: ${id}
status: test
author: test
correlation:
  type: event_count
  rules: [failed_sign_in]
  group-by: [host.name]
  timespan: 10m
  condition: {gte: ${gte}}
level: high
`;
const pipeline = TEST_ROUTE_PIPELINE;
let n = 0;
const t0 = Date.now() - 600_000;
const failure = (): EcsEvent =>
  ({ "@timestamp": new Date(t0 + ++n * 1_000).toISOString(), event: { id: n.toString(16).padStart(32, "0"), kind: "event", dataset: "test.events" }, host: { name: "h1" }, message: "sign-in failed" }) as EcsEvent;

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("rule hot-swap in the correlate role", () => {
  it("swaps correlation rules in with their state: added ones fire, unchanged ones keep their windows, removed ones stop", async () => {
    const rules = path.join(dir, "rules");
    fs.mkdirSync(rules);
    fs.writeFileSync(path.join(rules, "credential-access_failed_sign_in.yml"), detection);
    fs.writeFileSync(path.join(rules, "credential-access_three_failures.yml"), correlation("42222222-2222-4222-8222-222222222222", "Three failures", 3));
    const pipe = path.join(dir, "test-route.yml");
    fs.writeFileSync(pipe, pipeline);
    const config = loadConfig({ env: {} });
    config.correlate.pipelines = [pipe];
    const bus = new MemoryBus({ partitions: 2 });
    const store = new EmbeddedStore({ file: ":memory:" });
    const role = correlateRole({ config, bus, store, log: logger("test", { level: "silent" }), rules: [rules], cwd: dir });
    await role.lifecycle.start();
    const producer = await bus.producer();
    const send = (count: number) => producer.send("events", Array.from({ length: count }, () => ({ key: "h1", value: JSON.stringify(failure()) })));
    const hits = async () => {
      const res = await store.search("signals", { size: 100 });
      return (res.hits as Signal[]).filter((s) => s.signal.type === "correlation").map((s) => s.rule.title).sort();
    };
    // the runner checkpoints after every batch: its n-th delta on h1's partition means n batches counted
    const runnerBatches = async (count: number) => {
      const id = `sigil-correlate-stateful/${bus.topicName("signals")}/p${partitionFor("h1", 2)}/d${count}`;
      return (await store.getMany("state", [id])).length === 1;
    };
    try {
      await send(2);
      await until("the two failures counted by the runner", () => runnerBatches(1));

      fs.writeFileSync(path.join(rules, "credential-access_two_failures.yml"), correlation("43333333-3333-4333-8333-333333333333", "Two failures", 2));
      await until("the new plan", () => role.stats.planSwaps >= 1);
      // the third failure completes the unchanged rule's window (two counted before the swap); the
      // added rule has seen one failure
      await send(1);
      await until("the three-failures hit", async () => (await hits()).length >= 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(await hits()).toEqual(["Three failures"]);
      await send(1);
      await until("the two-failures hit", async () => (await hits()).length >= 2);
      expect(await hits()).toEqual(["Three failures", "Two failures"]);

      // removed: three more failures make no new three-failures hit (the two-failures rule still fires)
      fs.rmSync(path.join(rules, "credential-access_three_failures.yml"));
      await until("the plan without it", () => role.stats.planSwaps >= 2);
      await send(3);
      await until("another two-failures hit", async () => (await hits()).length >= 3);
      await new Promise((r) => setTimeout(r, 500));
      expect(await hits()).toEqual(["Three failures", "Two failures", "Two failures"]);
    } finally {
      await role.lifecycle.stop();
      await bus.close();
      await store.close();
    }
  });
});
