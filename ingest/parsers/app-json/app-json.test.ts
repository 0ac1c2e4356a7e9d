import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser, timeOf } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";
import { compileZone } from "../common/time.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("app-json parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { byLine, rejections } = fixtureEvents(parser, FIXTURES, "app.ndjson");

  it("maps pino request logs to web access events", () => {
    const e = byLine.get(1)!;
    expect(e["@timestamp"]).toBe("2024-10-31T10:00:00.123Z");
    expect(e.log).toMatchObject({ level: "info" });
    expect(e.service?.name).toBe("orders");
    expect(e.host?.name).toBe("api-1");
    expect(e.process?.pid).toBe(4242);
    expect(e.http).toEqual({ request: { method: "GET" }, response: { status_code: 200 } });
    expect(e.source).toEqual({ address: "203.0.113.21", ip: "203.0.113.21", port: 51514 });
    expect(e.url?.path).toBe("/orders/7");
    expect(e.user_agent?.original).toBe("okhttp/4");
    expect((e.app as { responseTime: number }).responseTime).toBe(12);
  });

  it("maps errors, trace context and user objects", () => {
    const e = byLine.get(2)!;
    expect(e.event.type).toEqual(["error"]);
    expect(e.error).toMatchObject({ type: "CardError", message: "card declined" });
    expect(e.trace?.id).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(e.span?.id).toBe("00f067aa0ba902b7");
    expect(e.user).toEqual({ name: "eve@example.com", id: "u-9", email: "eve@example.com" });
  });

  it("reads logback, zap, Serilog compact and structlog shapes", () => {
    expect(byLine.get(3)!).toMatchObject({ "@timestamp": "2024-10-31T10:00:02.123Z", log: { level: "warn", logger: "com.example.Auth" }, user: { name: "mallory" }, source: { ip: "198.51.100.99" } });
    expect(byLine.get(4)!["@timestamp"]).toBe("2024-10-31T10:00:03.500Z");
    expect(byLine.get(5)!.log).toMatchObject({ level: "information", logger: "Web.Auth" });
    expect(byLine.get(5)!.message).toBe("User {UserId} signed in");
    expect(byLine.get(6)!.message).toBe("payment.received");
  });

  it("stamps records without a time with the clock and rejects bad times and non-objects", () => {
    expect(byLine.get(7)!.event.created).toBe("2024-11-01T00:00:00.000Z");
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [8, "app_json_bad_timestamp"],
      [9, "json_not_object"],
    ]);
  });

  it("reads epoch seconds, milliseconds, microseconds and nanoseconds", () => {
    const z = compileZone("UTC");
    const ms = Date.UTC(2024, 9, 31, 10);
    expect([ms / 1000, ms, ms * 1000, ms * 1e6].map((v) => timeOf(v, z))).toEqual([ms, ms, ms, ms]);
  });
});
