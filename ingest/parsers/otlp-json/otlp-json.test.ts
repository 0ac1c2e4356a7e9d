import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { anyValue, hexId } from "./convert.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";
import { getField } from "../../../schema/fields.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("otlp-json parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { events, rejections } = fixtureEvents(parser, FIXTURES, "traces.json");
  const span = (name: string) => events.find((e) => (e.span as { name?: string } | undefined)?.name === name)!;

  it("turns each span into an event with trace, span, parent, service, http and status", () => {
    const e = span("POST /api/pay");
    expect(e["@timestamp"]).toBe("2024-10-31T10:00:00.000Z");
    expect(e.event).toMatchObject({ dataset: "otel.traces", duration: 250_000_000, outcome: "failure", action: "POST /api/pay", category: ["web"], type: ["access", "error"], end: "2024-10-31T10:00:00.250Z" });
    expect(e.trace).toEqual({ id: "4bf92f3577b34da6a3ce929d0e0e4736" });
    expect(e.span).toEqual({ id: "00f067aa0ba902b7", name: "POST /api/pay", kind: "server" });
    expect(e.parent).toBeUndefined();
    expect(e.transaction).toEqual({ id: "00f067aa0ba902b7" });
    expect(e.service).toEqual({ name: "checkout", version: "1.4.2", environment: "prod" });
    expect(e.host?.name).toBe("node-7");
    expect(e.orchestrator).toMatchObject({ type: "kubernetes", namespace: "shop" });
    expect(e.cloud).toEqual({ provider: "aws", region: "eu-west-1" });
    expect(e.http).toMatchObject({ request: { method: "POST" }, response: { status_code: 500 } });
    expect(e.url).toMatchObject({ path: "/api/pay" });
    expect(e.source?.ip).toBe("203.0.113.44");
    expect(e.user?.name).toBe("cust-991");
    expect(e.error).toMatchObject({ type: "TimeoutError", message: "upstream timed out" });
  });

  it("links child spans to their parent and keeps attributes for rules", () => {
    const e = span("SELECT payments");
    expect(e.parent).toEqual({ id: "00f067aa0ba902b7" });
    expect(e.event).toMatchObject({ category: ["database"], outcome: "success" });
    expect(e.destination).toEqual({ address: "db.internal", domain: "db.internal", port: 5432 });
    expect(getField(e, "otel.attributes.db.statement")).toBe("SELECT * FROM payments WHERE id = $1");
  });

  it("turns log records into events with level, message, trace context and event name", () => {
    const err = events.find((e) => e.message === "login failed for user bob")!;
    expect(err.event).toMatchObject({ dataset: "otel.logs", severity: 17, type: ["error"] });
    expect(err.log).toEqual({ level: "error", logger: "auth.logger" });
    expect(err.trace?.id).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(err.service?.name).toBe("auth");
    const structured = events.find((e) => e.event.action === "auth.session_refresh")!;
    expect(structured["@timestamp"]).toBe("2024-10-31T10:00:02.000Z");
    expect(structured.message).toBe("structured body");
    expect(getField(structured, "otel.body.n")).toBe(3);
  });

  it("rejects bad spans, metrics and other documents with reasons", () => {
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [1, "otlp_bad_span"],
      [3, "otlp_metrics_unsupported"],
      [4, "otlp_unknown_document"],
    ]);
  });

  it("decodes AnyValue and ids in hex or base64", () => {
    expect(anyValue({ arrayValue: { values: [{ intValue: "1" }, { boolValue: true }, { doubleValue: 1.5 }] } })).toEqual([1, true, 1.5]);
    expect(anyValue({ intValue: "9007199254740993" })).toBe("9007199254740993");
    expect(hexId(Buffer.from("00f067aa0ba902b7", "hex").toString("base64"), 8)).toBe("00f067aa0ba902b7");
    expect(hexId("zz", 8)).toBeUndefined();
  });
});
