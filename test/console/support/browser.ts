// Headless Chromium for the console's end-to-end tests: Debian's /usr/bin/chromium through
// playwright-core (no browser download), a fresh profile per browser, and a recorder of everything
// that must never happen on a console page: script errors, CSP violations, payload markers.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { PROJECT_ROOT } from "../../support/shared-data.ts";

export const CHROMIUM = process.env.SIGIL_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS = path.join(PROJECT_ROOT, "test-results", "console");

export function chromiumMissing(): string | null {
  return fs.existsSync(CHROMIUM) ? null : `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set SIGIL_CHROMIUM)`;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Page errors, console errors and CSP violations seen so far. */
  problems: string[];
  newPage(): Promise<Page>;
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Installs the recorders on a page: CSP violations are reported into a window array before any app code runs. */
async function watch(page: Page, problems: string[]): Promise<void> {
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of (401|404|409)/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
}

export async function launch(opts: { viewport?: { width: number; height: number } } = {}): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
    viewport: opts.viewport ?? { width: 1440, height: 900 },
  });
  await context.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
  });
  const problems: string[] = [];
  const page = context.pages()[0] ?? (await context.newPage());
  await watch(page, problems);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    page,
    problems,
    async newPage() {
      const p = await context.newPage();
      await watch(p, problems);
      return p;
    },
    async screenshot(name) {
      const file = path.join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: false });
      return file;
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** CSP violations recorded in the page (by the init script). */
export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
}

/** Which of the given window markers a payload managed to set. */
export async function markersSet(page: Page, markers: string[]): Promise<string[]> {
  return page.evaluate((ms) => ms.filter((m) => (window as unknown as Record<string, unknown>)[m] !== undefined), markers);
}

export async function signIn(page: Page, base: string, user: string, password: string): Promise<void> {
  await page.goto(base + "/");
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("current-user").waitFor();
}
