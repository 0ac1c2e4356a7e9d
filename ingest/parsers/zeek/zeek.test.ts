import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { logFromPath, parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";
import { communityId } from "../common/net.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("zeek parser", () => {
  defineFixtureTests(parser, FIXTURES);

  it("reads TSV logs by their #fields and #types headers", () => {
    const { events, rejections } = fixtureEvents(parser, FIXTURES, "conn.log");
    expect(events).toHaveLength(3);
    const e = events[0];
    expect(e.event).toMatchObject({ dataset: "zeek.conn", category: ["network"], type: ["connection", "end"], duration: 1502318000 });
    expect(e["@timestamp"]).toBe("2024-10-31T10:00:00.123Z");
    expect(e.source).toMatchObject({ ip: "10.0.0.5", port: 49822, bytes: 1141, packets: 12 });
    expect(e.destination).toMatchObject({ ip: "93.184.216.34", port: 443, bytes: 6815 });
    expect(e.network).toMatchObject({ transport: "tcp", protocol: "ssl", direction: "outbound", bytes: 7956 });
    expect(e.network?.community_id).toBe(communityId("10.0.0.5", 49822, "93.184.216.34", 443, "tcp"));
    expect((e.zeek as { conn: { tunnel_parents: unknown[]; local_orig: boolean } }).conn).toMatchObject({ tunnel_parents: [], local_orig: true });
    expect(events[2].event.type).toEqual(["connection", "denied"]);
    expect(events[2].network?.direction).toBe("inbound");
    expect(rejections.map((r) => r.code)).toEqual(["zeek_field_count"]);
  });

  it("reads JSON logs in the dotted and the underscore spelling, named by @stream or _path", () => {
    const { events, rejections } = fixtureEvents(parser, FIXTURES, "mixed-json.log");
    const by = (ds: string) => events.find((e) => e.event.dataset === ds)!;
    const dns = by("zeek.dns");
    expect(dns.dns).toMatchObject({ question: { name: "login.example.com", type: "A", class: "IN" }, id: 4242, response_code: "NOERROR", resolved_ip: ["203.0.113.80"], header_flags: ["RD", "RA"] });
    expect(dns.observer?.hostname).toBe("sensor-1");
    expect(dns.source?.ip).toBe("10.0.0.5");
    const http = by("zeek.http");
    expect(http["@timestamp"]).toBe("2024-10-31T10:00:11.250Z");
    expect(http.http).toMatchObject({ request: { method: "POST", body: { bytes: 120 } }, response: { status_code: 401 } });
    expect(http.url).toMatchObject({ domain: "login.example.com", path: "/session", query: "x=1", port: 80 });
    expect(http.user?.name).toBe("jdoe");
    expect(http.event.outcome).toBe("failure");
    expect(by("zeek.ssl").tls).toMatchObject({ version: "1.3", version_protocol: "tls", client: { server_name: "login.example.com" } });
    const files = by("zeek.files");
    expect(files.file).toMatchObject({ name: "update.exe", mime_type: "application/x-dosexec", hash: { md5: "d41d8cd98f00b204e9800998ecf8427e" } });
    expect(by("zeek.notice").event.kind).toBe("alert");
    expect(by("zeek.notice").rule?.name).toBe("SSH::Password_Guessing");
    expect(by("zeek.kerberos").user).toEqual({ name: "svc_sql", domain: "EXAMPLE.LOCAL" });
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [7, "zeek_unknown_log"],
      [8, "zeek_bad_timestamp"],
    ]);
  });

  it("names logs from file names", () => {
    expect(logFromPath("/var/log/zeek/conn.log")).toBe("conn");
    expect(logFromPath("SCRANTON_dce_rpc.log")).toBe("dce_rpc");
    expect(logFromPath("http.09:00:00-10:00:00.log.gz")).toBe("http");
    expect(logFromPath("whatever.txt")).toBeUndefined();
  });
});
