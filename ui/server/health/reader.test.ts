// The health page's pipeline section from scraped /metrics: a correlate-like and an agent-like endpoint
// scraped twice; rates, per-event rule time, store write latency (mean and p95 over the window),
// breaker, state, consumer lag per instance and the agent's buffer depth.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HealthReader } from "./reader.ts";
import type { Store } from "../../../platform/store/types.ts";

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function endpoint(body: () => string): Promise<string> {
  const server = http.createServer((req, res) => res.writeHead(200, { "content-type": "text/plain" }).end(body()));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
}

const store = { health: async () => ({ ok: true, detail: "ok" }), get: async () => null } as unknown as Store;

describe("health reader: pipeline section", () => {
  it("derives rule time per event, state, store writes, lag per instance and agent buffers from the roles' metrics", async () => {
    let n = 0;
    const correlate = await endpoint(() => {
      const k = n;
      return [
        `sigil_correlate_rule_evaluation_seconds_sum ${0.5 + k * 0.2}`,
        `sigil_correlate_rule_evaluation_seconds_count ${10 + k * 4}`,
        `sigil_correlate_rule_evaluated_events_total ${10_000 + k * 4_000}`,
        `sigil_correlate_rule_plan_info{version="0a1b2c3d"} 1`,
        `sigil_correlate_rule_plan_rules{kind="detection"} 120`,
        `sigil_correlate_rule_plan_rules{kind="correlation"} 9`,
        `sigil_stateful_live{stage="correlation"} 4321`,
        `sigil_stateful_live{stage="baselines"} 77`,
        `sigil_stateful_window_entries{stage="correlation"} 98765`,
        `sigil_stateful_evicted_total{stage="correlation"} ${3 + k * 2}`,
        `sigil_chains_live 55`,
        // 10 puts before, 20 more in the window: 18 under 50 ms, 2 between 100 and 250 ms
        `sigil_store_operation_seconds_bucket{store="elasticsearch",op="put",le="0.05"} ${10 + k * 18}`,
        `sigil_store_operation_seconds_bucket{store="elasticsearch",op="put",le="0.1"} ${10 + k * 18}`,
        `sigil_store_operation_seconds_bucket{store="elasticsearch",op="put",le="0.25"} ${10 + k * 20}`,
        `sigil_store_operation_seconds_bucket{store="elasticsearch",op="put",le="+Inf"} ${10 + k * 20}`,
        `sigil_store_operation_seconds_sum{store="elasticsearch",op="put"} ${0.3 + k * 1.2}`,
        `sigil_store_operation_seconds_count{store="elasticsearch",op="put"} ${10 + k * 20}`,
        `sigil_store_operation_seconds_count{store="elasticsearch",op="search"} 99`,
        `sigil_store_retries_total{store="elasticsearch",reason="timeout"} ${k * 3}`,
        `sigil_store_breaker_state{store="elasticsearch"} ${k ? 2 : 0}`,
        `sigil_correlate_indexed_events_total{outcome="stored"} ${1000 + k * 500}`,
        `sigil_bus_consumer_lag_messages{group="sigil-correlate",topic="events",partition="0"} 12`,
        `sigil_bus_consumer_lag_age_seconds{group="sigil-correlate"} 0`,
        `sigil_agent_lag_bytes 5`,
      ].join("\n");
    });
    const agent = await endpoint(() => [`sigil_agent_buffer_lines ${n ? 250 : 0}`, `sigil_agent_buffer_bytes ${n ? 51_200 : 0}`, `sigil_agent_link_up ${n ? 0 : 1}`].join("\n"));
    const reader = new HealthReader({ urls: [correlate, agent], token: null, store, bus: null, liveStats: () => ({ clients: 0, sequence: 0 }) });
    await reader.sample();
    n = 1;
    await new Promise((r) => setTimeout(r, 50));
    await reader.sample();
    const r = await reader.report();
    const p = r.pipeline;
    // 0.2 s over 4,000 events in the window
    expect(p.rules.evaluation_us_per_event).toBe(50);
    expect(p.rules.evaluated_per_second).toBeGreaterThan(0);
    expect(p.rules.rules).toEqual({ detection: 120, correlation: 9 });
    expect(r.plan.version).toBe("0a1b2c3d");
    expect(p.state).toMatchObject({ correlation_groups: 4321, window_entries: 98765, baseline_entities: 77, chains: 55, evicted_total: 5 });
    // 1.2 s over 20 puts in the window
    expect(p.store.write_ms_avg).toBe(60);
    // the 19th of 20 writes lies in the (0.1, 0.25] bucket
    expect(p.store.write_ms_p95).toBeGreaterThan(100);
    expect(p.store.write_ms_p95).toBeLessThanOrEqual(250);
    expect(p.store.retries_total).toBe(3);
    expect(p.store.breaker).toBe("open");
    expect(p.indexer.stored_total).toBe(1500);
    // lag rows: messages only (not seconds or agent bytes), each naming its instance
    expect(r.lag).toEqual([{ metric: "sigil_bus_consumer_lag_messages", labels: { group: "sigil-correlate", topic: "events", partition: "0", instance: correlate.replace(/\/metrics$/, "") }, value: 12 }]);
    expect(p.agents).toHaveLength(1);
    expect(p.agents[0]).toEqual({ source: agent.replace(/\/metrics$/, ""), buffer_lines: 250, buffer_bytes: 51_200, link_up: false });
  });
});
