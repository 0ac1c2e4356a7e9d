// bench/console: the console's targets, measured on a real console role (embedded store, production
// build of the web app) with headless Chromium and simulated consoles. Prints one JSON object:
//   first_load      cold and warm loads of the queue (navigation start → first alert row shown); target < 1 s
//   alert_latency   publish on the alerts topic → row in an open console's DOM; target < 200 ms
//                   (in-process bus; and over Kafka when a broker answers at --kafka)
//   consoles_50     50 consoles (app load + live WebSocket) on one console process: time until all had
//                   their snapshot, delivery delay of 200 alerts to all of them, missed updates, server RSS/CPU
//   arrow_vs_json   a 100,000-row result and a month-long histogram (8,640 five-minute buckets), encoded,
//                   sent and decoded as Arrow IPC versus JSON, in memory and end to end through the API
// Run: npx tsx bench/console/run.ts [--rows 100000] [--kafka host:port|none] [--consoles 50] [--quick]
//      [--only first_load,alert_latency,consoles_50,arrow_vs_json]

import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import { chromium, type Browser } from "playwright-core";
import { tableFromIPC } from "apache-arrow";
import { startConsoleEnv, PASSWORD, type ConsoleEnv } from "../../test/console/support/console-env.ts";
import { otherAlerts } from "../../test/console/support/fixtures.ts";
import { bucketsToArrow, hitsToArrow } from "../../ui/server/search/arrow.ts";
import { encodeAlertsMessage } from "../../platform/alerts/messages.ts";
import type { Alert } from "../../schema/signal.ts";
import type { Doc } from "../../platform/store/types.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const QUICK = args.includes("--quick");
const ROWS = Number(arg("rows", QUICK ? "20000" : "100000"));
const KAFKA = arg("kafka", "127.0.0.1:19092");
const CONSOLES = Number(arg("consoles", "50"));
const ONLY = new Set(arg("only", "first_load,alert_latency,consoles_50,arrow_vs_json").split(","));
const CHROMIUM = process.env.SIGIL_CHROMIUM ?? "/usr/bin/chromium";
const CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"];

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
const r1 = (x: number) => Math.round(x * 10) / 10;
function summary(xs: number[]) {
  return { n: xs.length, p50: r1(pct(xs, 50)), p95: r1(pct(xs, 95)), p99: r1(pct(xs, 99)), max: r1(Math.max(...xs)) };
}
function median(xs: number[]): number {
  return r1(pct(xs, 50));
}

async function signInCookie(env: ConsoleEnv, user: string): Promise<string> {
  const res = await fetch(env.url + "/api/auth/login", { method: "POST", headers: { origin: env.url, "content-type": "application/json" }, body: JSON.stringify({ username: user, password: PASSWORD }) });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  return res.headers.get("set-cookie")!.split(";")[0];
}

function latencyAlert(n: number): { alert: Alert; publishedAt: number } {
  const now = Date.now();
  const t = new Date(now).toISOString();
  const [a] = otherAlerts(new Date(now), 1);
  return { alert: { ...a, id: `lat-${now}-${n}`, title: `latency probe ${n}`, "@timestamp": t, updated: t, first_seen: t, last_seen: t, status: "new", level: "critical" }, publishedAt: now };
}

// ---------------------------------------------------------------------------------------------
// first load

async function firstLoad(browser: Browser, env: ConsoleEnv): Promise<Record<string, unknown>> {
  const token = (await signInCookie(env, "bench")).split("=")[1];
  const origin = new URL(env.url);
  const cold: number[] = [];
  const warm: number[] = [];
  const login: number[] = [];
  let bytes = 0;
  let requests = 0;
  for (let i = 0; i < (QUICK ? 3 : 7); i++) {
    // a returning analyst with a cold cache: the session cookie and the console's "signed in before" hint
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, storageState: { cookies: [], origins: [{ origin: env.url, localStorage: [{ name: "sigil.signed-in", value: "1" }] }] } });
    await ctx.addCookies([{ name: "__Host-sigil_session", value: token, domain: origin.hostname, path: "/", secure: true, httpOnly: true, sameSite: "Strict" }]);
    const page = await ctx.newPage();
    await page.goto(env.url + "/");
    await page.locator('[data-testid="alert-row"]').first().waitFor();
    const m = await page.evaluate(() => {
      const res = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
      const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
      return { shown: performance.now(), bytes: res.reduce((s, r) => s + r.transferSize, 0) + nav.transferSize, requests: res.length + 1 };
    });
    cold.push(m.shown);
    bytes = m.bytes;
    requests = m.requests;
    // warm: same browser profile (cached assets), reload
    await page.reload();
    await page.locator('[data-testid="alert-row"]').first().waitFor();
    warm.push(await page.evaluate(() => performance.now()));
    await ctx.close();
    // the sign-in page for a browser without a session
    const anon = await browser.newContext();
    const p2 = await anon.newPage();
    await p2.goto(env.url + "/");
    await p2.getByRole("button", { name: "Sign in" }).waitFor();
    login.push(await p2.evaluate(() => performance.now()));
    await anon.close();
  }
  return {
    alerts_in_queue: 1000,
    cold_ms: { median: median(cold), max: r1(Math.max(...cold)), runs: cold.map(r1) },
    warm_ms: { median: median(warm), max: r1(Math.max(...warm)) },
    sign_in_page_ms: { median: median(login) },
    transferred_bytes_cold: bytes,
    requests_cold: requests,
    target_ms: 1000,
    met: Math.max(...cold) < 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// alert latency into a browser

async function alertLatency(browser: Browser, env: ConsoleEnv, samples: number): Promise<Record<string, unknown>> {
  const token = (await signInCookie(env, "bench")).split("=")[1];
  const origin = new URL(env.url);
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await ctx.addCookies([{ name: "__Host-sigil_session", value: token, domain: origin.hostname, path: "/", secure: true, httpOnly: true, sameSite: "Strict" }]);
  const page = await ctx.newPage();
  await page.goto(env.url + "/?severity=critical");
  await page.waitForFunction(() => document.querySelector('[data-testid="live-status"]')?.textContent?.includes("live"));
  await page.evaluate(() => {
    const w = window as unknown as { __seen: Record<string, number> };
    w.__seen = {};
    new MutationObserver(() => {
      for (const el of document.querySelectorAll<HTMLElement>('[data-testid="alert-row"]')) {
        const id = el.dataset.alertId ?? "";
        if (id.startsWith("lat-") && !(id in w.__seen)) w.__seen[id] = performance.timeOrigin + performance.now();
      }
    }).observe(document.body, { childList: true, subtree: true });
  });
  const published = new Map<string, number>();
  for (let n = 0; n < samples; n++) {
    const { alert } = latencyAlert(n);
    await env.store.put("alerts", [alert]);
    const at = Date.now();
    await env.producer.send("alerts", [encodeAlertsMessage({ kind: "alert", alert, source: "chains" })]);
    published.set(alert.id, at);
    await new Promise((r) => setTimeout(r, 120));
  }
  await page.waitForFunction((n) => Object.keys((window as unknown as { __seen: object }).__seen).length >= n, published.size, { timeout: 30_000 }).catch(() => undefined);
  const seen = await page.evaluate(() => (window as unknown as { __seen: Record<string, number> }).__seen);
  await ctx.close();
  const lat = [...published].filter(([id]) => id in seen).map(([id, t]) => seen[id] - t);
  return { ...summary(lat), missed: published.size - lat.length, target_ms: 200, met: lat.length === published.size && pct(lat, 99) < 200 };
}

// ---------------------------------------------------------------------------------------------
// 50 consoles on one process

async function manyConsoles(env: ConsoleEnv, n: number): Promise<Record<string, unknown>> {
  const cookies: string[] = [];
  for (let i = 0; i < n; i++) cookies.push(await signInCookie(env, "bench"));
  const alerts = QUICK ? 50 : 200;
  const child = spawn(process.execPath, ["--import", "tsx", path.join(HERE, "clients.ts"), env.url, ...cookies], {
    cwd: ROOT,
    env: { ...process.env, BENCH_EXPECTED: String(alerts) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  const waiters: (() => void)[] = [];
  child.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
      for (const w of waiters.splice(0)) w();
    }
  });
  const nextLine = async () => {
    const k = lines.length;
    while (lines.length <= k) await new Promise<void>((r) => waiters.push(r));
    return lines[k];
  };
  const rssBefore = process.memoryUsage().rss;
  const ready = await nextLine();
  if (ready["error"]) throw new Error(String(ready["error"]));
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let peakRss = process.memoryUsage().rss;
  for (let i = 0; i < alerts; i++) {
    const { alert } = latencyAlert(i);
    await env.store.put("alerts", [alert]);
    await env.producer.send("alerts", [encodeAlertsMessage({ kind: "alert", alert, source: "chains" })]);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  child.stdin.write("done\n");
  const stats = await nextLine();
  child.stdin.end();
  const lat = (stats["latencies_ms"] as number[]) ?? [];
  return {
    consoles: n,
    snapshot_alerts: 1000,
    all_ready_ms: r1(Number(ready["ready_ms"])),
    alerts_published: alerts,
    publish_rate_per_s: r1(alerts / seconds),
    delivery_ms: summary(lat),
    deliveries: stats["received"],
    missed: stats["missing"],
    disconnects: stats["disconnects"],
    server_cpu_percent: r1(((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100),
    server_event_loop_delay_ms: { p99: r1(loop.percentile(99) / 1e6), max: r1(loop.max / 1e6) },
    server_rss_mb: { before: r1(rssBefore / 1048576), peak: r1(peakRss / 1048576) },
    app_bytes_per_console: Math.round(Number(stats["assets_bytes"]) / n),
    met: stats["missing"] === 0 && stats["disconnects"] === 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Arrow versus JSON

function events(n: number, start: number): Doc[] {
  const out: Doc[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = new Date(start + i * 1000).toISOString();
    out[i] = {
      "@timestamp": t,
      event: { id: `bench-${i.toString(16).padStart(12, "0")}`, kind: "event", category: ["authentication"], type: ["start"], dataset: i % 3 ? "system.auth" : "nginx.access", outcome: i % 7 ? "success" : "failure" },
      host: { name: `web-${i % 40}`, ip: [`10.0.${i % 16}.${i % 250}`] },
      user: i % 4 ? { name: `user${i % 500}` } : undefined,
      source: { ip: `198.51.100.${i % 250}`, port: 40000 + (i % 20000) },
      process: { name: "sshd", pid: 1000 + (i % 30000) },
      message: `Accepted publickey for user${i % 500} from 198.51.100.${i % 250} port ${40000 + (i % 20000)} ssh2: RSA SHA256:${"k".repeat(20)}`,
      log: { file: { path: "/var/log/auth.log" }, offset: i * 160 },
    } as Doc;
  }
  return out;
}

const TABLE_COLS = ["@timestamp", "event.dataset", "host.name", "user.name", "source.ip", "message"] as const;

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const v = fn();
  return [v, performance.now() - t];
}

function best3(fn: () => number): number {
  return r1(Math.min(fn(), fn(), fn()));
}

function inMemory(rows: number): Record<string, unknown> {
  const hits = events(rows, Date.parse("2026-10-22T00:00:00Z"));
  const [arrowBytes, arrowEnc] = time(() => hitsToArrow(hits));
  const [jsonText, jsonEnc] = time(() => JSON.stringify({ total: rows, hits }));
  // the fair JSON baseline: only the columns the table shows, one object per row
  const pick = () =>
    JSON.stringify({
      total: rows,
      rows: hits.map((h) => {
        const x = h as Record<string, Record<string, unknown>>;
        return { "@timestamp": x["@timestamp"], id: x["event"]?.["id"], dataset: x["event"]?.["dataset"], host: x["host"]?.["name"], user: x["user"]?.["name"] ?? null, ip: x["source"]?.["ip"], message: x["message"] };
      }),
    });
  const colsText = pick();
  const encCols = best3(() => time(pick)[1]);
  const decCols = best3(() =>
    time(() => {
      const o = JSON.parse(colsText) as { rows: Record<string, unknown>[] };
      let n = 0;
      for (const r of o.rows) for (const k of ["@timestamp", "dataset", "host", "user", "ip", "message"]) n += r[k] === null ? 0 : 1;
      return n;
    })[1],
  );
  const encArrow = best3(() => time(() => hitsToArrow(hits))[1]);
  const encJson = best3(() => time(() => JSON.stringify({ total: rows, hits }))[1]);
  const decArrow = best3(() =>
    time(() => {
      const t = tableFromIPC(arrowBytes);
      let n = 0;
      const cols = TABLE_COLS.map((c) => t.getChild(c)!);
      for (let i = 0; i < t.numRows; i++) for (const c of cols) n += c.get(i) === null ? 0 : 1;
      return n;
    })[1],
  );
  const decJson = best3(() =>
    time(() => {
      const o = JSON.parse(jsonText) as { hits: Record<string, Record<string, unknown>>[] };
      let n = 0;
      for (const h of o.hits) {
        n += h["@timestamp"] ? 1 : 0;
        n += h["event"]?.["dataset"] ? 1 : 0;
        n += h["host"]?.["name"] ? 1 : 0;
        n += h["user"]?.["name"] ? 1 : 0;
        n += h["source"]?.["ip"] ? 1 : 0;
        n += h["message"] ? 1 : 0;
      }
      return n;
    })[1],
  );
  void arrowEnc;
  void jsonEnc;
  // what the results table does: decode the page, then read the cells of the first screen (50 rows)
  const screenArrow = best3(() =>
    time(() => {
      const t = tableFromIPC(arrowBytes);
      const cols = TABLE_COLS.map((c) => t.getChild(c)!);
      let n = 0;
      for (let i = 0; i < 50; i++) for (const c of cols) n += c.get(i) === null ? 0 : 1;
      return n;
    })[1],
  );
  const screenJson = best3(() =>
    time(() => {
      const o = JSON.parse(jsonText) as { hits: Record<string, unknown>[] };
      return o.hits.slice(0, 50).length;
    })[1],
  );
  // a month of five-minute buckets (the stores answer at most 10,000 buckets per histogram)
  const buckets = Array.from({ length: 8_640 }, (_, i) => ({ key: Date.parse("2026-10-22T00:00:00Z") + i * 300_000, count: (i * 7919) % 500 }));
  const hArrow = bucketsToArrow(buckets);
  const hJson = JSON.stringify({ interval: 300_000, buckets });
  return {
    result_rows: rows,
    result: {
      arrow: { bytes: arrowBytes.byteLength, gzip_bytes: gzipSync(arrowBytes).byteLength, encode_ms: encArrow, decode_and_read_table_columns_ms: decArrow, decode_and_show_first_screen_ms: screenArrow },
      json_whole_events: { bytes: Buffer.byteLength(jsonText), gzip_bytes: gzipSync(jsonText).byteLength, encode_ms: encJson, decode_and_read_table_columns_ms: decJson, decode_and_show_first_screen_ms: screenJson },
      json_table_columns: { bytes: Buffer.byteLength(colsText), gzip_bytes: gzipSync(colsText).byteLength, encode_ms: encCols, decode_and_read_table_columns_ms: decCols },
    },
    month_histogram_5min: {
      buckets: buckets.length,
      arrow: { bytes: hArrow.byteLength, encode_ms: best3(() => time(() => bucketsToArrow(buckets))[1]), decode_ms: best3(() => time(() => [...tableFromIPC(hArrow).getChild("count")!].length)[1]) },
      json: { bytes: Buffer.byteLength(hJson), encode_ms: best3(() => time(() => JSON.stringify({ interval: 300_000, buckets }))[1]), decode_ms: best3(() => time(() => (JSON.parse(hJson) as { buckets: unknown[] }).buckets.length)[1]) },
    },
  };
}

async function throughApi(env: ConsoleEnv, rows: number): Promise<Record<string, unknown>> {
  const start = Date.parse("2026-10-22T00:00:00Z");
  const docs = events(rows, start);
  const t0 = performance.now();
  for (let i = 0; i < docs.length; i += 5000) await env.store.put("events", docs.slice(i, i + 5000));
  await env.store.refresh();
  const seedS = (performance.now() - t0) / 1000;
  const cookie = await signInCookie(env, "bench");
  const from = new Date(start).toISOString();
  const to = new Date(start + rows * 1000 + 1000).toISOString();
  async function all(format: "arrow" | "json"): Promise<{ ms: number; bytes: number; rows: number }> {
    const t = performance.now();
    let after: string | null = null;
    let bytes = 0;
    let n = 0;
    for (;;) {
      const url: string = `${env.url}/api/events/search?from=${from}&to=${to}&size=10000&order=asc&format=${format}${after ? `&after=${encodeURIComponent(after)}` : ""}`;
      const res: Response = await fetch(url, { headers: { cookie } });
      if (res.status !== 200) throw new Error(`search ${format}: ${res.status} ${await res.text()}`);
      if (format === "arrow") {
        const buf = new Uint8Array(await res.arrayBuffer());
        bytes += buf.byteLength;
        const tb = tableFromIPC(buf);
        const cols = TABLE_COLS.map((c) => tb.getChild(c)!);
        for (let i = 0; i < tb.numRows; i++) for (const c of cols) c.get(i);
        n += tb.numRows;
        after = res.headers.get("x-sigil-next");
      } else {
        const text = await res.text();
        bytes += Buffer.byteLength(text);
        const o = JSON.parse(text) as { hits: Doc[]; next: string | null };
        n += o.hits.length;
        after = o.next;
      }
      if (!after) break;
    }
    return { ms: r1(performance.now() - t), bytes, rows: n };
  }
  const arrow = await all("arrow");
  const json = await all("json");
  const arrow2 = await all("arrow");
  const json2 = await all("json");
  const hist = async (format: string) => {
    const t = performance.now();
    const res = await fetch(`${env.url}/api/events/histogram?from=${from}&to=${new Date(start + 30 * 86_400_000).toISOString()}&interval=300000&format=${format}`, { headers: { cookie } });
    const buf = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`histogram ${format}: ${res.status} ${new TextDecoder().decode(buf)}`);
    if (format === "arrow") tableFromIPC(buf).getChild("count")!.toArray();
    else JSON.parse(new TextDecoder().decode(buf));
    return { ms: r1(performance.now() - t), bytes: buf.byteLength };
  };
  return {
    rows,
    seeded_in_s: r1(seedS),
    pages_of: 10_000,
    arrow: { ...arrow, ms: Math.min(arrow.ms, arrow2.ms) },
    json: { ...json, ms: Math.min(json.ms, json2.ms) },
    month_histogram_5min: { buckets: 8640, arrow: await hist("arrow"), json: await hist("json") },
  };
}

// ---------------------------------------------------------------------------------------------

async function kafkaReachable(addr: string): Promise<boolean> {
  if (addr === "none") return false;
  const [host, port] = addr.split(":");
  const net = await import("node:net");
  return new Promise((resolve) => {
    const s = net.connect(Number(port), host);
    s.setTimeout(1500);
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
    s.on("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = { bench: "console", machine: { cpus: (await import("node:os")).cpus().length, node: process.version }, note: "measured on a shared 2-core machine unless stated otherwise; re-measure on a quiet machine for final figures" };
  const env = await startConsoleEnv({ config: { console: { live: { poll_interval_ms: 0 } } } });
  await env.addUser("bench", "analyst");
  await env.store.put("alerts", otherAlerts(new Date(), 1000));
  await env.store.refresh();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROME_ARGS });
  try {
    if (ONLY.has("first_load")) out["first_load"] = await firstLoad(browser, env);
    if (ONLY.has("alert_latency")) out["alert_latency"] = { memory_bus: await alertLatency(browser, env, QUICK ? 20 : 60) };
    if (ONLY.has("consoles_50")) out["consoles_50"] = await manyConsoles(env, CONSOLES);
    if (ONLY.has("arrow_vs_json")) out["arrow_vs_json"] = { in_memory: inMemory(ROWS), through_api: await throughApi(env, ROWS) };
  } finally {
    await browser.close();
    await env.close();
  }
  if (!ONLY.has("alert_latency")) {
    // nothing more to measure
  } else if (await kafkaReachable(KAFKA)) {
    const prefix = `sigil-bench-console-${Date.now()}-`;
    const kenv = await startConsoleEnv({ config: { bus: { type: "kafka", topic_prefix: prefix, partitions: 3, kafka: { brokers: [KAFKA] } }, console: { live: { poll_interval_ms: 0 } } } });
    await kenv.addUser("bench", "analyst");
    const b2 = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROME_ARGS });
    try {
      (out["alert_latency"] as Record<string, unknown>)["kafka_bus"] = await alertLatency(b2, kenv, QUICK ? 20 : 60);
    } finally {
      await b2.close();
      await kenv.close();
    }
  } else {
    (out["alert_latency"] as Record<string, unknown>)["kafka_bus"] = { skipped: `no Kafka broker answers at ${KAFKA} (sigil services up)` };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench/console failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
