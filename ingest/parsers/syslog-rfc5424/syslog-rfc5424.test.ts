import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("syslog-rfc5424 parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { events, rejections } = fixtureEvents(parser, FIXTURES, "rfc5424.log");
  const at = (i: number) => events[i];

  it("reads every RFC 5424 header field and the structured data", () => {
    const e = at(0);
    expect(e["@timestamp"]).toBe("2024-10-31T22:14:15.003Z");
    expect(e.host?.name).toBe("mymachine.example.com");
    expect(e.process?.name).toBe("evntslog");
    expect(e.log?.syslog).toMatchObject({ priority: 165, facility: { code: 20, name: "local4" }, severity: { code: 5 }, version: "1", msgid: "ID47", structured_data: { "exampleSDID@32473": { iut: "3", eventSource: "Application", eventID: "1011" } } });
    expect(e.message).toBe("An application event log entry");
  });

  it("unescapes structured data values, and takes the clock's time when the stamp is nil", () => {
    const nil = events.find((e) => e.message === "nil timestamp")!;
    expect(nil["@timestamp"]).toBe("2024-11-01T00:00:00.000Z");
    expect(nil.event.created).toBe(nil["@timestamp"]);
    expect(nil.log?.syslog).toMatchObject({ structured_data: { meta: { sequenceId: "1", note: 'quote " bracket ] backslash \\' } } });
  });

  it("enriches authentication programs and converts offsets to UTC", () => {
    const ssh = at(3);
    expect(ssh["@timestamp"]).toBe("2024-10-31T16:20:49.298Z");
    expect(ssh.event).toMatchObject({ dataset: "system.auth", outcome: "success", category: ["authentication", "session"] });
    expect(ssh.source).toMatchObject({ ip: "10.128.176.58", port: 43134 });
    const sudo = at(4);
    expect(sudo.user).toMatchObject({ name: "moe", effective: { name: "root" } });
  });

  it("strips the BOM and accepts BSD lines with a PRI in the same stream", () => {
    expect(at(6).message).toBe("message with a BOM");
    const bsd = at(7);
    expect(bsd.log?.syslog).toMatchObject({ priority: 85 });
    expect(bsd["@timestamp"]).toBe("2024-10-23T16:54:59.000Z");
  });

  it("rejects a priority above 191 and unterminated structured data", () => {
    expect(rejections.map((r) => [r.record.line, r.code])).toEqual([
      [9, "syslog_bad_header"],
      [10, "syslog_bad_header"],
    ]);
  });
});
