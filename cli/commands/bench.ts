// `sigil bench [name...]`: runs the benchmarks in bench/<name>/run.ts, each in its own process (so one
// bench's heap and threads never skew the next), and prints one JSON object with every result.
// `--quick` runs each on a small input: a smoke run that proves the benches still work (CI runs it);
// the figures in BENCHMARKS.md come from full runs.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT, type Command } from "../command.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Every bench, with the arguments of its quick run. e2e needs Kafka and Elasticsearch (`sigil services up`). */
export const BENCHES: Record<string, { quick: string[]; about: string }> = {
  detect: { quick: ["--events", "5000", "--reps", "1"], about: "SigmaHQ corpus over realistic lanes: load time, events/s per lane" },
  correlate: { quick: ["--matches", "50000", "--groups", "1000", "--wide-groups", "10000", "--mem-groups", "10000", "--reps", "1", "--updates", "50000"], about: "correlation engine per type, memory per group, anomaly updates/s" },
  ingest: { quick: ["--seconds", "0.5", "--e2e-seconds", "3"], about: "normalize per format; HTTP → Kafka events/s and ack latency" },
  agent: { quick: ["--lines", "100000", "--buffer-lines", "50000"], about: "agent lines/s, RSS while buffering, drain rate" },
  bus: { quick: ["--messages", "20000"], about: "bus throughput: in-process, journal, Kafka" },
  store: { quick: ["--events", "20000", "--es-events", "10000", "--jsonl-events", "20000", "--reps", "2"], about: "store writes and query latency: SQLite, JSONL, Elasticsearch" },
  replay: { quick: ["--reps", "1"], about: "sigil replay events/s with the full corpus" },
  console: { quick: ["--quick", "--consoles", "5", "--only", "first_load,alert_latency,arrow_vs_json"], about: "console first load, alert latency, 50 consoles, Arrow vs JSON" },
  e2e: {
    quick: ["--phases", "throughput", "--rate", "1000", "--seconds", "10", "--warmup", "5", "--canaries", "2"],
    about: "the pipeline as processes on Kafka and Elasticsearch: latency, throughput, scale-out, soak",
  },
};

/** The order `sigil bench` with no names runs them in: cheap and self-contained first. */
const DEFAULT_ORDER = ["detect", "correlate", "ingest", "agent", "bus", "store", "replay", "console", "e2e"];

export const command: Command = {
  name: "bench",
  summary: "run the benchmarks in bench/ and print their results as one JSON object",
  usage: "bench [name...] [--quick] [--list] [--out <file>] [-- <args for the bench>]",
  description: `Each bench runs in its own process (node --expose-gc --import tsx bench/<name>/run.ts) and prints one
JSON object; sigil bench gathers them under their names. Benches that need Kafka or Elasticsearch use the
ones \`sigil services up\` starts. --quick runs small inputs (a smoke run, not figures to quote). Arguments
after -- go to every named bench. Exit 1 when a bench fails.`,
  positionals: true,
  options: {
    quick: { type: "boolean", description: "small inputs: prove the benches run (CI), not figures to quote" },
    list: { type: "boolean", description: "list the benches and exit" },
    out: { type: "string", valueName: "<file>", description: "also write the JSON result to this file" },
  },
  async run(args, ctx) {
    if (args.values.list) {
      for (const n of DEFAULT_ORDER) ctx.stdout.write(`${n.padEnd(10)} ${BENCHES[n].about}\n`);
      return EXIT.ok;
    }
    const dash = process.argv.indexOf("--");
    const extra = dash >= 0 ? process.argv.slice(dash + 1) : [];
    const names = args.positionals.filter((p) => !extra.includes(p));
    for (const n of names) {
      if (!BENCHES[n]) {
        ctx.stderr.write(`sigil bench: no bench named "${n}"; the benches are ${DEFAULT_ORDER.join(", ")} (sigil bench --list)\n`);
        return EXIT.usage;
      }
    }
    const run = names.length ? names : DEFAULT_ORDER;
    const results: Record<string, unknown> = {};
    let failed = 0;
    for (const name of run) {
      if (ctx.signal.aborted) break;
      const benchArgs = [...(args.values.quick ? BENCHES[name].quick : []), ...extra];
      ctx.stderr.write(`sigil bench: ${name} ${benchArgs.join(" ")}\n`);
      const t0 = Date.now();
      const r = await runBench(name, benchArgs, ctx.stderr, ctx.signal);
      const seconds = Math.round((Date.now() - t0) / 100) / 10;
      if (r.code === 0 && r.result !== undefined) {
        results[name] = r.result;
        ctx.stderr.write(`sigil bench: ${name} done in ${seconds} s\n`);
      } else {
        failed++;
        results[name] = { error: r.code === 0 ? "the bench printed no JSON object on stdout" : `the bench exited with ${r.code}`, seconds };
        ctx.stderr.write(`sigil bench: ${name} FAILED (${(results[name] as { error: string }).error}); its output is above\n`);
      }
    }
    const out = JSON.stringify({ quick: !!args.values.quick, results }, null, 2);
    ctx.stdout.write(out + "\n");
    if (typeof args.values.out === "string") {
      fs.mkdirSync(path.dirname(path.resolve(ctx.cwd, args.values.out)), { recursive: true });
      fs.writeFileSync(path.resolve(ctx.cwd, args.values.out), out + "\n");
    }
    return failed ? EXIT.failure : EXIT.ok;
  },
};

/** Runs one bench; its stderr goes through, its stdout is parsed as the last JSON object it printed. */
function runBench(name: string, benchArgs: string[], stderr: NodeJS.WritableStream, signal: AbortSignal): Promise<{ code: number; result?: unknown }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--expose-gc", "--import", "tsx", path.join(ROOT, "bench", name, "run.ts"), ...benchArgs], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: process.env });
    const chunks: Buffer[] = [];
    p.stdout.on("data", (c: Buffer) => chunks.push(c));
    p.stderr.on("data", (c: Buffer) => stderr.write(c));
    const kill = () => p.kill("SIGTERM");
    signal.addEventListener("abort", kill, { once: true });
    p.once("close", (code) => {
      signal.removeEventListener("abort", kill);
      resolve({ code: code ?? 1, result: lastJson(Buffer.concat(chunks).toString("utf8")) });
    });
  });
}

/** The JSON object a bench printed: the whole stdout, or else its last line that parses as an object. */
export function lastJson(text: string): unknown {
  const t = text.trim();
  if (!t) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    // some benches print progress lines before the result
  }
  const lines = t.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i].trim();
    if (!l.startsWith("{")) continue;
    try {
      return JSON.parse(l);
    } catch {
      // keep looking
    }
  }
  // a pretty-printed object at the end: from the last line that is exactly "{"
  const start = t.lastIndexOf("\n{\n");
  if (start >= 0) {
    try {
      return JSON.parse(t.slice(start + 1));
    } catch {
      return undefined;
    }
  }
  return undefined;
}
