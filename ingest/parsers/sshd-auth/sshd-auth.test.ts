import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";
import { runParser } from "../conformance.ts";
import { defaultParseContext } from "../types.ts";
import type { EcsEvent } from "../../../schema/ecs.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

describe("sshd-auth parser", () => {
  defineFixtureTests(parser, FIXTURES);

  const { byLine, rejections } = fixtureEvents(parser, FIXTURES, "auth.log");

  it("maps an accepted public key login to a successful authentication with user and source", () => {
    const e = byLine.get(1)!;
    expect(e.event).toMatchObject({ dataset: "system.auth", action: "ssh_login", outcome: "success", category: ["authentication", "session"] });
    expect(e.user?.name).toBe("deploy");
    expect(e.source).toMatchObject({ ip: "203.0.113.17", port: 50122 });
    expect(e.related?.ip).toEqual(["203.0.113.17"]);
    expect(e["@timestamp"]).toBe("2024-10-30T08:14:02.000Z");
    expect((e.system as { auth: { ssh: { method: string } } }).auth.ssh.method).toBe("publickey");
  });

  it("maps failed passwords, invalid users and PAM failures to failed authentications", () => {
    for (const line of [3, 4, 5, 6, 7, 8, 9]) {
      const e = byLine.get(line)!;
      expect(e.event.category, `line ${line}`).toContain("authentication");
      expect(e.event.outcome, `line ${line}`).toBe("failure");
    }
    expect(byLine.get(5)!.user?.name).toBe("oracle");
    expect(byLine.get(8)!.user?.name).toBe("root");
    expect(byLine.get(8)!.source?.ip).toBe("198.51.100.23");
    expect((byLine.get(4)!.system as { auth: { repeated: number } }).auth.repeated).toBe(2);
  });

  it("records sessions opened and closed by PAM, su and systemd-logind", () => {
    expect(byLine.get(2)!.event).toMatchObject({ category: ["session"], type: ["start"], action: "logged-on" });
    // opened by uid 0 (sshd) for deploy: the actor is user.*, the session's user user.effective.*
    expect(byLine.get(2)!.user).toEqual({ id: "0", effective: { name: "deploy", id: "1001" } });
    expect(byLine.get(2)!.related?.user).toEqual(["deploy"]);
    expect(byLine.get(16)!.event).toMatchObject({ type: ["end"], action: "logged-off" });
    expect(byLine.get(18)!.user).toMatchObject({ name: "deploy", effective: { name: "root" }, id: "1001" });
    expect(byLine.get(19)!.event.type).toEqual(["start"]);
    expect(byLine.get(20)!.event.type).toEqual(["end"]);
  });

  it("maps sudo commands, and denials to a failure", () => {
    const ok = byLine.get(13)!;
    expect(ok.user).toMatchObject({ name: "deploy", effective: { name: "root" } });
    expect((ok.system as { auth: { sudo: { command: string } } }).auth.sudo.command).toBe("/usr/bin/systemctl restart nginx");
    expect(ok.event.outcome).toBe("success");
    const denied = byLine.get(14)!;
    expect(denied.event.outcome).toBe("failure");
    expect((denied.system as { auth: { sudo: { error: string } } }).auth.sudo.error).toBe("user NOT in sudoers");
  });

  it("maps user and group management to iam events", () => {
    expect(byLine.get(21)!.event).toMatchObject({ category: ["iam"], type: ["user", "creation"] });
    expect(byLine.get(21)!.user).toMatchObject({ name: "backup", id: "1002" });
    expect(byLine.get(22)!.group).toEqual({ name: "backup", id: "1002" });
    expect(byLine.get(23)!.event.action).toBe("password-changed");
    expect(byLine.get(24)!.event.type).toEqual(["user", "deletion"]);
  });

  it("keeps IPv6 peers and resolves December stamps read in November to the previous year", () => {
    expect(byLine.get(11)!.source?.ip).toBe("2001:db8::5");
    expect(byLine.get(11)!.user?.name).toBe("admin");
    expect(byLine.get(26)!["@timestamp"]).toBe("2023-12-31T23:59:59.000Z");
    expect(rejections).toEqual([]);
  });

  it("dead-letters lines that are not syslog, orphan continuation lines and impossible dates", () => {
    const r = fixtureEvents(parser, FIXTURES, "rejected.log");
    expect(r.events).toHaveLength(1);
    expect(r.rejections.map((j) => [j.record.line, j.code])).toEqual([
      [2, "syslog_bad_header"],
      [3, "syslog_orphan_continuation"],
      [4, "syslog_bad_header"],
    ]);
  });

  it("resolves year-less stamps in the configured time zone", () => {
    const line = "Jul  4 12:00:00 h sshd[1]: Accepted password for a from 10.1.1.1 port 1 ssh2";
    expect(runParser(parser, [line], { timezone: "Europe/Berlin" }).events[0]["@timestamp"]).toBe("2024-07-04T10:00:00.000Z");
    expect(runParser(parser, [line], { timezone: "+05:30" }).events[0]["@timestamp"]).toBe("2024-07-04T06:30:00.000Z");
  });

  it("gives the same record the same id, and a record's origin separates identical lines", () => {
    const line = "Oct 30 08:15:40 h sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2";
    const a = runParser(parser, [line, line]);
    expect(a.events).toHaveLength(2);
    expect(a.events[0].event.id).toBe(a.events[1].event.id);
    const ids: string[] = [];
    const s = parser.open(defaultParseContext());
    const emit = { event: (e: EcsEvent) => ids.push(e.event.id), reject: () => undefined };
    s.push({ data: line, source: "f", origin: "auth.log@0" }, emit);
    s.push({ data: line, source: "f", origin: "auth.log@80" }, emit);
    s.flush(emit);
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);
  });
});
