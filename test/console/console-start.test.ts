// The console against the real pipeline: `sigil start --demo` (ingest receivers, correlate, console in
// one process) fed the demo intrusion through its receivers. In headless Chromium: sign in with the
// first admin user it prints, watch the demo's chain appear live, open its story, triage it, search for
// one of its events, sign out. Screenshots: test-results/console/start-*.png.

import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumMissing, cspViolations, launch, signIn, type Browser } from "./support/browser.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import type { Chain } from "../../schema/signal.ts";

const missing = chromiumMissing();

describe.skipIf(missing)(`console on sigil start --demo${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let proc: ChildProcess;
  let out = "";
  let url = "";
  let password = "";
  let dir = "";
  let b: Browser;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-start-e2e-"));
    const ports = ["CONSOLE__PORT", "INGEST__HTTP__PORT", "INGEST__OTLP__PORT", "INGEST__SYSLOG__UDP__PORT", "INGEST__SYSLOG__TCP__PORT", "TELEMETRY__METRICS__PORT"];
    const env: NodeJS.ProcessEnv = { ...process.env, SIGIL_DATA_DIR: path.join(dir, "data"), SIGIL_TELEMETRY__LOG_LEVEL: "warn" };
    for (const p of ports) env[`SIGIL_${p}`] = "0";
    proc = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin", "sigil.js"), "start", "--demo", "--demo-minutes", "3"], { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 150_000;
    while (!(url && password)) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`sigil start did not come up:\n${out.slice(-3000)}`);
      url = /console on (http\S+)/.exec(out)?.[1] ?? "";
      password = /with password (\S+)/.exec(out)?.[1] ?? "";
      await new Promise((r) => setTimeout(r, 200));
    }
    b = await launch();
  });

  afterAll(async () => {
    await b?.close();
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("signs in, watches the demo's chain appear live, opens its story, triages it, searches its event, signs out", async () => {
    const page = b.page;
    await signIn(page, url, "admin", password);
    await expect.poll(() => page.getByTestId("live-status").textContent(), { timeout: 15_000 }).toContain("live");

    // the intrusion is fed step by step after the benign history; its chain's alert grows in the open queue
    const chainRow = page.locator('[data-testid="alert-row"]', { hasText: "exfiltration" }).first();
    await chainRow.waitFor({ timeout: 120_000 });
    expect(out).toContain("demo fed");
    await b.screenshot("start-01-queue-live");
    const chainId = (await chainRow.getAttribute("data-alert-id"))!;

    // the story: its steps in time order with why they were linked, the entity graph, the raw events
    await chainRow.click();
    await page.getByTestId("open-story").click();
    await page.waitForURL(`**/chains/${chainId}`);
    await expect.poll(() => page.getByTestId("timeline-step").count(), { timeout: 15_000 }).toBeGreaterThan(4);
    const steps = await page.getByTestId("timeline-step").allTextContents();
    expect(steps.some((s) => /SQL injection|sqli/i.test(s))).toBe(true);
    expect(await page.getByTestId("graph-node").count()).toBeGreaterThan(4);
    await page.getByTestId("show-events").first().click();
    await page.getByTestId("step-events").getByTestId("event-text").first().waitFor();
    await b.screenshot("start-02-story");

    // triage on the story page
    const panel = page.getByTestId("triage-panel");
    await panel.getByTestId("acknowledge").click();
    await expect.poll(() => panel.getByTestId("alert-status").textContent()).toBe("Acknowledged");
    await panel.getByTestId("assign-me").click();
    await expect.poll(() => panel.getByTestId("alert-assignee").textContent()).toBe("admin");
    await panel.getByTestId("note-input").fill("Confirmed intrusion: SQLi → SSRF → stolen role → root on db-1 → exfiltration");
    await panel.getByTestId("add-note").click();
    await expect.poll(() => panel.locator(".note-text").count()).toBe(1);
    await panel.getByTestId("close-reason").selectOption("true_positive");
    await panel.getByTestId("close-alert").click();
    await expect.poll(() => panel.getByTestId("alert-status").textContent()).toBe("Closed · True positive");
    await b.screenshot("start-03-triaged");

    // search for one of the chain's events
    const chain = ((await (await page.request.get(`${url}/api/chains/${chainId}`)).json()) as { chain: Chain }).chain;
    const eventId = chain.steps.flatMap((s) => s.events ?? [])[0].id;
    await page.goto(`${url}/search?q=${encodeURIComponent(`event.id:${eventId}`)}&from=now-7d`);
    await expect.poll(() => page.getByTestId("search-total").textContent(), { timeout: 15_000 }).toBe("1 event");
    await page.getByTestId("result-row").first().click();
    await expect.poll(() => page.getByTestId("event-detail").textContent()).toContain(eventId);
    await b.screenshot("start-04-search");
    expect(await cspViolations(page)).toEqual([]);
    expect(b.problems).toEqual([]);

    // sign out
    await page.getByTestId("sign-out").click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect((await page.request.get(`${url}/api/auth/session`)).status()).toBe(401);
  });
});
