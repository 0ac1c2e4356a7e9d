// The analyst's flow through the console in a real browser, shared by the embedded and the distributed
// end-to-end tests: sign in, watch the intrusion's chain appear live, open its story, triage it, search
// for one of its events, sign out. Screenshots go to test-results/console/<setup>-*.png.

import { expect } from "vitest";
import type { Page } from "playwright-core";
import type { Alert } from "../../schema/signal.ts";
import { intrusion, XSS, XSS_MARKERS } from "./support/fixtures.ts";
import { cspViolations, markersSet, signIn, type Browser } from "./support/browser.ts";
import { PASSWORD, type ConsoleEnv } from "./support/console-env.ts";

export interface FlowResult {
  chainId: string;
  /** Publish-to-row times of the alert, in ms (recorded, not asserted: benchmarks judge speed). */
  appearMs: number;
}

async function noHostileEffects(page: Page, b: Browser): Promise<void> {
  expect(await markersSet(page, XSS_MARKERS)).toEqual([]);
  expect(await cspViolations(page)).toEqual([]);
  expect(b.problems).toEqual([]);
  // nothing an attacker wrote became an element
  expect(await page.locator("main img[src='x'], main iframe, main svg[onload], main script").count()).toBe(0);
}

export async function analystFlow(env: ConsoleEnv, b: Browser, setup: string): Promise<FlowResult> {
  const page = b.page;
  const now = new Date();
  const { stages, chainId } = intrusion(new Date(now.getTime() - 15 * 60_000));

  // 1. sign in and wait for the live queue
  await signIn(page, env.url, "alice", PASSWORD);
  await expect.poll(() => page.getByTestId("live-status").textContent(), { timeout: 15_000 }).toContain("live");

  // 2. the intrusion arrives step by step; its alert appears without a reload
  const row = page.locator(`[data-testid="alert-row"][data-alert-id="${chainId}"]`);
  let published = 0;
  for (const s of stages) {
    if (s.alert && !published) published = Date.now();
    await env.publish(s);
  }
  await row.waitFor({ timeout: 20_000 });
  const appearMs = Date.now() - published;
  await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain("exfiltration");
  expect(await row.textContent()).toContain("Critical");
  await b.screenshot(`${setup}-01-queue-live`);

  // 3. the story: five steps in order, the entity graph, the raw events behind a step
  await row.click();
  await page.getByTestId("open-story").click();
  await page.waitForURL(`**/chains/${chainId}`);
  await expect.poll(() => page.getByTestId("timeline-step").count(), { timeout: 10_000 }).toBe(5);
  const steps = await page.getByTestId("timeline-step").allTextContents();
  expect(steps[0]).toContain("SQL injection");
  expect(steps[4]).toContain("Large upload");
  const nodes = await page.getByTestId("graph-node").allTextContents();
  for (const n of ["postgres", "db-1", "web-1", "203.0.113.50"]) expect(nodes.some((t) => t.includes(n)), `graph node ${n}`).toBe(true);
  await page.getByTestId("show-events").nth(2).click();
  const ev = page.getByTestId("step-events").getByTestId("event-text").first();
  await ev.waitFor();
  await page.getByTestId("step-events").getByRole("button", { name: "All fields" }).first().click();
  await expect.poll(() => page.getByTestId("step-events").textContent()).toContain(XSS.commandLine);
  await b.screenshot(`${setup}-02-story`);
  await noHostileEffects(page, b);

  // 4. triage from the story page: acknowledge, assign, a note, close with a reason
  const panel = page.getByTestId("triage-panel");
  await panel.getByTestId("acknowledge").click();
  await expect.poll(() => panel.getByTestId("alert-status").textContent()).toBe("Acknowledged");
  await panel.getByTestId("assign-me").click();
  await expect.poll(() => panel.getByTestId("alert-assignee").textContent()).toBe("alice");
  await panel.getByTestId("note-input").fill("Confirmed: <b>not bold</b>, key planted by the attacker");
  await panel.getByTestId("add-note").click();
  await expect.poll(() => panel.locator(".note-text").first().textContent()).toBe("Confirmed: <b>not bold</b>, key planted by the attacker");
  expect(await panel.locator(".note-text b").count()).toBe(0);
  await panel.getByTestId("close-reason").selectOption("true_positive");
  await panel.getByTestId("close-alert").click();
  await expect.poll(() => panel.getByTestId("alert-status").textContent()).toBe("Closed · True positive");
  await b.screenshot(`${setup}-03-triaged`);
  await env.store.refresh();
  const stored = (await env.store.get("alerts", chainId)) as Alert;
  expect(stored).toMatchObject({ status: "closed", close_reason: "true_positive", assignee: "alice" });
  expect(stored.notes.map((n) => n.author)).toEqual(["alice"]);
  const byAlice = { op: "and" as const, args: [{ op: "term" as const, field: "target", value: chainId, wildcard: false, phrase: false }, { op: "term" as const, field: "actor", value: "alice", wildcard: false, phrase: false }] };
  await expect
    .poll(async () => {
      await env.store.refresh("audit");
      return (await env.store.search("audit", { query: byAlice, size: 50 })).hits.length;
    })
    .toBe(4);

  // 5. search for one of its events (the root shell) and open its fields
  const shellEvent = stages[2].events[0];
  await page.getByRole("link", { name: "Search" }).click();
  await page.getByTestId("search-query").fill(`event.id:${shellEvent.event.id}`);
  await page.getByTestId("search-submit").click();
  await expect.poll(() => page.getByTestId("search-total").textContent(), { timeout: 10_000 }).toBe("1 event");
  await page.getByTestId("result-row").first().click();
  await expect.poll(() => page.getByTestId("event-detail").textContent()).toContain(XSS.commandLine);
  await b.screenshot(`${setup}-04-search`);

  // the hostile host name shows as text in the results table
  await page.getByTestId("search-query").fill('"hello from a hostile host"');
  await page.getByTestId("search-submit").click();
  await expect.poll(() => page.getByTestId("result-row").first().textContent(), { timeout: 10_000 }).toContain(XSS.host);
  await noHostileEffects(page, b);

  // 6. sign out: back to the sign-in form, and the session no longer opens the API
  await page.getByTestId("sign-out").click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  expect((await page.request.get(env.url + "/api/auth/session")).status()).toBe(401);
  await b.screenshot(`${setup}-05-signed-out`);
  return { chainId, appearMs };
}
