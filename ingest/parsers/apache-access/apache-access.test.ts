import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("apache-access parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { byLine, rejections } = fixtureEvents(parser, FIXTURES, "access.log");

  it("maps the combined format to source, http, url and user agent", () => {
    const e = byLine.get(1)!;
    expect(e["@timestamp"]).toBe("2024-10-31T12:55:36.000Z");
    expect(e.event).toMatchObject({ dataset: "apache.access", category: ["web"], type: ["access"], outcome: "success" });
    expect(e.source).toEqual({ address: "203.0.113.9", ip: "203.0.113.9" });
    expect(e.http).toEqual({ request: { method: "GET", referrer: "https://example.com/start" }, response: { status_code: 200, body: { bytes: 2326 } }, version: "1.1" });
    expect(e.url).toEqual({ original: "/index.html", path: "/index.html", extension: "html" });
    expect(e.user_agent?.original).toContain("Firefox/131.0");
  });

  it("keeps the authenticated user, the query string and a '-' size as no size", () => {
    const e = byLine.get(2)!;
    expect(e.user?.name).toBe("alice");
    expect(e.url).toMatchObject({ path: "/login.php", query: "next=%2Fadmin" });
    expect(e.http?.response).toEqual({ status_code: 302 });
  });

  it("marks 4xx responses as failures and keeps IPv6 clients", () => {
    const e = byLine.get(3)!;
    expect(e.source?.ip).toBe("2001:db8::1");
    expect(e.event.outcome).toBe("failure");
    expect(e.event.type).toEqual(["access", "error"]);
    expect(e["@timestamp"]).toBe("2024-10-31T20:56:02.000Z");
  });

  it("reads the virtual host prefix, hostnames as clients, empty and binary requests", () => {
    expect(byLine.get(4)!.destination).toEqual({ domain: "www.example.org", port: 443 });
    expect(byLine.get(5)!.http).toEqual({ response: { status_code: 408 } });
    expect((byLine.get(6)!.apache as { access: { request_line: string } }).access.request_line).toContain("\\x16\\x03");
    expect(byLine.get(8)!.source).toEqual({ address: "monitoring-host", domain: "monitoring-host" });
  });

  it("reads the ssl_request format", () => {
    const e = byLine.get(7)!;
    expect(e.tls).toMatchObject({ cipher: "TLS_AES_256_GCM_SHA384", version: "1.3", version_protocol: "tls" });
    expect(e.http?.response).toEqual({ body: { bytes: 1375 } });
  });

  it("rejects other lines and impossible dates", () => {
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [9, "access_log_bad_line"],
      [10, "access_log_bad_line"],
    ]);
  });
});
