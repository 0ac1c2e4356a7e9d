// Script payloads in everything attackers and insiders can write, shown on every console page in real
// headless Chromium: none runs, no CSP violation, and each payload is visible as text (so the check is
// not vacuous). test/console covers log content on the queue, chain story, step events and search; this
// file covers the rest: sign-in user names in the audit log (written by anyone who can
// reach the login form), rule titles, files and lint messages on the rules page (a hostile rule file),
// baseline entities (log content), alert titles and triage notes (an insider), all as an admin sees them.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { chromiumMissing, cspViolations, launch, markersSet, signIn, type Browser } from "../console/support/browser.ts";
import { PASSWORD, startConsoleEnv, type ConsoleEnv } from "../console/support/console-env.ts";
import { otherAlerts } from "../console/support/fixtures.ts";
import { catalogDocs } from "../../schema/rule-catalog.ts";
import { BASELINE_HISTORY_KIND, BASELINE_SUMMARY_KIND, baselineHistoryId, baselineSummaryId } from "../../schema/baseline-history.ts";
import type { Alert } from "../../schema/signal.ts";

/** One payload per place, each setting its own marker if it ever ran. */
const P = {
  login: `<img src=x onerror="window.__x_login=1">`,
  agent: `Mozilla/5.0 <script>window.__x_agent=1</script>`,
  ruleTitle: `Rule <svg onload="window.__x_rule=1">`,
  ruleFile: `rules/<iframe srcdoc="<script>parent.__x_file=1</script>">.yml`,
  lint: `bad value <img src=x onerror="window.__x_lint=1">`,
  entity: `ws1"><script>window.__x_entity=1</script>`,
  baseline: `Baseline <a href="javascript:window.__x_base=1">x</a>`,
  alertTitle: `Alert <img src=x onerror="window.__x_alert=1">`,
  note: `see <img src=x onerror="window.__x_note=1"> and <a href="javascript:window.__x_note2=1">this</a>`,
};
const MARKERS = ["__x_login", "__x_agent", "__x_rule", "__x_file", "__x_lint", "__x_entity", "__x_base", "__x_alert", "__x_note", "__x_note2"];

const missing = chromiumMissing();
let env: ConsoleEnv;
let b: Browser;
let alertId = "";

async function inert(page: Page, what: string): Promise<void> {
  // give any payload the chance to run (image errors, lazy handlers), then check
  await page.waitForTimeout(300);
  expect(await markersSet(page, MARKERS), `${what}: payload markers`).toEqual([]);
  expect(await cspViolations(page), `${what}: CSP violations`).toEqual([]);
  // no payload became a clickable javascript: (or data:) link
  expect(await page.locator("a[href^='javascript:' i], a[href^='data:' i], [src^='javascript:' i]").count(), `${what}: script links`).toBe(0);
}

describe.skipIf(missing)(`hostile content on every console page${missing ? ` (skipped: ${missing})` : ""}`, () => {
  beforeAll(async () => {
    env = await startConsoleEnv();
    await env.addUser("boss", "admin");
    await env.addUser("mallory", "analyst");
    const now = new Date();
    // anyone on the network: a failed sign-in with a payload as user name and user agent
    const bad = await fetch(`${env.url}/api/auth/login`, { method: "POST", headers: { origin: env.url, "content-type": "application/json", "user-agent": P.agent }, body: JSON.stringify({ username: P.login, password: "nope" }) });
    expect([bad.status, ((await bad.json()) as { error: string }).error]).toEqual([400, "sign_in_failed"]);
    // a hostile rule file, as the correlate role publishes it
    const [header, ...entries] = catalogDocs({
      planVersion: "v-hostile",
      builtAt: now,
      rules: [{ id: "r-hostile", title: P.ruleTitle, type: "detection", level: "high", status: "test", file: P.ruleFile, enabled: false, problems: [{ code: "sigma_bad_value", message: P.lint, severity: "error", file: P.ruleFile, line: 3, column: 1 }] }],
      problems: [{ code: "rule_file_unreadable", message: P.lint, severity: "error", file: P.ruleFile }],
    });
    await env.store.put("state", [header, ...entries]);
    // a baseline whose entity value came from a log line
    await env.store.put("state", [
      {
        id: baselineHistoryId("a-hostile", "host.name", P.entity),
        kind: BASELINE_HISTORY_KIND,
        "@timestamp": now.toISOString(),
        rule_id: "a-hostile",
        rule_title: P.baseline,
        metric: "event_count",
        entity: { field: "host.name", value: P.entity },
        interval_ms: 3_600_000,
        points: [{ t: new Date(now.getTime() - 3_600_000).toISOString(), observed: 3, low: 1, high: 5, center: 3 }],
      },
      // and its summary, which the list of baselines reads (correlate/baselines/history.ts writes both)
      {
        id: baselineSummaryId(baselineHistoryId("a-hostile", "host.name", P.entity)),
        kind: BASELINE_SUMMARY_KIND,
        "@timestamp": now.toISOString(),
        history_id: baselineHistoryId("a-hostile", "host.name", P.entity),
        rule_id: "a-hostile",
        rule_title: P.baseline,
        metric: "event_count",
        entity: { field: "host.name", value: P.entity },
        interval_ms: 3_600_000,
        point_count: 1,
        last_point: { t: new Date(now.getTime() - 3_600_000).toISOString(), observed: 3, low: 1, high: 5, center: 3 },
      },
    ]);
    const alerts = otherAlerts(now, 2).map((a, i): Alert => (i === 0 ? { ...a, title: P.alertTitle, entities: { ...a.entities, hosts: [P.entity] } } : a));
    await env.store.put("alerts", alerts);
    await env.store.refresh();
    alertId = alerts[0].id;
    // an insider's note through the real triage route
    const login = await fetch(`${env.url}/api/auth/login`, { method: "POST", headers: { origin: env.url, "content-type": "application/json" }, body: JSON.stringify({ username: "mallory", password: PASSWORD }) });
    const cookie = /(__Host-sigil_session=[^;]+)/.exec(login.headers.get("set-cookie") ?? "")![1];
    const csrf = ((await login.json()) as { csrf: string }).csrf;
    const note = await fetch(`${env.url}/api/alerts/${encodeURIComponent(alertId)}/triage`, { method: "POST", headers: { origin: env.url, cookie, "x-csrf-token": csrf, "content-type": "application/json" }, body: JSON.stringify({ change: { note: P.note } }) });
    expect(note.status).toBe(200);
    b = await launch();
    await signIn(b.page, env.url, "boss", PASSWORD);
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await env?.close();
  });

  it("the queue and the triage panel show the alert title, entity and note as text", async () => {
    const page = b.page;
    await page.goto(`${env.url}/?alert=${encodeURIComponent(alertId)}`);
    await expect.poll(() => page.getByTestId("triage-panel").textContent(), { timeout: 15_000 }).toContain(P.note);
    await expect.poll(() => page.locator("body").textContent()).toContain(P.alertTitle);
    await inert(page, "queue");
  });

  it("the audit log shows the failed sign-in's user name as text", async () => {
    const page = b.page;
    await page.goto(`${env.url}/admin/audit`);
    await expect.poll(() => page.locator("body").textContent(), { timeout: 15_000 }).toContain(P.login);
    await inert(page, "audit");
  });

  it("the rules page shows a hostile rule's title, file and lint problem as text", async () => {
    const page = b.page;
    await page.goto(`${env.url}/rules`);
    await expect.poll(() => page.getByTestId("rules-table").textContent(), { timeout: 15_000 }).toContain(P.ruleTitle);
    const text = (await page.locator("body").textContent()) ?? "";
    expect(text).toContain(P.lint);
    await inert(page, "rules");
  });

  it("the baselines page and a baseline's history show the entity and title as text", async () => {
    const page = b.page;
    await page.goto(`${env.url}/baselines`);
    await expect.poll(() => page.locator("body").textContent(), { timeout: 15_000 }).toContain(P.entity);
    await page.getByRole("link", { name: P.baseline }).first().click();
    await expect.poll(() => page.url()).toContain("rule=a-hostile");
    await page.waitForTimeout(500);
    await inert(page, "baselines");
  });

  it("the users and health pages run nothing either", async () => {
    for (const p of ["/admin/users", "/health"]) {
      await b.page.goto(env.url + p);
      await b.page.waitForLoadState("networkidle");
      await inert(b.page, p);
    }
    expect(b.problems.filter((x) => !/health|metrics|scrape/i.test(x))).toEqual([]);
  });
});
