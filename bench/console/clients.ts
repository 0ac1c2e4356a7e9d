// Child process of bench/console: N simulated consoles against one console server, each loading the
// app like a browser (index.html, its scripts and styles, the session), then holding the live WebSocket.
// Reports, as one JSON line on stdout: time until every console had its snapshot, and per published
// alert (ids "lat-<epoch ms>-<n>") the delivery delay to each console.
// Run by bench/console/run.ts: tsx bench/console/clients.ts <url> <cookie>... (one cookie per console)

import WebSocket from "ws";

const [url, ...cookies] = process.argv.slice(2);
const expected = Number(process.env.BENCH_EXPECTED ?? "0");

interface Stats {
  ready_ms: number;
  assets_bytes: number;
  latencies_ms: number[];
  received: number;
  missing: number;
  disconnects: number;
}

async function loadApp(cookie: string): Promise<number> {
  let bytes = 0;
  const html = await (await fetch(url + "/", { headers: { cookie, "accept-encoding": "br" } })).text();
  bytes += html.length;
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  for (const a of assets) bytes += (await (await fetch(url + a, { headers: { "accept-encoding": "br" } })).arrayBuffer()).byteLength;
  const s = await fetch(url + "/api/auth/session", { headers: { cookie } });
  if (s.status !== 200) throw new Error(`session check failed: ${s.status}`);
  return bytes;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const latencies: number[] = [];
  const seenPerClient: Set<string>[] = [];
  let disconnects = 0;
  let bytes = 0;
  const sockets = await Promise.all(
    cookies.map(async (cookie, i) => {
      bytes += await loadApp(cookie);
      const seen = new Set<string>();
      seenPerClient[i] = seen;
      const ws = new WebSocket(url.replace(/^http/, "ws") + "/api/live", { headers: { origin: url, cookie } });
      await new Promise<void>((resolve, reject) => {
        ws.on("message", (d) => {
          const m = JSON.parse(String(d)) as { type: string; alert?: { id: string }; last?: boolean };
          if (m.type === "snapshot" && m.last) resolve();
          if (m.type === "alert" && m.alert?.id.startsWith("lat-") && !seen.has(m.alert.id)) {
            seen.add(m.alert.id);
            latencies.push(Date.now() - Number(m.alert.id.split("-")[1]));
          }
        });
        ws.on("open", () => ws.send(JSON.stringify({ type: "subscribe", filter: "" })));
        ws.on("error", reject);
        ws.on("close", () => disconnects++);
      });
      return ws;
    }),
  );
  const ready = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ready: true, ready_ms: ready }) + "\n");
  // wait for the publisher to finish (it tells us with a line on stdin), then a little for stragglers
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  await new Promise((r) => setTimeout(r, 1500));
  const received = seenPerClient.reduce((s, x) => s + x.size, 0);
  const stats: Stats = { ready_ms: ready, assets_bytes: bytes, latencies_ms: latencies, received, missing: expected * cookies.length - received, disconnects };
  process.stdout.write(JSON.stringify(stats) + "\n");
  for (const ws of sockets) ws.close();
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: (err as Error).message }) + "\n");
  process.exit(1);
});
