import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("nginx-access parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { byLine, rejections } = fixtureEvents(parser, FIXTURES, "access.log");

  it("maps the combined format under the nginx dataset", () => {
    const e = byLine.get(1)!;
    expect(e.event).toMatchObject({ dataset: "nginx.access", module: "nginx", outcome: "success" });
    expect(e.url).toMatchObject({ path: "/api/orders", query: "id=7" });
  });

  it("reads forwarded address lists and X-Forwarded-For, relating every address", () => {
    const e = byLine.get(2)!;
    expect(e.source?.ip).toBe("10.0.0.2");
    expect((e.nginx as { access: { remote_ip_list: string[]; forwarded_for: string } }).access).toMatchObject({ remote_ip_list: ["10.0.0.2", "203.0.113.77"], forwarded_for: "203.0.113.77" });
    expect(e.related?.ip).toEqual(["10.0.0.2", "203.0.113.77"]);
    expect(byLine.get(4)!.related?.ip).toEqual(["192.0.2.12", "198.51.100.1", "198.51.100.2"]);
  });

  it("marks server errors as failures and converts the offset", () => {
    const e = byLine.get(3)!;
    expect(e.event.outcome).toBe("failure");
    expect(e.user?.name).toBe("bob");
    expect(e["@timestamp"]).toBe("2024-10-31T08:00:03.000Z");
    expect(rejections).toEqual([]);
  });
});
