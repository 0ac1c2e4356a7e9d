import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("syslog-rfc3164 parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { events, rejections } = fixtureEvents(parser, FIXTURES, "messages.log");
  const byMsg = (s: string) => events.find((e) => e.message?.includes(s))!;

  it("reads host, program and pid, and the PRI when there is one", () => {
    const e = byMsg("DHCPACK");
    expect(e.host?.name).toBe("web-3");
    expect(e.process).toEqual({ name: "dhclient", pid: 812 });
    expect(e.log).toMatchObject({ level: "info", syslog: { priority: 30, facility: { code: 3, name: "daemon" }, severity: { code: 6, name: "informational" } } });
    expect(e.event.dataset).toBe("system.syslog");
  });

  it("handles lines without a host, with an empty host field, and with no tag at all", () => {
    const local = byMsg("local message");
    expect(local.host).toBeUndefined();
    expect(local.process?.name).toBe("myapp");
    const repeated = events.find((e) => e.message === "last message repeated 2 times")!;
    expect(repeated.host).toBeUndefined();
    expect(repeated.process?.name).toBe("sshd");
    const bare = events.find((e) => e.message === "--- last message repeated 1 time ---")!;
    expect(bare.host).toBeUndefined();
  });

  it("takes ISO 8601 stamps with their offsets, and programs with slashes", () => {
    expect(byMsg("checkpoint")["@timestamp"]).toBe("2024-10-31T21:59:58.123Z");
    const pf = byMsg("connect from");
    expect(pf["@timestamp"]).toBe("2024-10-31T23:59:59.000Z");
    expect(pf.process?.name).toBe("postfix/smtpd");
  });

  it("puts authentication programs in system.auth with their fields", () => {
    const e = byMsg("Accepted password");
    expect(e.event).toMatchObject({ dataset: "system.auth", outcome: "success", action: "ssh_login" });
    expect(e.user?.name).toBe("ops");
  });

  it("joins indented continuation lines onto the record before them", () => {
    const e = byMsg("Checking for updates");
    expect(e.message).toBe('Checking for updates\n\tticketStore=<KSPersistentTicketStore:0x100204520\n\t\tpath="/Library/Tickets"\n\t>');
    expect(e.log?.flags).toEqual(["multiline"]);
    expect(e.event.original?.split("\n")).toHaveLength(4);
    expect(byMsg("next record").host?.name).toBe("mac-1");
    expect(rejections).toEqual([]);
  });

  it("converts local times across daylight saving time in the configured zone", () => {
    const tz = fixtureEvents(parser, FIXTURES, "tz.tz-America~New_York.log").events;
    expect(tz.map((e) => e["@timestamp"])).toEqual(["2024-03-10T06:59:59.000Z", "2024-03-10T07:00:00.000Z", "2024-07-04T16:00:00.000Z"]);
  });
});
