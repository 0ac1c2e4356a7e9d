// The audit trail of changes an attacker with a foothold would make, recorded append-only in the store:
// agent tokens created and revoked and console users added and disabled (`sigil tokens`, `sigil users`,
// as an operator runs them), and rule files added, changed to something broken and removed under a running
// correlate role (a hostile rule change). Sign-ins, triage and config changes are proven elsewhere
// (ui/server/auth/auth.test.ts, ui/server/routes/routes.test.ts, test/security/console-access.test.ts,
// test/e2e-pipeline/start-console-audit.test.ts).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { loadConfig } from "../../platform/config/load.ts";
import { MemoryBus } from "../../platform/bus/memory.ts";
import { EmbeddedStore, embeddedOptionsFromConfig } from "../../platform/store/embedded.ts";
import { logger } from "../../platform/telemetry/log.ts";
import type { Doc } from "../../platform/store/types.ts";
import { correlateRole } from "../../correlate/service.ts";

let dir: string;

function sigil(args: string[], input?: string): string {
  const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "bin", "sigil.js"), ...args], { cwd: dir, input, encoding: "utf8", timeout: 120_000, env: { ...process.env, SIGIL_CONFIG: path.join(dir, "sigil.yml") } });
  if (r.status !== 0) throw new Error(`sigil ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function auditRecords(store: EmbeddedStore, action: string): Promise<Doc[]> {
  await store.refresh();
  const r = await store.search("audit", { query: { op: "term", field: "action", value: action, wildcard: false, phrase: false }, size: 100, sort: [{ field: "@timestamp", order: "asc" }] });
  return r.hits;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-audit-"));
  fs.writeFileSync(path.join(dir, "sigil.yml"), stringify({ data_dir: path.join(dir, "data") }));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("token and user changes", () => {
  it("records token.create, token.revoke, user.create and user.disable with the target, never the secret", async () => {
    const created = JSON.parse(sigil(["tokens", "create", "--name", "edge-7", "--json"])) as { token: string; id: string };
    sigil(["tokens", "revoke", "edge-7"]);
    sigil(["users", "add", "eve", "--role", "analyst"], "a long enough password\n");
    sigil(["users", "disable", "eve"]);
    const config = loadConfig({ file: path.join(dir, "sigil.yml"), env: {} });
    const store = new EmbeddedStore({ ...embeddedOptionsFromConfig(config.store, config.data_dir), queryWorkers: 0 });
    await store.init();
    try {
      const create = await auditRecords(store, "token.create");
      const revoke = await auditRecords(store, "token.revoke");
      expect(create.map((r) => (r.details as { name: string }).name)).toEqual(["edge-7"]);
      expect(revoke.map((r) => r.target)).toEqual(create.map((r) => r.target));
      expect((await auditRecords(store, "user.create")).map((r) => r.target)).toEqual(["eve"]);
      expect((await auditRecords(store, "user.disable")).map((r) => r.target)).toEqual(["eve"]);
      const all = JSON.stringify([...create, ...revoke]);
      expect(all).not.toContain(created.token);
      expect(all).not.toContain(created.token.split("_").pop());
      for (const r of [...create, ...revoke]) expect(typeof r.actor === "string" && r.actor.length > 0).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe("rule changes under a running correlate role", () => {
  it("records rules.change for a rule added (success), broken (failure, plan kept) and removed, naming the files", async () => {
    const rules = path.join(dir, "rules");
    fs.mkdirSync(rules);
    const rule = (id: string, word: string) => stringify({ title: `Rule ${word}`, id, status: "test", level: "low", logsource: { product: "test" }, detection: { sel: { "message|contains": word }, condition: "sel" } });
    fs.writeFileSync(path.join(rules, "execution_one.yml"), rule("11111111-1111-4111-8111-111111111111", "one"));
    const config = loadConfig({ env: {} });
    const bus = new MemoryBus({ partitions: 1 });
    const store = new EmbeddedStore({ file: ":memory:" });
    const role = correlateRole({ config, bus, store, log: logger("test", { level: "silent" }), rules: [rules], cwd: dir });
    await role.lifecycle.start();
    const until = async (what: string, fn: () => Promise<boolean>) => {
      const end = Date.now() + 20_000;
      while (!(await fn())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const changes = () => auditRecords(store, "rules.change");
    try {
      const before = (await changes()).length;
      fs.writeFileSync(path.join(rules, "execution_two.yml"), rule("22222222-2222-4222-8222-222222222222", "two"));
      await until("the added rule recorded", async () => (await changes()).length > before);
      const added = (await changes()).at(-1)!;
      expect([added.outcome, (added.details as { files_added: string[] }).files_added]).toEqual(["success", ["rules/execution_two.yml"]]);
      const swaps = role.stats.planSwaps;
      fs.writeFileSync(path.join(rules, "execution_two.yml"), "title: broken\nid: nope\ndetection: {condition: missing}\n");
      await until("the broken change recorded", async () => (await changes()).some((r) => r.outcome === "failure"));
      const broken = (await changes()).find((r) => r.outcome === "failure")!;
      expect((broken.details as { files_changed: string[] }).files_changed).toEqual(["rules/execution_two.yml"]);
      expect(role.stats.planSwaps, "the broken rule set did not replace the running plan").toBe(swaps);
      fs.rmSync(path.join(rules, "execution_two.yml"));
      await until("the removal recorded", async () => (await changes()).some((r) => (r.details as { files_removed?: string[] }).files_removed?.includes("rules/execution_two.yml")));
      for (const r of await changes()) expect(String(r.actor)).toMatch(/^correlate@/);
    } finally {
      await role.lifecycle.stop();
      await bus.close();
      await store.close();
    }
  });
});
