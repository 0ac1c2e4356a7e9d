// `sigil start`: every role in one process (ingest receivers, correlate, console) on the configured bus
// and store (by default the in-process bus and the embedded store under data_dir). With --demo, the
// demo environment is fed through the receivers so a chain forms in the console within a minute.
import path from "node:path";
import { randomBytes } from "node:crypto";
import { loadConfig } from "../../platform/config/load.ts";
import { createBus } from "../../platform/bus/create.ts";
import { Lifecycle } from "../../platform/lifecycle.ts";
import { describeError } from "../../platform/errors.ts";
import { CachedTokenVerifier, TokenStore } from "../../platform/security/tokens.ts";
import { logger, setLogLevel } from "../../platform/telemetry/log.ts";
import { monitorBus } from "../../platform/telemetry/lag.ts";
import { telemetryStep } from "../../platform/telemetry/role.ts";
import { ingestRole } from "../../ingest/service.ts";
import { correlateRole } from "../../correlate/service.ts";
import { consoleRole } from "../../ui/server/index.ts";
import { UserStore } from "../../ui/server/auth/users.ts";
import { EXIT, configOption, type Command } from "../command.ts";
import { openStore, resolveRuleDirs, runUntilSignal } from "../roles.ts";
import { auditConfigChange } from "../../platform/security/audit.ts";
import { generateDemo } from "../demo/generate.ts";
import { DemoSender } from "../demo/send.ts";
import { feedLive } from "./demo.ts";

export const command: Command = {
  name: "start",
  summary: "run every role in one process: ingest receivers, correlate, console (--demo feeds a demo intrusion)",
  usage: "start [--config <file>] [--demo] [--rules <dir>...]",
  description: `
Starts the ingest receivers (HTTP NDJSON, OTLP/HTTP, syslog), the correlate role (Sigma rules,
correlation, attack chains) and the console, sharing one bus and one store (by default the in-process
bus and the embedded store under data_dir: nothing else to install). On the first start with an empty
user list it creates the console user "admin" with a random password and prints it once.
--demo also generates the demo environment (web front end, API, database, AWS account, Linux hosts)
and feeds it through the receivers: benign history first, then the intrusion step by step. Open the
console URL printed on stderr and watch the chain form. Ctrl-C stops every role gracefully.`,
  options: {
    config: configOption,
    demo: { type: "boolean", description: "feed the demo environment through the receivers once everything runs" },
    rules: { type: "string", short: "r", multiple: true, valueName: "<dir>", description: "rule directories (default: correlate.rules from the config)" },
    "demo-minutes": { type: "string", valueName: "<n>", description: "minutes of benign demo history (default 30)" },
  },
  async run(args, ctx) {
    const config = loadConfig({ file: (args.values.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
    setLogLevel(config.telemetry.log_level ?? "info");
    const log = logger("start");
    const dataDir = path.resolve(ctx.cwd, config.data_dir);
    const store = await openStore(config, ctx.cwd);
    const bus = monitorBus(await createBus(config.bus, { dataDir, logger: logger("bus") }));
    const telemetry = telemetryStep(config.telemetry, log);
    const rules = resolveRuleDirs((args.values.rules as string[] | undefined) ?? config.correlate.rules, ctx.cwd);
    const tokens = new TokenStore(store);
    const base = new Lifecycle("start", log)
      .add({ name: "store", start: () => store.init(), stop: () => store.close() })
      .add({ name: "config audit", start: () => auditConfigChange(store, "start", config).then(() => undefined, (err: Error) => log.warn({ err: err.message }, "could not record the config in the audit log")) })
      .add({ name: "topics", start: () => bus.ensureTopics(), stop: () => bus.close() })
      .add(telemetry)
      .add({
        name: "first admin user",
        async start() {
          const users = new UserStore(store);
          if ((await users.list()).length > 0) return;
          const password = randomBytes(12).toString("base64url");
          await users.add({ name: "admin", role: "admin", password, createdBy: "sigil start" });
          ctx.stderr.write(`sigil start: created the first console user "admin" with password ${password}\n  (shown once; add analysts with \`sigil users add <name> --role analyst\`)\n`);
        },
      });
    const ingest = ingestRole({ config, bus, verifier: new CachedTokenVerifier(tokens, config.security.tokens.refresh_ms), log: logger("ingest") });
    const correlate = correlateRole({ config, bus, store, log: logger("correlate"), rules, cwd: ctx.cwd });
    const consoleR = consoleRole({ config, store, bus, log: logger("console") });
    let demo: Promise<void> | null = null;
    await runUntilSignal([base, correlate.lifecycle, ingest.lifecycle, consoleR.lifecycle], ctx.signal, log, async () => {
      const listeners = ingest.listeners();
      ctx.stderr.write(`sigil start: console on ${consoleR.url()}\n`);
      if (telemetry.url()) ctx.stderr.write(`sigil start: telemetry (/metrics, /healthz, /readyz) on ${telemetry.url()}\n`);
      for (const l of listeners) ctx.stderr.write(`sigil start: ${l.name} receiver on ${l.url}\n`);
      if (!args.values.demo) return;
      const find = (name: string) => listeners.find((l) => l.name.includes(name));
      const http = find("http");
      const otlp = find("otlp");
      const syslog = listeners.find((l) => l.name.includes("syslog") && l.name.includes("tcp"));
      if (!http || !otlp || !syslog) {
        ctx.stderr.write("sigil start: --demo needs the HTTP, OTLP and syslog TCP receivers enabled (ingest.http, ingest.otlp, ingest.syslog.tcp)\n");
        return;
      }
      const { token } = await tokens.create({ name: `demo-${randomBytes(3).toString("hex")}`, scopes: ["ingest"], createdBy: "sigil start --demo" });
      const minutes = Number(args.values["demo-minutes"] ?? 30);
      const records = generateDemo({ seed: 7, minutes, requestsPerMinute: 120, start: new Date(Date.now() - minutes * 60_000) });
      const sender = new DemoSender({ http: http.url, otlp: otlp.url, syslog: syslog.url.replace(/^[a-z]+:\/\//, ""), token });
      ctx.stderr.write(`sigil start: feeding the demo (${records.length.toLocaleString("en-US")} records); watch the alert queue at ${consoleR.url()}\n`);
      demo = feedLive(sender, records, 2_000, ctx.stderr, ctx.signal)
        .then(() => sender.close())
        .then(() => void ctx.stderr.write("sigil start: demo fed; the intrusion's chain is in the alert queue\n"))
        .catch((err) => void ctx.stderr.write(`sigil start: demo failed: ${describeError(err)}\n`));
    });
    if (demo) await demo;
    return EXIT.ok;
  },
};
