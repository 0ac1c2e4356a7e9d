import { describe, expect, it } from "vitest";
import { startTelemetryServer } from "./server.ts";
import { Health } from "./health.ts";
import { metric, prom } from "./metrics.ts";

describe("telemetry listener", () => {
  it("serves /healthz, /readyz from registered checks, and /metrics behind a token", async () => {
    const health = new Health();
    let dbUp = false;
    health.register("test.store", () => ({ ok: dbUp, detail: dbUp ? "connected" : "store unreachable at 127.0.0.1:1" }));
    metric("sigil_test_events_total", () => new prom.Counter({ name: "sigil_test_events_total", help: "test counter", labelNames: ["topic"] })).inc({ topic: "events" }, 3);
    const srv = await startTelemetryServer({ host: "127.0.0.1", port: 0, token: "s3cret", health });
    try {
      expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
      let r = await fetch(`${srv.url}/readyz`, { headers: { authorization: "Bearer s3cret" } });
      expect(r.status).toBe(503);
      expect((await r.json()).checks["test.store"].detail).toContain("unreachable");
      dbUp = true;
      r = await fetch(`${srv.url}/readyz`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ ready: true }); // no details without the token
      expect((await fetch(`${srv.url}/metrics`)).status).toBe(401);
      const m = await fetch(`${srv.url}/metrics`, { headers: { authorization: "Bearer s3cret" } });
      expect(await m.text()).toContain('sigil_test_events_total{topic="events"} 3');
      health.drain();
      expect((await fetch(`${srv.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${srv.url}/metrics`, { method: "POST" })).status).toBe(405);
    } finally {
      await srv.close();
    }
  });
});
