// `sigil start` (every role in one process, in-process bus, embedded store) as the console shows it:
// the Rules page lists the loaded rules (detection, correlation, anomaly) with the running plan version,
// the Health page shows that version, and password guessing against the console itself (failed sign-ins
// from one address, then a success) raises the rule pack's brute-force alert through the pipeline,
// because the console publishes its sign-in audit records as ECS events on the events topic.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { rulePlanVersion } from "../../correlate/service.ts";

const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-start-audit-"));
afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 90_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const BRUTE_FORCE = "cc0853ab-b018-4bdc-b1be-475a9c1d4d3d";

describe("sigil start: rule catalog and console sign-in audit events", () => {
  it("shows the loaded rules and plan version, and alerts on guessed console passwords", async () => {
    const ruleDirs = ["rules/sigma", "rules/correlation", "rules/anomaly"].map((d) => path.join(PROJECT_ROOT, d));
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
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin/sigil.js"), "start", ...ruleDirs.flatMap((d) => ["--rules", d])], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const password = await waitFor("the first admin password", () => /created the first console user "admin" with password (\S+)/.exec(err)?.[1]);
      const url = await waitFor("the console URL", () => /console on (http:\/\/\S+)/.exec(err)?.[1]);
      const login = (username: string, pw: string) => fetch(`${url}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json", origin: url }, body: JSON.stringify({ username, password: pw }) });

      // password spraying from one address: five failures over several user names, then a success
      for (const name of ["root", "admin", "ann", "administrator", "bob"]) expect((await login(name, "Winter2026!")).status).toBe(400);
      const ok = await login("admin", password);
      expect(ok.status, await ok.clone().text()).toBe(200);
      const cookie = (ok.headers.get("set-cookie") ?? "").split(";")[0];
      const api = async <T>(p: string): Promise<T> => {
        const r = await fetch(`${url}${p}`, { headers: { cookie, origin: url } });
        expect(r.status, `${p}: ${await r.clone().text()}`).toBe(200);
        return (await r.json()) as T;
      };

      // Rules page: every loaded rule of the running plan, with its type; Health: the plan version
      type Rules = { plan: { version: string; rule_count: number; problems: unknown[] } | null; rules: { rule_id: string; type: string; in_catalog: boolean; hits: number; problems: unknown[] }[] };
      const rules = await waitFor("the rule catalog", async () => (await api<Rules>("/api/rules?window=all")).plan && (await api<Rules>("/api/rules?window=all")));
      expect(rules.plan!.version).toBe(rulePlanVersion(ruleDirs));
      const catalogued = rules.rules.filter((r) => r.in_catalog);
      expect(catalogued.length).toBe(rules.plan!.rule_count);
      expect(new Set(catalogued.map((r) => r.type))).toEqual(new Set(["detection", "correlation", "anomaly"]));
      expect(catalogued.find((r) => r.rule_id === BRUTE_FORCE)?.type).toBe("correlation");
      const health = await api<{ plan: { version: string | null; rules: number | null } }>("/api/health");
      expect(health.plan).toMatchObject({ version: rules.plan!.version, rules: rules.plan!.rule_count });

      // the sign-ins as events, and the brute-force alert they raise
      type Search = { hits: { event: { action: string; outcome: string }; user: { name: string }; source: { ip: string } }[] };
      const events = await waitFor("the sign-in events in the store", async () => {
        const s = await api<Search>(`/api/events/search?format=json&q=${encodeURIComponent("event.dataset:sigil.audit")}&size=50`);
        return s.hits.length >= 6 && s.hits;
      });
      expect(events.filter((e) => e.event.action === "auth.sign_in_failed").map((e) => e.user.name).sort()).toEqual(["admin", "administrator", "ann", "bob", "root"]);
      expect(events.find((e) => e.event.action === "auth.sign_in")).toMatchObject({ event: { outcome: "success" }, user: { name: "admin" } });
      // the correlation hit joins a chain (with the sign-in it ends on) and the chain's alert shows in the queue
      type Queue = { alerts: { id: string; title: string; chain_id: string | null; tactics: string[]; entities: { users: string[]; services: string[] } }[] };
      type ChainView = { chain: { steps: { rule: { id: string } }[] } };
      const withBruteForce = async () => {
        const found: Queue["alerts"] = [];
        for (const a of (await api<Queue>("/api/alerts")).alerts) {
          const c = await api<ChainView>(`/api/chains/${a.chain_id ?? a.id}`);
          if (c.chain.steps.some((st) => st.rule.id === BRUTE_FORCE)) found.push(a);
        }
        return found;
      };
      const alerts = await waitFor("the brute-force alert", async () => {
        const found = await withBruteForce();
        return found.length > 0 && found;
      });
      expect(alerts).toHaveLength(1);
      expect(alerts[0].tactics).toContain("credential-access");
      expect(alerts[0].entities.users).toContain("admin");
      expect(alerts[0].entities.services).toContain("sigil-console");
      const after = await waitFor("the rule hit on the Rules page", async () => (await api<Rules>("/api/rules?window=all")).rules.find((r) => r.rule_id === BRUTE_FORCE && r.hits > 0));
      expect(after.hits).toBe(1);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, err.slice(-3000)).toBe(0);
  });
});
