// Windows event JSON → ECS: the three shapes (EVTX rendering, flat OTRF/NXLog, Winlogbeat), EventData
// names without spaces, UserData flattening, and rejections with codes for malformed records.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser, shapeOf } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("windows-events-json parser", () => {
  defineFixtureTests(parser, FIXTURES);

  it("recognizes each shape and nothing else", () => {
    expect(parser.detect('{"Event":{"System":{"EventID":1}}}')).toBeGreaterThan(0.9);
    expect(parser.detect('{"EventID":4688,"Channel":"Security"}')).toBeGreaterThan(0.5);
    expect(parser.detect('{"winlog":{"event_id":1,"channel":"x"}}')).toBeGreaterThan(0.5);
    expect(parser.detect('{"message":"hello"}')).toBe(0);
    expect(parser.detect("Jun 14 15:16:01 combo sshd[1]: x")).toBe(0);
    expect(shapeOf({ EventID: 1 })).toBeNull();
  });

  it("maps the EVTX rendering: System fields, EventData verbatim with spaces stripped, UserData", () => {
    const { events } = fixtureEvents(parser, FIXTURES, "evtx.json");
    const wmi = events.find((e) => (e.winlog as any)?.channel === "Microsoft-Windows-WMI-Activity/Operational")!;
    expect((wmi.winlog as any).user_data.Operation).toContain("cleareventlog");
    const def = events.find((e) => e.event.code === "1119")!;
    expect(Object.keys((def.winlog as any).event_data)).toContain("ThreatName");
    expect(Object.keys((def.winlog as any).event_data).some((k) => k.includes(" "))).toBe(false);
    const proc = events.find((e) => e.event.code === "1" && e.event.module === "sysmon")!;
    expect(proc.event.category).toEqual(["process"]);
    expect(proc.process?.executable).toBe((proc.winlog as any).event_data.Image);
    expect(proc.process?.pid).toBe((proc.winlog as any).event_data.ProcessId);
    expect(proc.host?.name).toBe((proc.winlog as any).computer_name);
    expect(proc["@timestamp"]).toMatch(/^2\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("maps the flat OTRF shape: Security 4688 names, hex pids, NXLog fields not taken as EventData", () => {
    const { events } = fixtureEvents(parser, FIXTURES, "otrf.json");
    const p = events.find((e) => e.event.code === "4688")!;
    expect(p.process?.executable).toBe("C:\\Users\\wardog\\Desktop\\Outflank-Dumpert.exe");
    expect(p.process?.pid).toBe(0x1a74);
    expect(p.process?.parent?.executable).toBe("C:\\Windows\\System32\\cmd.exe");
    expect((p.winlog as any).event_data.Message).toBeUndefined();
    const reg = events.find((e) => e.event.code === "13")!;
    expect(reg.registry?.path).toBe((reg.winlog as any).event_data.TargetObject);
    const net = events.find((e) => e.event.code === "3")!;
    expect(net.network?.direction === "egress" || net.network?.direction === "ingress").toBe(true);
  });

  it("keeps a Winlogbeat document's own ECS fields and strips spaces from event_data names", () => {
    const { events } = fixtureEvents(parser, FIXTURES, "winlogbeat.json");
    const e = events[0];
    expect(e.event.code).toBe("1");
    expect(e.process?.command_line).toBe("cmd.exe /c whoami /all");
    expect(e.user).toMatchObject({ domain: "CORP", name: "alice" });
    expect((e.winlog as any).event_data.OriginalFileName).toBe("Cmd.Exe");
  });

  it("rejects malformed records with a code and the line", () => {
    const { rejections } = fixtureEvents(parser, FIXTURES, "bad.json");
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [2, "windows_not_event"],
      [3, "windows_missing_field"],
      [4, "json_invalid"],
    ]);
  });
});
