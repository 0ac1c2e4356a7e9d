// Windows event JSON → ECS: the three shapes (EVTX rendering, flat OTRF/NXLog, Winlogbeat), EventData
// names without spaces, UserData flattening, and rejections with codes for malformed records.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { exportSkewMs, parser, recordTimeMs, shapeOf } from "./index.ts";
import { compileZone } from "../common/time.ts";
import { defaultParseContext, type Emit, type ParseContext } from "../types.ts";
import type { EcsEvent } from "../../../schema/ecs.ts";
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

  describe("event time", () => {
    const run = (records: object[], ctx: Partial<ParseContext> = {}) => {
      const session = parser.open(defaultParseContext({ now: () => new Date("2030-01-01T00:00:00Z"), ...ctx }));
      const out: EcsEvent[] = [];
      const emit: Emit = { event: (e) => out.push(e), reject: (r) => expect.fail(r.reason) };
      records.forEach((r, i) => session.push({ data: JSON.stringify(r), source: "t", line: i + 1, offset: i * 100 }, emit));
      session.flush(emit);
      return out;
    };
    // The OTRF LSASS campaign export: TimeCreated/@timestamp rendered 19 h off, Sysmon's UtcTime right.
    const security = (t: string, n: number) => ({ SourceName: "Microsoft-Windows-Security-Auditing", Channel: "Security", Hostname: "ACCT01.pandalab.com", EventID: 4688, TimeCreated: t, "@timestamp": t, NewProcessName: `C:\\x${n}.exe` });
    const sysmon = (t: string, utc: string) => ({ SourceName: "Microsoft-Windows-Sysmon", Channel: SYSMON, Hostname: "ACCT01.pandalab.com", EventID: 1, TimeCreated: t, "@timestamp": t, UtcTime: utc, Image: "C:\\a.exe" });
    const SYSMON = "Microsoft-Windows-Sysmon/Operational";

    it("takes a flat record's time from Sysmon's UtcTime, not the export's @timestamp or TimeCreated", () => {
      const [e] = run([sysmon("2023-08-15T05:33:51.733Z", "2023-08-16 00:33:51.685")]);
      expect(e["@timestamp"]).toBe("2023-08-16T00:33:51.685Z");
      expect((e.winlog as { time_created?: string }).time_created).toBe("2023-08-15T05:33:51.733Z");
    });

    it("prefers a time that names its zone over NXLog's zone-less local EventTime, and reads zone-less times in the context's zone", () => {
      const nx = { SourceName: "Microsoft-Windows-Security-Auditing", Channel: "Security", Hostname: "h", EventID: 4624, EventTime: "2020-09-22 14:53:30", "@timestamp": "2020-09-22T18:53:32.340Z" };
      expect(run([nx])[0]["@timestamp"]).toBe("2020-09-22T18:53:32.340Z");
      const only = { ...nx, "@timestamp": undefined };
      expect(run([only], { timezone: "America/New_York" })[0]["@timestamp"]).toBe("2020-09-22T18:53:30.000Z");
      expect(recordTimeMs("2020-10-18 10:56:14.2836", compileZone("UTC"))).toBe(Date.parse("2020-10-18T10:56:14.283Z"));
      expect(recordTimeMs("2020-10-18T10:56:14.2836Z", compileZone("+05:00"))).toBe(Date.parse("2020-10-18T10:56:14.283Z"));
      expect(recordTimeMs("Oct 18 2020 10:56:14 GMT", compileZone("UTC"))).toBe(Date.parse("2020-10-18T10:56:14Z"));
      expect(Number.isNaN(recordTimeMs("yesterday", compileZone("UTC")))).toBe(true);
    });

    it("learns a host's export-clock skew from records with both clocks (quarter hours only) and applies it to that host's later records", () => {
      expect(exportSkewMs(Date.parse("2023-08-16T00:33:51.685Z"), Date.parse("2023-08-15T05:33:51.733Z"))).toBe(19 * 3600_000);
      expect(exportSkewMs(Date.parse("2023-08-16T00:33:51Z"), Date.parse("2023-08-16T00:33:48Z"))).toBe(0); // delay, not a zone
      expect(exportSkewMs(Date.parse("2023-08-16T00:40:00Z"), Date.parse("2023-08-16T00:33:00Z"))).toBe(0); // 7 minutes: no zone differs so
      const out = run([security("2023-08-15T05:30:00.000Z", 1), sysmon("2023-08-15T05:33:51.733Z", "2023-08-16 00:33:51.685"), security("2023-08-15T05:34:00.000Z", 2), { ...security("2023-08-15T05:35:00.000Z", 3), Hostname: "OTHER" }]);
      expect(out.map((e) => e["@timestamp"])).toEqual([
        "2023-08-15T05:30:00.000Z", // live: nothing is held, an earlier record stays as exported
        "2023-08-16T00:33:51.685Z",
        "2023-08-16T00:34:00.000Z", // 19 h skew learned for ACCT01's TimeCreated
        "2023-08-15T05:35:00.000Z", // another host: no calibration
      ]);
    });

    it("offline (clockLookahead) holds records until their host's clock is calibrated, then emits them in order", () => {
      const recs = [security("2023-08-15T05:30:00.000Z", 1), security("2023-08-15T05:31:00.000Z", 2), sysmon("2023-08-15T05:33:51.733Z", "2023-08-16 00:33:51.685"), security("2023-08-15T05:34:00.000Z", 3)];
      const out = run(recs, { clockLookahead: 100 });
      expect(out.map((e) => [e.process?.executable ?? "", e["@timestamp"]])).toEqual([
        ["C:\\x1.exe", "2023-08-16T00:30:00.000Z"],
        ["C:\\x2.exe", "2023-08-16T00:31:00.000Z"],
        ["C:\\a.exe", "2023-08-16T00:33:51.685Z"],
        ["C:\\x3.exe", "2023-08-16T00:34:00.000Z"],
      ]);
      // no calibration within the lookahead: emitted as they are, nothing lost
      const none = run([security("2023-08-15T05:30:00.000Z", 1), security("2023-08-15T05:31:00.000Z", 2), security("2023-08-15T05:32:00.000Z", 3)], { clockLookahead: 2 });
      expect(none.map((e) => e["@timestamp"])).toEqual(["2023-08-15T05:30:00.000Z", "2023-08-15T05:31:00.000Z", "2023-08-15T05:32:00.000Z"]);
      const ended = run([security("2023-08-15T05:30:00.000Z", 1)], { clockLookahead: 100 });
      expect(ended).toHaveLength(1);
      // clocks that agree: nothing changes
      const agree = run([security("2023-08-16T00:30:00.000Z", 1), sysmon("2023-08-16T00:33:51.733Z", "2023-08-16 00:33:51.685")], { clockLookahead: 100 });
      expect(agree.map((e) => e["@timestamp"])).toEqual(["2023-08-16T00:30:00.000Z", "2023-08-16T00:33:51.685Z"]);
    });
  });
});
