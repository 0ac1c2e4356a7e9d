import { spawn } from "node:child_process";
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { autogroupOf, autogroupsEnabled, sessionOf, setAutogroupNice } from "./sched.ts";

const linux = process.platform === "linux" && fs.existsSync("/proc/self/stat");
const autogroups = linux && autogroupsEnabled();

describe("scheduling groups", () => {
  it.skipIf(!linux)("reads the session of a process", () => {
    const sid = sessionOf("self");
    expect(Number.isInteger(sid)).toBe(true);
    expect(sessionOf(process.pid)).toBe(sid);
    expect(sessionOf(2 ** 22 + 12345)).toBeNull(); // beyond pid_max: no such process
  });

  it.skipIf(!autogroups)("a detached child leads its own session and autogroup, whose nice value can be lowered without touching ours", async () => {
    const ours = autogroupOf("self"); // null where this process is in the root group (a CI runner's, a container's)
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { detached: true, stdio: "ignore" });
    try {
      await new Promise((r) => child.once("spawn", r));
      const pid = child.pid!;
      expect(sessionOf(pid)).toBe(pid);
      const before = autogroupOf(pid)!;
      expect(before).not.toBeNull();
      expect(before.group).not.toBe(ours?.group);
      expect(before.nice).toBe(0);
      expect(setAutogroupNice(pid, 9)).toBe("set");
      expect(autogroupOf(pid)).toEqual({ group: before.group, nice: 9 });
      expect(autogroupOf("self")).toEqual(ours);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it.skipIf(!autogroups)("a process in the root group (PID 1's, where no setsid() since boot moved it) has none: absent, not an error", () => {
    const text = fs.readFileSync("/proc/1/autogroup", "utf8");
    if (text === "") {
      expect(autogroupOf(1)).toBeNull();
      expect(setAutogroupNice(1, 5)).toBe("absent");
    } else {
      // an init with a group of its own (systemd): read as any other, and left as it is
      expect(autogroupOf(1)?.group).toBe(text.split(" ")[0]);
    }
  });

  it("a process that does not exist: an error, not a throw", () => {
    const r = setAutogroupNice(2 ** 22 + 12345, 5);
    if (autogroups) expect(r).toBeInstanceOf(Error);
    else expect(r).toBe("absent");
  });
});
