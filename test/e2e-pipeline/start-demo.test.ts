// `sigil start --demo` (what `npm start` runs): every role in one process on the in-process bus and
// the embedded store, the first admin user printed once, the demo fed through the HTTP, OTLP and
// syslog receivers; the intrusion's chain then shows in the console's alert queue and chain view
// (through the console API, signed in as that admin), and SIGTERM stops everything with exit 0.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/shared-data.ts";

const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-start-demo-"));
afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 150_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe("sigil start --demo", () => {
  it("shows the demo intrusion as one chain in the console", async () => {
    const env = {
      ...process.env,
      SIGIL_DATA_DIR: path.join(cwd, "data"),
      SIGIL_INGEST__HTTP__PORT: "0",
      SIGIL_INGEST__OTLP__PORT: "0",
      SIGIL_INGEST__SYSLOG__UDP__PORT: "0",
      SIGIL_INGEST__SYSLOG__TCP__PORT: "0",
      SIGIL_CONSOLE__PORT: "0",
      SIGIL_CONSOLE__WEB__AUTO_BUILD: "false",
      SIGIL_TELEMETRY__METRICS__ENABLED: "false",
      SIGIL_LOG_LEVEL: "warn",
    };
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin/sigil.js"), "start", "--demo", "--demo-minutes", "12"], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const password = await waitFor("the first admin password", () => /created the first console user "admin" with password (\S+)/.exec(err)?.[1]);
      const url = await waitFor("the console URL", () => /console on (http:\/\/\S+)/.exec(err)?.[1]);
      await waitFor("the demo to be fed", () => err.includes("demo fed"));

      const login = await fetch(`${url}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json", origin: url }, body: JSON.stringify({ username: "admin", password }) });
      expect(login.status, await login.clone().text()).toBe(200);
      const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
      const api = async <T>(p: string): Promise<T> => {
        const r = await fetch(`${url}${p}`, { headers: { cookie, origin: url } });
        expect(r.status, `${p}: ${await r.clone().text()}`).toBe(200);
        return (await r.json()) as T;
      };
      type Queue = { alerts: { id: string; tactics: string[]; status: string; chain_id?: string; merged_into?: string }[] };
      const alert = await waitFor("the intrusion's alert in the queue", async () => {
        const q = await api<Queue>("/api/alerts");
        return q.alerts.find((a) => !a.merged_into && a.tactics.includes("reconnaissance") && a.tactics.includes("exfiltration"));
      });
      const open = (await api<Queue>("/api/alerts")).alerts.filter((a) => !a.merged_into && a.status !== "closed");
      expect(open.map((a) => a.id)).toEqual([alert.id]);
      const chain = await api<{ chain: { steps: unknown[]; tactics: string[] } }>(`/api/chains/${alert.chain_id ?? alert.id}`);
      expect(chain.chain.steps.length).toBeGreaterThanOrEqual(7);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, err.slice(-3000)).toBe(0);
  });
});
