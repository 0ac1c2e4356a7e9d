import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { expandDotted, parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("ecs parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { rejections } = fixtureEvents(parser, FIXTURES, "ecs.ndjson");

  it("passes Sigil's own events through unchanged", () => {
    const { events } = fixtureEvents(parser, FIXTURES, "ecs.ndjson");
    const own = events.find((x) => x.event.id === "0123456789abcdef0123456789abcdef")!;
    expect(own.process?.command_line).toBe("powershell -enc AAAA");
    expect(own.tags).toBeUndefined();
    expect(own.log).toBeUndefined();
  });

  it("expands dotted keys, converts the time to UTC and repairs ECS 1.x values", () => {
    const { events } = fixtureEvents(parser, FIXTURES, "ecs.ndjson");
    const e = events.find((x) => x.user?.name === "root")!;
    expect(e["@timestamp"]).toBe("2024-10-31T10:00:00.000Z");
    expect(e.event).toMatchObject({ kind: "event", category: ["network"], type: ["info"], dataset: "system.generic", module: "system" });
    expect(e.event.id).toMatch(/^[0-9a-f]{32}$/);
    expect(e.source).toEqual({ ip: "10.0.0.1", port: 22 });
    expect(e.tags).toEqual(["sigil_ecs_repaired"]);
  });

  it("replaces foreign ids (keeping them as a label) and single-valued arrays", () => {
    const { events } = fixtureEvents(parser, FIXTURES, "ecs.ndjson");
    const e = events.find((x) => x.event.dataset === "aws.cloudtrail")!;
    expect(e.labels).toEqual({ original_event_id: "3fcfb182-98f8-4744-bd45-10aEXAMPLE" });
    expect(e.source?.ip).toBe("89.160.20.156");
  });

  it("rejects events that stay invalid, listing the problems", () => {
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [4, "ecs_invalid"],
      [5, "ecs_invalid"],
    ]);
    expect(rejections[0].reason).toContain("process.pid");
  });

  it("expands dotted keys without letting them overwrite nested ones or prototypes", () => {
    expect(expandDotted({ "a.b": 1, a: { c: 2 }, "x.__proto__.y": 3 })).toEqual({ a: { b: 1, c: 2 } });
  });
});
