import { spawn } from "node:child_process";
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { autogroupOf, sessionOf, setAutogroupNice } from "./sched.ts";

const linux = process.platform === "linux" && fs.existsSync("/proc/self/stat");
// autogroups in use for this process (not switched off, not in a CPU cgroup of its own)
const autogroups = linux && autogroupOf("self") !== null;

describe("scheduling groups", () => {
  it.skipIf(!linux)("reads the session of a process", () => {
    const sid = sessionOf("self");
    expect(Number.isInteger(sid)).toBe(true);
    expect(sessionOf(process.pid)).toBe(sid);
    expect(sessionOf(2 ** 22 + 12345)).toBeNull(); // beyond pid_max: no such process
  });

  it.skipIf(!autogroups)("(needs the kernel's autogroups) a detached child leads its own session and autogroup, whose nice value can be lowered without touching ours", async () => {
    const ours = autogroupOf("self")!;
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { detached: true, stdio: "ignore" });
    try {
      await new Promise((r) => child.once("spawn", r));
      const pid = child.pid!;
      expect(sessionOf(pid)).toBe(pid);
      const before = autogroupOf(pid)!;
      expect(before.group).not.toBe(ours.group);
      expect(before.nice).toBe(0);
      expect(setAutogroupNice(pid, 9)).toBe("set");
      expect(autogroupOf(pid)).toEqual({ group: before.group, nice: 9 });
      expect(autogroupOf("self")).toEqual(ours);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("a process that does not exist: an error, not a throw", () => {
    const r = setAutogroupNice(2 ** 22 + 12345, 5);
    if (autogroups) expect(r).toBeInstanceOf(Error);
    else expect(r).toBe("absent");
  });
});
