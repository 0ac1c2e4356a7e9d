import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("suricata-eve parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { byLine, rejections } = fixtureEvents(parser, FIXTURES, "eve.json");

  it("maps alerts to event.kind alert with the rule, severity and flow counters", () => {
    const e = byLine.get(1)!;
    expect(e.event).toMatchObject({ kind: "alert", category: ["network", "intrusion_detection"], type: ["allowed"], severity: 2, dataset: "suricata.eve", start: "2024-10-31T11:59:59.000Z" });
    expect(e.rule).toEqual({ id: "2001219", name: "ET SCAN Potential SSH Scan", category: "Attempted Information Leak", version: "20" });
    expect(e.source).toMatchObject({ ip: "198.51.100.66", port: 40000, bytes: 180, packets: 3 });
    expect(e.network).toMatchObject({ transport: "tcp", protocol: "ssh", bytes: 300, packets: 5 });
    expect(e.network?.community_id).toMatch(/^1:/);
    expect(e.observer).toMatchObject({ ingress: { interface: { name: "eth0" } } });
    expect((e.suricata as { eve: { flow_id: number } }).eve.flow_id).toBe(1111);
    expect(byLine.get(9)!.event.type).toEqual(["denied"]);
  });

  it("maps DNS answers of the v2 format and failures of the v1 format", () => {
    expect(byLine.get(2)!.dns).toMatchObject({ type: "answer", id: 4242, response_code: "NOERROR", question: { name: "login.example.com", type: "A" }, resolved_ip: ["203.0.113.80"], header_flags: ["RD", "RA"] });
    expect(byLine.get(3)!.event.outcome).toBe("failure");
  });

  it("maps HTTP, TLS, file info, flows and stats", () => {
    const http = byLine.get(4)!;
    expect(http.http).toMatchObject({ request: { method: "GET" }, response: { status_code: 404, body: { bytes: 153 } }, version: "1.1" });
    expect(http.url).toMatchObject({ domain: "login.example.com", path: "/admin.php", query: "cmd=id" });
    expect(http.user_agent?.original).toBe("sqlmap/1.8");
    expect(byLine.get(5)!.tls).toMatchObject({ version: "1.3", client: { server_name: "login.example.com", ja3: "e7d705a3286e19ea42f587b344ee6865" }, server: { subject: "CN=login.example.com", hash: { sha1: "AABBCCDD" } } });
    expect(byLine.get(6)!.file).toMatchObject({ name: "update.exe", size: 4096, hash: { md5: "d41d8cd98f00b204e9800998ecf8427e" } });
    expect(byLine.get(7)!.event).toMatchObject({ type: ["connection", "end"], duration: 65e9 });
    expect(byLine.get(8)!.event.kind).toBe("metric");
  });

  it("rejects records without a time or an event type", () => {
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [10, "suricata_bad_timestamp"],
      [11, "suricata_not_eve"],
    ]);
  });
});
