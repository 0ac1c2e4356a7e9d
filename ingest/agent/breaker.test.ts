import { describe, expect, it } from "vitest";
import { CircuitBreaker, backoffMs } from "./breaker.ts";

describe("backoffMs", () => {
  it("is full jitter under a capped exponential", () => {
    expect(backoffMs(0, 100, 5000, () => 0.999)).toBe(99);
    expect(backoffMs(3, 100, 5000, () => 0.5)).toBe(400);
    expect(backoffMs(20, 100, 5000, () => 0.999)).toBe(4995);
    expect(backoffMs(5, 100, 5000, () => 0)).toBe(0);
    for (let i = 0; i < 100; i++) expect(backoffMs(i % 12, 100, 5000)).toBeLessThan(5000);
  });
});

describe("CircuitBreaker", () => {
  it("opens after the threshold, half-opens after the cool-down for one probe, and closes on success", () => {
    let now = 0;
    const changes: string[] = [];
    const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1000, maxOpenMs: 8000, now: () => now, random: () => 1, onChange: (f, t) => changes.push(`${f}>${t}`) });
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    b.failure();
    expect(b.state).toBe("closed");
    b.failure();
    expect(b.state).toBe("open");
    expect(b.tryAcquire()).toBe(false);
    expect(b.waitMs()).toBe(1000);
    now = 1000;
    expect(b.state).toBe("half_open");
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false); // one probe at a time
    b.failure();
    expect(b.state).toBe("open");
    expect(b.waitMs()).toBe(2000); // doubled
    now = 3000;
    expect(b.tryAcquire()).toBe(true);
    b.success();
    expect(b.state).toBe("closed");
    expect(changes).toEqual(["closed>open", "open>half_open", "half_open>open", "open>half_open", "half_open>closed"]);
  });

  it("caps the open time", () => {
    let now = 0;
    const b = new CircuitBreaker({ failureThreshold: 1, openMs: 1000, maxOpenMs: 4000, now: () => now, random: () => 1 });
    for (let i = 0; i < 10; i++) {
      b.failure();
      expect(b.waitMs()).toBeLessThanOrEqual(4000);
      now += b.waitMs();
      expect(b.tryAcquire()).toBe(true);
    }
  });
});
