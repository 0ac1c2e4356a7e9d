// The role-process helper against small stand-in children (`node -e`): one that says it is ready after
// a while, one that exits early, one that never says it, one that ignores SIGTERM; and `sigil` itself.
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SigilError } from "../../platform/errors.ts";
import { freePort, runSigil, spawnRole, startRole, type RoleHandle } from "./role-process.ts";

/** A stand-in role: `node -e <code>`. (It ends by running out of work, not process.exit(), which can cut off stderr still being written to the pipe.) */
const fake = (code: string): readonly [string, ...string[]] => [process.execPath, "-e", code];
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const started: RoleHandle[] = [];
afterEach(async () => {
  for (const r of started.splice(0)) await r.stop("SIGKILL");
});

/** The SigilError a promise rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<SigilError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SigilError);
  return err as SigilError;
}

describe("startRole", () => {
  it("resolves with the ready line's match once it is printed, keeps stderr, and stops with the exit code", async () => {
    const lines: string[] = [];
    const chunks: string[] = [];
    const r = await startRole({
      role: "fake",
      command: fake(`
        console.error("starting");
        const alive = setInterval(() => {}, 1000);
        process.on("SIGTERM", () => { console.error("shutting down"); clearInterval(alive); });
        setTimeout(() => console.error("fake: http listening on http://127.0.0.1:4321"), 300);`),
      ready: /http listening on (\S+)/,
      timeoutMs: 30_000,
      onLine: (l) => lines.push(l),
      onStderr: (c) => chunks.push(c),
    });
    started.push(r);
    expect(r.match[1]).toBe("http://127.0.0.1:4321");
    expect(r.role).toBe("fake");
    expect(r.running).toBe(true);
    expect(alive(r.pid)).toBe(true);
    expect(r.stderr()).toContain("starting\n");
    expect(await r.stop()).toBe(0);
    expect(r.running).toBe(false);
    expect(alive(r.pid)).toBe(false);
    // everything it printed up to the exit is read by the time stop() resolves
    expect(r.stderr()).toMatch(/shutting down\n$/);
    expect(lines).toEqual(["starting", "fake: http listening on http://127.0.0.1:4321", "shutting down"]);
    expect(chunks.join("")).toBe(r.stderr());
    // stopping again answers the same
    expect(await r.stop()).toBe(0);
  });

  it("matches a ready line that arrives in pieces, and only a whole line", async () => {
    const r = await startRole({
      role: "fake",
      command: fake(`
        process.stderr.write("http listening on http://127.0.0");
        setTimeout(() => process.stderr.write(".1:99 now\\nnext"), 300);
        setInterval(() => {}, 1000);`),
      ready: /http listening on (\S+)/g,
      timeoutMs: 30_000,
    });
    started.push(r);
    expect(r.match[1]).toBe("http://127.0.0.1:99");
  });

  it("rejects at once when the role exits before it is ready, with the exit code and its stderr", async () => {
    const t0 = Date.now();
    const err = await rejection(
      startRole({
        role: "fake",
        command: fake(`console.error("sigil fake: config error at /etc/sigil.yml:3: unknown key"); process.exitCode = 3; setTimeout(() => {}, 100);`),
        ready: /http listening on (\S+)/,
        timeoutMs: 60_000,
      }),
    );
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(err.code).toBe("role_exited");
    expect(err.message).toContain("sigil fake exited with code 3");
    expect(err.message).toContain("/http listening on (\\S+)/");
    expect(err.message).toContain("config error at /etc/sigil.yml:3: unknown key");
  });

  it("rejects after the timeout naming the role, the line awaited and the last ~2 KB of stderr, and leaves nothing running", async () => {
    const err = await rejection(
      startRole({
        role: "correlate",
        command: fake(`
          for (let i = 0; i < 200; i++) console.error("noise line " + String(i).padStart(4, "0") + " " + "x".repeat(40));
          setInterval(() => {}, 1000);`),
        ready: /correlate role running/,
        timeoutMs: 1_500,
      }),
    );
    expect(err.code).toBe("role_timeout");
    expect(err.message).toMatch(/^sigil correlate \(pid \d+\): timed out after 1500 ms waiting for a line matching \/correlate role running\//);
    const pid = Number(/\(pid (\d+)\)/.exec(err.message)![1]);
    const tail = err.message.slice(err.message.indexOf("stderr:\n") + "stderr:\n".length);
    expect(tail.length).toBeGreaterThan(1500);
    expect(tail.length).toBeLessThanOrEqual(2048);
    expect(tail).toMatch(/^noise line \d{4} /); // cut at a line start
    expect(tail).toContain("noise line 0199 ");
    expect(tail).not.toContain("noise line 0000 ");
    expect(alive(pid)).toBe(false);
  });

  it("says so when the role printed nothing", async () => {
    const err = await rejection(startRole({ role: "quiet", command: fake(`setInterval(() => {}, 1000);`), ready: /ready/, timeoutMs: 500 }));
    expect(err.code).toBe("role_timeout");
    expect(err.message).toContain("it printed nothing on stderr");
  });
});

describe("spawnRole", () => {
  it("stop() sends SIGKILL after the grace period to a role that ignores SIGTERM", async () => {
    const r = spawnRole({ role: "stubborn", command: fake(`process.on("SIGTERM", () => console.error("ignoring SIGTERM")); console.error("up"); setInterval(() => {}, 1000);`) });
    started.push(r);
    await r.waitFor(/^up$/, 30_000);
    const code = await r.stop("SIGTERM", 500);
    expect(code).toBeNull();
    expect(r.proc.signalCode).toBe("SIGKILL");
    expect(r.stderr()).toContain("ignoring SIGTERM");
    expect(alive(r.pid)).toBe(false);
  });

  it("waitFor finds a line printed before it was called, then later ones; waitUntil fails at once when the role exits", async () => {
    const r = spawnRole({
      role: "fake",
      command: fake(`console.error("first 1"); setTimeout(() => console.error("second 2"), 400); setTimeout(() => {}, 800);`),
    });
    started.push(r);
    await r.exited.then(
      () => undefined,
      () => undefined,
    );
    expect((await r.waitFor(/first (\d)/, 1000))[1]).toBe("1");
    expect((await r.waitFor(/second (\d)/, 1000))[1]).toBe("2");
    const t0 = Date.now();
    const err = await rejection(r.waitUntil("its health check", () => false, 60_000));
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(err.code).toBe("role_exited");
    expect(err.message).toContain("sigil fake exited with code 0 before its health check");
    const late = await rejection(r.waitFor(/never/, 60_000));
    expect(late.code).toBe("role_exited");
  });

  it("waitUntil resolves when its check does, while the role runs", async () => {
    const r = spawnRole({ role: "fake", command: fake(`setInterval(() => {}, 1000);`) });
    started.push(r);
    let n = 0;
    await r.waitUntil("the third poll", () => ++n >= 3, 30_000, 10);
    expect(n).toBe(3);
  });

  it("keeps only the latest keepChars of stderr", async () => {
    const r = spawnRole({
      role: "chatty",
      keepChars: 1000,
      command: fake(`for (let i = 0; i < 500; i++) console.error("line " + String(i).padStart(3, "0"));`),
    });
    started.push(r);
    expect(await r.exited).toBe(0);
    const kept = r.stderr();
    expect(kept.length).toBe(1000);
    expect(kept.slice(-18)).toBe("line 498\nline 499\n");
    expect(kept).not.toContain("line 000");
  });

  it("reports a command that cannot be started as an exit", async () => {
    const r = spawnRole({ role: "missing", command: [path.join(os.tmpdir(), "sigil-no-such-binary")] });
    started.push(r);
    expect(await r.exited).toBeNull();
    const err = await rejection(r.waitFor(/ready/, 10_000));
    expect(err.message).toContain("sigil missing could not be started");
  });
});

describe("runSigil and freePort", () => {
  it("runSigil returns stdout, and throws with the command and its output when it fails", () => {
    expect(runSigil(["--help"])).toContain("usage: sigil <command>");
    let err: unknown;
    try {
      runSigil(["no-such-command"]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SigilError);
    expect((err as SigilError).code).toBe("sigil_command_failed");
    expect((err as SigilError).message).toMatch(/^sigil no-such-command exited with code [12]: /);
  });

  it("freePort gives a port a listener can take", async () => {
    const port = await freePort();
    const s = net.createServer();
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", resolve);
    });
    expect((s.address() as net.AddressInfo).port).toBe(port);
    await new Promise((r) => s.close(r));
  });
});
