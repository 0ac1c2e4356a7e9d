// `sigil demo`: a realistic multi-service environment (web front end, API, database, AWS account,
// Linux hosts) with benign background traffic and one intrusion that crosses all of them; written
// to files for `sigil replay`, or fed live to a running Sigil over its HTTP, OTLP and syslog receivers.
import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../../platform/errors.ts";
import { readSecret } from "../../platform/config/secret.ts";
import { EXIT, type Command } from "../command.ts";
import { DEMO_STREAMS, INTRUSION_STEPS, demoFiles, generateDemo, type DemoRecord } from "../demo/generate.ts";
import { DemoSender } from "../demo/send.ts";

export const command: Command = {
  name: "demo",
  summary: "generate a demo environment with one intrusion: write its logs, or feed them to a running Sigil",
  usage: "demo [--out <dir>] [--http <url> --otlp <url> --syslog <host:port> --token-file <file>] [--benign-only]",
  description: `
With --out, writes the environment's logs (nginx access log, OTLP traces, CloudTrail, sshd/sudo syslog,
Zeek conn) into <dir>, one file per source, ready for \`sigil replay --input <dir>/*\`.
Without --out, feeds them to a running Sigil: benign history first, then the intrusion step by step
(--step-delay apart) so the chain can be watched forming in the console. \`sigil start --demo\` does this.
The intrusion: scanner burst → SQL injection through the storefront into the orders API and its
database → SSRF to the instance metadata service → stolen role credentials used from the attacker's
address (new user, access key, admin policy, CloudTrail stopped) → SSH password guessing and login on
the database host → sudo root shell and a planted SSH key → 1.8 GB upload to the attacker.`,
  options: {
    out: { type: "string", short: "o", valueName: "<dir>", description: "write the logs into this directory instead of sending them" },
    http: { type: "string", valueName: "<url>", description: "HTTP NDJSON receiver (default http://127.0.0.1:8088)" },
    otlp: { type: "string", valueName: "<url>", description: "OTLP/HTTP receiver (default http://127.0.0.1:4318)" },
    syslog: { type: "string", valueName: "<host:port>", description: "syslog TCP receiver (default 127.0.0.1:5514)" },
    "token-file": { type: "string", valueName: "<file>", description: "file holding the ingest token (or $SIGIL_INGEST_TOKEN)" },
    seed: { type: "string", valueName: "<n>", description: "random seed (default 7)" },
    minutes: { type: "string", valueName: "<n>", description: "minutes of benign background (default 60)" },
    rate: { type: "string", valueName: "<n>", description: "benign web requests per minute (default 300)" },
    "benign-only": { type: "boolean", description: "no intrusion (to check that benign traffic forms no chain)" },
    "intrusion-only": { type: "boolean", description: "only the intrusion" },
    "step-delay": { type: "string", valueName: "<ms>", description: "live mode: pause between intrusion steps (default 2000)" },
    start: { type: "string", valueName: "<iso time>", description: "event time of the first record (default: --out 2026-01-15T09:00:00Z, live: now minus --minutes)" },
  },
  async run(args, ctx) {
    const v = args.values;
    const num = (k: string, d: number) => {
      const s = v[k] as string | undefined;
      if (s === undefined) return d;
      const n = Number(s);
      if (!Number.isFinite(n) || n < 0) throw new UsageError("demo_bad_option", `--${k} must be a non-negative number, got ${JSON.stringify(s)}`);
      return n;
    };
    const minutes = num("minutes", 60);
    const live = v.out === undefined;
    let start: Date;
    if (v.start) {
      start = new Date(v.start as string);
      if (Number.isNaN(start.getTime())) throw new UsageError("demo_bad_option", `--start ${JSON.stringify(v.start)} is not an ISO 8601 time`);
    } else start = live ? new Date(Date.now() - minutes * 60_000) : new Date(Date.UTC(2026, 0, 15, 9, 0, 0));
    const records = generateDemo({ seed: num("seed", 7), start, minutes, requestsPerMinute: num("rate", 300), benign: !v["intrusion-only"], intrusion: !v["benign-only"] });

    if (!live) {
      const dir = path.resolve(ctx.cwd, v.out as string);
      fs.mkdirSync(dir, { recursive: true });
      const files = demoFiles(records);
      for (const [stream, text] of files) fs.writeFileSync(path.join(dir, DEMO_STREAMS[stream].file), text);
      const steps = INTRUSION_STEPS.filter((s) => records.some((r) => r.step === s.id));
      fs.writeFileSync(path.join(dir, ".intrusion.json"), JSON.stringify({ steps, facts: "see cli/demo/generate.ts DEMO_FACTS" }, null, 2) + "\n");
      ctx.stderr.write(`demo: wrote ${records.length.toLocaleString("en-US")} records in ${files.size} files to ${dir}${steps.length ? `, intrusion of ${steps.length} steps` : ", benign only"}\n`);
      ctx.stdout.write([...files.keys()].map((k) => path.join(dir, DEMO_STREAMS[k].file)).join("\n") + "\n");
      return EXIT.ok;
    }

    const tokenFile = v["token-file"] as string | undefined;
    const token = tokenFile ? readSecret({ file: tokenFile, env: null }, "ingest token") : (ctx.env.SIGIL_INGEST_TOKEN ?? "");
    if (!token) throw new UsageError("demo_no_token", "the receivers need an ingest token", { hint: "pass --token-file <file> or set SIGIL_INGEST_TOKEN (`sigil start --demo` does this for you)" });
    const sender = new DemoSender({
      http: (v.http as string | undefined) ?? "http://127.0.0.1:8088",
      otlp: (v.otlp as string | undefined) ?? "http://127.0.0.1:4318",
      syslog: (v.syslog as string | undefined) ?? "127.0.0.1:5514",
      token,
    });
    await feedLive(sender, records, num("step-delay", 2000), ctx.stderr, ctx.signal);
    await sender.close();
    ctx.stderr.write(`demo: sent ${sender.stats.http} records over HTTP, ${sender.stats.otlp} OTLP trace exports, ${sender.stats.syslog} syslog messages\n`);
    return EXIT.ok;
  },
};

/** Benign history in bulk, then each intrusion step with a pause, so the chain grows visibly. */
export async function feedLive(sender: DemoSender, records: DemoRecord[], stepDelayMs: number, log: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
  const benign = records.filter((r) => !r.step);
  if (benign.length) {
    log.write(`demo: sending ${benign.length.toLocaleString("en-US")} records of benign background traffic\n`);
    await sender.send(benign);
  }
  for (const step of INTRUSION_STEPS) {
    if (signal?.aborted) return;
    const recs = records.filter((r) => r.step === step.id);
    if (!recs.length) continue;
    if (stepDelayMs > 0) await new Promise((r) => setTimeout(r, stepDelayMs));
    log.write(`demo: intrusion step "${step.id}": ${step.what}\n`);
    await sender.send(recs);
  }
}
