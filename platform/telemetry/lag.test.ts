import { describe, expect, it } from "vitest";
import { MemoryBus } from "../bus/memory.ts";
import { Health } from "./health.ts";
import { ConsumerLagMonitor, groupLabel, monitorBus } from "./lag.ts";
import { registry } from "./metrics.ts";

async function samples(name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const m = registry.getSingleMetric(name);
  return m ? ((await m.get()).values as { labels: Record<string, string | number>; value: number }[]) : [];
}

describe("consumer lag monitor", () => {
  it("reports lag per partition and partitions held, and readiness within the bound", async () => {
    const bus = new MemoryBus({ partitions: 3 });
    let clock = 1_000_000;
    const monitor = new ConsumerLagMonitor({ intervalMs: 1000, maxLag: 10, now: () => clock });
    const health = new Health();
    monitor.register(health);
    const mbus = monitorBus(bus, monitor);
    expect(mbus.kind).toBe("memory");
    expect(mbus.topicName("events")).toBe("sigil.events");
    const p = await mbus.producer();
    await p.send("events", Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: String(i) })));
    const c = await mbus.consumer({ groupId: "lagtest-a1b2c3d4", topics: ["events"] });
    // not read yet: starting, ready
    expect((await health.readiness()).ready).toBe(true);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    await c.run(async (b) => {
      await gate;
      handled += b.messages.length;
    });
    for (let i = 0; i < 300 && c.assignment().length < 3; i++) await new Promise((x) => setTimeout(x, 10));
    await monitor.poll();
    const lag = (await samples("sigil_bus_consumer_lag_messages")).filter((s) => s.labels["group"] === "lagtest");
    expect(lag.map((s) => s.labels["partition"]).sort()).toEqual(["0", "1", "2"]);
    expect(lag.reduce((a, s) => a + s.value, 0)).toBe(30);
    const parts = (await samples("sigil_bus_consumer_partitions")).find((s) => s.labels["group"] === "lagtest");
    expect(parts?.value).toBe(3);
    // 30 behind, bound 10: not ready, and the detail names the group and the numbers
    let r = await health.readiness();
    expect(r.ready).toBe(false);
    expect(r.checks["bus.consumer_lag"].detail).toContain("lagtest: 30 messages behind");
    release();
    const end = Date.now() + 3000;
    while (handled < 30 && Date.now() < end) await new Promise((x) => setTimeout(x, 5));
    await monitor.poll();
    r = await health.readiness();
    expect(r.ready).toBe(true);
    // a stale read (the bus stopped answering) is not ready
    clock += 5_000;
    expect(monitor.check().ok).toBe(false);
    expect(monitor.check().detail).toContain("last read 5 s ago");
    // closing the consumer stops tracking and removes its series
    await c.close();
    expect((await samples("sigil_bus_consumer_lag_messages")).filter((s) => s.labels["group"] === "lagtest")).toEqual([]);
    expect(monitor.check().ok).toBe(true);
    await p.close();
    await bus.close();
  });

  it("keeps group labels bounded: a per-process random suffix is dropped", () => {
    expect(groupLabel("sigil-console-host1-0a1b2c3d")).toBe("sigil-console-host1");
    expect(groupLabel("sigil-correlate")).toBe("sigil-correlate");
  });
});
