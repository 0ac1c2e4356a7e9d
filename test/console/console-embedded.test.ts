// The console end to end in headless Chromium over the embedded setup (SQLite store, in-process bus):
// the analyst's flow, two analysts changing one alert, 10,000 alerts, and hostile log content.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analystFlow } from "./flow.ts";
import { chromiumMissing, launch, signIn, cspViolations, markersSet, type Browser } from "./support/browser.ts";
import { PASSWORD, startConsoleEnv, type ConsoleEnv } from "./support/console-env.ts";
import { background, otherAlerts, XSS_MARKERS } from "./support/fixtures.ts";
import type { Alert } from "../../schema/signal.ts";

const missing = chromiumMissing();

describe.skipIf(missing)(`console in a browser, embedded setup${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let env: ConsoleEnv;
  let b: Browser;

  beforeAll(async () => {
    env = await startConsoleEnv();
    await env.addUser("alice", "analyst");
    await env.addUser("bob", "analyst");
    await env.addUser("vera", "viewer");
    const now = new Date();
    await env.publish({ events: background(now) });
    await env.store.put("alerts", otherAlerts(now, 40));
    b = await launch();
  });

  afterAll(async () => {
    await b?.close();
    await env?.close();
  });

  it("signs in, watches the chain appear live, opens its story, triages it, searches its event, signs out", async () => {
    const r = await analystFlow(env, b, "embedded");
    expect(r.chainId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("shows a conflict instead of erasing another analyst's change, and lets the analyst choose", async () => {
    const page = b.page;
    await signIn(page, env.url, "alice", PASSWORD);
    await page.goto(`${env.url}/?alert=bg-alert-1`);
    const panel = page.getByTestId("triage-panel");
    await expect.poll(() => panel.getByTestId("alert-assignee").textContent(), { timeout: 10_000 }).toBe("unassigned");
    // bob, on another console process whose update has not reached this one yet, takes the alert
    await env.store.update("alerts", "bg-alert-1", (cur) => ({ ...(cur as Alert), assignee: "bob", updated: new Date().toISOString() }));
    await panel.getByTestId("assign-me").click();
    const notice = panel.getByTestId("conflict-notice");
    await notice.waitFor();
    expect(await notice.textContent()).toContain("now bob");
    expect(await panel.getByTestId("alert-assignee").textContent()).toBe("bob");
    await b.screenshot("embedded-06-conflict");
    await notice.getByRole("button", { name: "Apply mine" }).click();
    await expect.poll(() => panel.getByTestId("alert-assignee").textContent()).toBe("alice");
    expect(((await env.store.get("alerts", "bg-alert-1")) as Alert).assignee).toBe("alice");
  });

  it("keeps the queue filters in the URL and a second analyst sees triage changes live", async () => {
    const page = b.page;
    await page.goto(`${env.url}/?status=new&severity=low`);
    await expect.poll(() => page.getByTestId("live-status").textContent(), { timeout: 10_000 }).toContain("live");
    const rows = page.getByTestId("alert-row");
    await expect.poll(() => rows.count()).toBeGreaterThan(0);
    for (const t of await rows.allTextContents()) {
      expect(t).toContain("Low");
      expect(t).toContain("New");
    }
    // a second analyst in a second browser
    const bob = await launch();
    try {
      await signIn(bob.page, env.url, "bob", PASSWORD);
      const first = await rows.first().getAttribute("data-alert-id");
      await bob.page.goto(`${env.url}/?alert=${first}`);
      await bob.page.getByTestId("triage-panel").getByTestId("acknowledge").click();
      // alice's filtered queue (status=new) drops the alert without a reload
      await expect.poll(() => page.locator(`[data-alert-id="${first}"]`).count(), { timeout: 10_000 }).toBe(0);
      expect(await markersSet(bob.page, XSS_MARKERS)).toEqual([]);
    } finally {
      await bob.close();
    }
  });

  it("stays usable with 10,000 alerts: a virtualized list that scrolls to the last one", async () => {
    const many = otherAlerts(new Date(), 10_000).map((a, i) => ({ ...a, id: `bulk-${i}`, tactics: ["collection"], title: `bulk alert ${i}` }));
    for (let i = 0; i < many.length; i += 2000) await env.store.put("alerts", many.slice(i, i + 2000));
    await env.store.refresh();
    const page = b.page;
    await page.goto(`${env.url}/?tactic=collection&sort=first_seen`);
    await expect.poll(() => page.getByTestId("queue-count").textContent(), { timeout: 30_000 }).toBe("10,000 alerts");
    const inDom = await page.getByTestId("alert-row").count();
    expect(inDom).toBeGreaterThan(5);
    expect(inDom).toBeLessThan(80);
    await page.locator('[aria-label="Alerts"]').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await expect.poll(() => page.locator('[data-alert-id="bulk-9999"]').count(), { timeout: 10_000 }).toBe(1);
    // keyboard navigation moves the selection
    await page.locator('[data-alert-id="bulk-9999"]').click();
    await page.keyboard.press("k");
    await expect.poll(() => new URL(page.url()).searchParams.get("alert")).toBe("bulk-9998");
    await b.screenshot("embedded-07-ten-thousand");
    expect(await cspViolations(page)).toEqual([]);
  });

  it("shows a viewer the queue but no triage controls, and refuses pages outside the role", async () => {
    const v = await launch();
    try {
      await signIn(v.page, env.url, "vera", PASSWORD);
      await v.page.goto(`${env.url}/?alert=bg-alert-2`);
      await v.page.getByTestId("alert-status").waitFor();
      expect(await v.page.getByTestId("acknowledge").count()).toBe(0);
      await v.page.goto(`${env.url}/health`);
      await v.page.getByText("Not allowed").waitFor();
      expect((await v.page.request.get(`${env.url}/api/health`)).status()).toBe(403);
    } finally {
      await v.close();
    }
  });
});
