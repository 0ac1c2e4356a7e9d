import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("nginx-error parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { byLine, rejections } = fixtureEvents(parser, FIXTURES, "error.log");

  it("reads level, pid#tid, connection and the request context", () => {
    const e = byLine.get(1)!;
    expect(e["@timestamp"]).toBe("2024-10-31T14:49:34.000Z");
    expect(e.log?.level).toBe("error");
    expect(e.process).toEqual({ pid: 54053, thread: { id: 0 } });
    expect(e.source?.ip).toBe("192.0.2.1");
    expect(e.http).toMatchObject({ request: { method: "GET", referrer: "http://localhost:8080/" }, version: "1.1" });
    expect(e.url).toMatchObject({ path: "/favicon.ico", domain: "localhost", port: 8080 });
    expect((e.nginx as { error: { connection_id: number; server: string } }).error).toMatchObject({ connection_id: 1, server: "localhost" });
  });

  it("keeps the upstream and marks critical errors", () => {
    const e = byLine.get(2)!;
    expect(e.event.type).toEqual(["error"]);
    expect((e.nginx as { error: { upstream: string } }).error.upstream).toBe("fastcgi://unix:/run/php-fpm.sock:");
    expect(byLine.get(3)!.event.type).toEqual(["info"]);
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([[4, "nginx_error_bad_timestamp"]]);
  });
});
