import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser, splitAddress } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("apache-error parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { byLine, rejections } = fixtureEvents(parser, FIXTURES, "error.log");

  it("reads the 2.4 format: module, level, pid, tid and the AH code", () => {
    const e = byLine.get(1)!;
    expect(e["@timestamp"]).toBe("2024-10-31T13:55:36.103Z");
    expect(e.log?.level).toBe("notice");
    expect(e.process).toEqual({ pid: 11379, thread: { id: 140245 } });
    expect(e.error).toEqual({ code: "AH00489" });
    expect((e.apache as { error: { module: string } }).error.module).toBe("mpm_event");
    expect(e.event.type).toEqual(["info"]);
  });

  it("reads the 2.2 format and client addresses with ports", () => {
    expect(byLine.get(2)!.source).toEqual({ address: "192.0.2.5", ip: "192.0.2.5" });
    expect(byLine.get(2)!.event.type).toEqual(["error"]);
    expect(byLine.get(3)!.source).toEqual({ address: "198.51.100.9", ip: "198.51.100.9", port: 52210 });
    expect(byLine.get(4)!.source?.ip).toBe("2001:db8::7");
  });

  it("splits addresses only where the part before the port is an IP", () => {
    expect(splitAddress("10.0.0.1:80")).toEqual({ ip: "10.0.0.1", port: 80, address: "10.0.0.1" });
    expect(splitAddress("::1")).toEqual({ ip: "::1", address: "::1" });
    expect(splitAddress("host:80")).toEqual({ address: "host:80" });
    expect(splitAddress("2001:db8::7:443", true)).toEqual({ ip: "2001:db8::7", port: 443, address: "2001:db8::7" });
    expect(splitAddress("2001:db8::7:443")).toEqual({ ip: "2001:db8::7:443", address: "2001:db8::7:443" });
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([[6, "apache_error_bad_line"]]);
  });
});
