import { describe, expect, it } from "vitest";
import { isNonIdentifyingIp, normalizeHostName, normalizeIp, normalizeLogonId, normalizeProcessId, normalizeTraceId, normalizeUser } from "./entities.ts";
import { EntityModel } from "./model.ts";
import type { Signal } from "../../schema/signal.ts";

describe("normalizeUser", () => {
  it("maps DOMAIN\\user, user@domain and bare names to one user", () => {
    for (const raw of ["CORP\\Bob", "bob@corp.example.com", "BOB", " bob ", "corp.example.com\\bob"]) expect(normalizeUser(raw)?.name).toBe("bob");
    expect(normalizeUser("CORP\\Bob")?.domain).toBe("corp");
    expect(normalizeUser("bob@corp.example.com")?.domain).toBe("corp.example.com");
  });
  it("reads cloud principals", () => {
    expect(normalizeUser("arn:aws:iam::123456789012:user/dev/alice")?.name).toBe("alice");
    expect(normalizeUser("arn:aws:sts::123456789012:assumed-role/Admin/alice@corp.example")?.name).toBe("alice");
    expect(normalizeUser("arn:aws:iam::123456789012:root")?.name).toBe("root@123456789012");
    expect(normalizeUser("AROAEXAMPLEID12345678:alice")?.name).toBe("alice");
    expect(normalizeUser("user:alice@corp.example")?.name).toBe("alice");
    expect(normalizeUser("AIDAEXAMPLEID1234567890")?.id).toBe("AIDAEXAMPLEID1234567890");
  });
  it("keeps SIDs as ids and flags well-known identities and machine accounts", () => {
    const sid = normalizeUser("S-1-5-21-1004336348-1177238915-682003330-1105");
    expect(sid?.id).toBe("s-1-5-21-1004336348-1177238915-682003330-1105");
    expect(normalizeUser("S-1-5-18")?.pseudo).toBe(true);
    expect(normalizeUser("NT AUTHORITY\\SYSTEM")?.pseudo).toBe(true);
    expect(normalizeUser("NT AUTHORITY\\NETWORK SERVICE")?.pseudo).toBe(true);
    expect(normalizeUser("-")?.pseudo).toBe(true);
    expect(normalizeUser("PANDALAB\\ACCT01$")?.machine).toBe("acct01");
    expect(normalizeUser("")).toBeNull();
  });
});

describe("hosts, IPs, processes, sessions, traces", () => {
  it("normalizes host names to the short lower-case name", () => {
    expect(normalizeHostName("ACCT01.pandalab.com")).toBe("acct01");
    expect(normalizeHostName("acct01.")).toBe("acct01");
    expect(normalizeHostName("\\\\DC01")).toBe("dc01");
    expect(normalizeHostName("10.0.0.1")).toBeNull();
  });
  it("normalizes IPs and recognizes addresses that identify nothing", () => {
    expect(normalizeIp("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(normalizeIp("FE80::1%eth0")).toBe("fe80::1");
    expect(normalizeIp("not-an-ip")).toBeNull();
    for (const ip of ["127.0.0.1", "::1", "0.0.0.0", "255.255.255.255", "224.0.0.251", "fe80::1", "169.254.1.1", "192.168.1.255"]) expect(isNonIdentifyingIp(ip)).toBe(true);
    expect(isNonIdentifyingIp("10.0.5.13")).toBe(false);
    // written out in full (Sysmon for Linux)
    for (const ip of ["0:0:0:0:0:0:0:0", "0:0:0:0:0:0:0:1", "::"]) expect(isNonIdentifyingIp(ip)).toBe(true);
    for (const ip of ["2001:db8::1", "0:0:0:0:0:0:0:2", "fd00::10"]) expect(isNonIdentifyingIp(ip)).toBe(false);
  });
  it("normalizes process GUIDs, logon ids (scoped to the host) and trace ids", () => {
    expect(normalizeProcessId("{19DE6D3B-19AD-64DC-360C-000000000C00}")).toBe("19de6d3b-19ad-64dc-360c-000000000c00");
    expect(normalizeProcessId("{00000000-0000-0000-0000-000000000000}")).toBeNull();
    expect(normalizeLogonId("0x1A274C4", "acct01")).toBe("acct01|0x1a274c4");
    expect(normalizeLogonId(27423940, "acct01")).toBe("acct01|0x1a274c4");
    expect(normalizeLogonId("0x3e7", "acct01")).toBeNull();
    expect(normalizeLogonId("0x1a274c4", null)).toBeNull();
    expect(normalizeTraceId("4BF92F3577B34DA6A3CE929D0E0E4736")).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(normalizeTraceId("00000000000000000000000000000000")).toBeNull();
  });
});

function sig(fields: Record<string, unknown>): Signal {
  return {
    "@timestamp": "2026-01-01T00:00:00.000Z",
    event: { id: "s1", kind: "signal", dataset: "sigil.signal", severity: 3, risk_score: 47 },
    rule: { id: "r1", title: "t", level: "medium" },
    signal: { type: "match", key: "k", events: [] },
    ...fields,
  } as Signal;
}

describe("EntityModel", () => {
  it("learns host IPs from the events themselves and resolves signal IPs to hosts", () => {
    const m = new EntityModel();
    m.observe({ "@timestamp": "x", event: { id: "1", kind: "event", dataset: "d" }, host: { name: "ACCT01.pandalab.com" }, source: { ip: "192.168.1.43" }, destination: { ip: "10.0.5.13" }, network: { direction: "egress" } });
    m.observe({ "@timestamp": "x", event: { id: "2", kind: "event", dataset: "d" }, host: { name: "web-1", ip: ["10.1.0.5"] } });
    m.observe({ "@timestamp": "x", event: { id: "3", kind: "event", dataset: "winlog" }, host: { name: "dc01" }, winlog: { event_data: { WorkstationName: "LAPTOP7", IpAddress: "10.9.9.9", TargetUserSid: "S-1-5-21-1-2-3-1105", TargetUserName: "bob", TargetDomainName: "CORP" } } });
    m.observe({ "@timestamp": "x", event: { id: "4", kind: "event", dataset: "zeek.dns" }, dns: { question: { name: "db-1.corp.internal" }, resolved_ip: ["10.2.0.7"] } });
    m.observe({ "@timestamp": "x", event: { id: "5", kind: "event", dataset: "zeek.dhcp" }, zeek: { dhcp: { host_name: "printer-3", assigned_addr: "10.3.3.3" } } });
    expect(m.hostOfIp("192.168.1.43")).toBe("acct01");
    expect(m.hostOfIp("10.1.0.5")).toBe("web-1");
    expect(m.hostOfIp("10.9.9.9")).toBe("laptop7");
    expect(m.hostOfIp("10.2.0.7")).toBe("db-1");
    expect(m.hostOfIp("10.3.3.3")).toBe("printer-3");
    expect(m.hostOfIp("10.0.5.13")).toBeUndefined();
    expect(m.userOfSid("S-1-5-21-1-2-3-1105")).toBe("bob");

    const ents = m.signalEntities(sig({ source: { ip: "10.1.0.5" }, user: { id: "S-1-5-21-1-2-3-1105" } }));
    expect(ents.find((e) => e.type === "host")?.value).toBe("web-1");
    expect(ents.find((e) => e.type === "user")?.value).toBe("bob");
  });

  it("follows process lineage to ancestors with decreasing strength", () => {
    const m = new EntityModel();
    m.observe({ "@timestamp": "x", event: { id: "1", kind: "event", dataset: "d" }, process: { entity_id: "{BBBB-2}", parent: { entity_id: "{AAAA-1}" } } });
    m.observe({ "@timestamp": "x", event: { id: "2", kind: "event", dataset: "d" }, process: { entity_id: "{CCCC-3}", parent: { entity_id: "{BBBB-2}" } } });
    const ents = m.signalEntities(sig({ process: { entity_id: "{CCCC-3}" } }));
    const procs = ents.filter((e) => e.type === "process").map((e) => [e.value, e.factor]);
    expect(procs[0]).toEqual(["cccc-3", 1]);
    expect(procs.find(([v]) => v === "bbbb-2")?.[1]).toBeCloseTo(0.85);
    expect(procs.find(([v]) => v === "aaaa-1")?.[1]).toBeCloseTo(0.7225);
  });

  it("reads traces, span parents, cloud keys and sessions", () => {
    const m = new EntityModel();
    m.observe({ "@timestamp": "x", event: { id: "1", kind: "event", dataset: "aws.cloudtrail" }, aws: { cloudtrail: { user_identity: { arn: "arn:aws:iam::1:user/alice", access_key_id: "AKIAEXAMPLEKEY123456", principal_id: "AIDAEXAMPLE123456789" } } } });
    const ents = m.signalEntities(
      sig({ trace: { id: "ABCDEF0123456789" }, span: { id: "1111222233334444" }, parent: { id: "5555666677778888" }, aws: { cloudtrail: { user_identity: { access_key_id: "AKIAEXAMPLEKEY123456" } } } }),
    );
    const keys = ents.map((e) => e.key);
    expect(keys).toContain("trace:abcdef0123456789");
    expect(keys).toContain("span:1111222233334444");
    expect(keys).toContain("span:5555666677778888");
    expect(keys).toContain("cloud_key:AKIAEXAMPLEKEY123456");
    expect(keys).toContain("user:alice");
  });

  it("drops well-known identities; weighs places by their share of activity and identifiers by their fan-out", () => {
    const m = new EntityModel({ minObservations: 50 });
    const ev = (i: number, f: Record<string, unknown>) => m.observe({ "@timestamp": "x", event: { id: String(i), kind: "event", dataset: "d" }, host: { name: "acct01" }, ...f });
    for (let i = 0; i < 500; i++) ev(i, { source: { ip: `10.0.1.${i % 200}` }, destination: { ip: i % 100 === 0 ? "10.0.5.13" : "10.0.0.53" }, user: { name: i % 2 ? "nora" : `user${i}` } });
    // a loud scanner: many requests, one partner
    for (let i = 0; i < 300; i++) ev(1000 + i, { source: { ip: "203.0.113.9" }, destination: { ip: "10.0.0.80" } });
    const ents = m.signalEntities(sig({ host: { name: "ACCT01" }, user: { name: "NT AUTHORITY\\SYSTEM" }, destination: { ip: "10.0.5.13" }, source: { ip: "127.0.0.1" } }));
    expect(ents.some((e) => e.type === "user")).toBe(false);
    expect(ents.some((e) => e.value === "127.0.0.1")).toBe(false);
    const host = ents.find((e) => e.type === "host")!;
    const rare = ents.find((e) => e.value === "10.0.5.13")!;
    expect(m.weigh(host).weight).toBe(0); // in every event: the place, not a clue
    expect(m.weigh(rare).weight).toBeGreaterThan(0.5);
    const [dns] = m.signalEntities(sig({ destination: { ip: "10.0.0.53" } }));
    expect(m.weigh(dns).weight).toBeLessThan(0.1); // everyone talks to it
    const [loud] = m.signalEntities(sig({ source: { ip: "203.0.113.9" } }));
    expect(m.weigh(loud).weight).toBeGreaterThan(0.5); // loud, but one conversation
    const [nora] = m.signalEntities(sig({ user: { name: "nora" } }));
    expect(m.weigh(nora).weight).toBeLessThan(0.3); // half of all activity
  });

  it("treats an address that many hosts talk to as a hub", () => {
    const m = new EntityModel({ minObservations: 1_000_000 });
    for (let i = 0; i < 40; i++) m.observe({ "@timestamp": "x", event: { id: String(i), kind: "event", dataset: "d" }, host: { name: `h${i}` }, destination: { ip: "10.0.0.10" } });
    const [dc] = m.signalEntities(sig({ destination: { ip: "10.0.0.10" } }));
    expect(m.weigh(dc).peers).toBe(40);
    expect(m.weigh(dc).rarity).toBeCloseTo(8 / 40);
  });

  it("keeps learned state bounded and restores it from a snapshot", () => {
    const m = new EntityModel({ maxAliases: 100, maxKeys: 500 });
    for (let i = 0; i < 2000; i++) m.observe({ "@timestamp": "x", event: { id: String(i), kind: "event", dataset: "d" }, host: { name: `h${i}`, ip: [`10.0.${i >> 8}.${i & 255}`] } });
    expect(m.sizes().aliases).toBeLessThanOrEqual(100);
    expect(m.sizes().stats).toBeLessThanOrEqual(1000);
    const copy = new EntityModel();
    copy.restore(m.snapshot());
    expect(copy.hostOfIp("10.0.7.207")).toBe("h1999");
  });

  it("links runs of a program written during the observation, not runs of a pre-installed one", () => {
    const m = new EntityModel();
    m.observe({ "@timestamp": "x", event: { id: "w", kind: "event", category: ["file"], type: ["creation"], dataset: "d" }, process: { entity_id: "{dropper-1}" }, file: { path: "C:\\Program Files\\procdump.exe" } });
    const tool = m.signalEntities(sig({ process: { entity_id: "{run-2}", executable: "C:\\Program Files\\procdump.exe" } })).find((e) => e.type === "file")!;
    const os = m.signalEntities(sig({ process: { entity_id: "{run-3}", executable: "C:\\Windows\\System32\\systeminfo.exe" } })).find((e) => e.type === "file")!;
    expect(tool.factor).toBe(1);
    expect(tool.relation).toMatch(/written during the observation/);
    expect(os.factor).toBeCloseTo(0.3);
  });
});

