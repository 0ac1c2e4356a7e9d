import { describe, expect, it } from "vitest";
import { BreakerOpenError, CircuitBreaker } from "./breaker.ts";
import { registry } from "../telemetry/metrics.ts";

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

async function gauge(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

describe("circuit breaker", () => {
  it("opens after consecutive failures, refuses calls, lets one trial through after the cool-down, closes on success", async () => {
    const c = clock();
    const changes: string[] = [];
    const b = new CircuitBreaker({ metric: "sigil_test_breaker", labels: { dep: "a" }, target: "dep a", code: "dep_circuit_open", failureThreshold: 3, openMs: 1000, maxOpenMs: 8000, now: c.now, random: () => 1, onChange: (f, t) => changes.push(`${f}>${t}`) });
    for (let i = 0; i < 2; i++) {
      b.before();
      b.failure("ECONNREFUSED");
    }
    expect(b.state).toBe("closed");
    b.before();
    b.success(); // a success resets the run
    for (let i = 0; i < 3; i++) {
      b.before();
      b.failure("ECONNREFUSED");
    }
    expect(b.state).toBe("open");
    expect(await gauge("sigil_test_breaker_state", { dep: "a" })).toBe(2);
    let refused: unknown = null;
    try {
      b.before();
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(BreakerOpenError);
    expect((refused as BreakerOpenError).code).toBe("dep_circuit_open");
    expect((refused as BreakerOpenError).message).toContain("ECONNREFUSED");
    // random() = 1: the cool-down is the full 1000 ms
    c.t += 999;
    expect(() => b.before()).toThrow(BreakerOpenError);
    c.t += 1;
    b.before(); // the trial call
    expect(b.state).toBe("half_open");
    expect(() => b.before()).toThrow(BreakerOpenError); // only one trial at a time
    b.failure("timeout");
    expect(b.state).toBe("open");
    // the cool-down doubled
    c.t += 1999;
    expect(() => b.before()).toThrow(BreakerOpenError);
    c.t += 1;
    b.before();
    b.success();
    expect(b.state).toBe("closed");
    expect(await gauge("sigil_test_breaker_state", { dep: "a" })).toBe(0);
    expect(await gauge("sigil_test_breaker_opened_total", { dep: "a" })).toBe(2);
    expect(await gauge("sigil_test_breaker_rejected_total", { dep: "a" })).toBe(4);
    expect(changes).toEqual(["closed>open", "open>half_open", "half_open>open", "open>half_open", "half_open>closed"]);
    // closed again: the next failure run starts from zero and the cool-down from openMs
    b.before();
    b.failure("x");
    expect(b.state).toBe("closed");
  });

  it("caps the cool-down and jitters it within its upper half", () => {
    const c = clock();
    let r = 0;
    const b = new CircuitBreaker({ metric: "sigil_test_breaker", labels: { dep: "b" }, target: "dep b", code: "x", failureThreshold: 1, openMs: 1000, maxOpenMs: 4000, now: c.now, random: () => r });
    b.before();
    b.failure("down");
    // random() = 0: half the cool-down
    c.t += 500;
    for (let i = 0; i < 5; i++) {
      b.before(); // trial
      b.failure("down");
      c.t += 2000; // at most 4000 * 1/2 with random 0
    }
    r = 1;
    b.before();
    b.failure("down");
    c.t += 3999;
    expect(() => b.before()).toThrow(BreakerOpenError);
    c.t += 2;
    expect(() => b.before()).not.toThrow();
  });
});
