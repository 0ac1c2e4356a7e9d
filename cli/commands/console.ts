// `sigil console`: the console role as its own process: the web app (built first when missing or
// stale), its API and the live WebSocket, over the configured store and the alerts topic.
import path from "node:path";
import { loadConfig } from "../../platform/config/load.ts";
import { createBus } from "../../platform/bus/create.ts";
import { UsageError } from "../../platform/errors.ts";
import { Lifecycle } from "../../platform/lifecycle.ts";
import { logger, setLogLevel } from "../../platform/telemetry/log.ts";
import { monitorBus } from "../../platform/telemetry/lag.ts";
import { telemetryStep } from "../../platform/telemetry/role.ts";
import { consoleRole } from "../../ui/server/index.ts";
import { ensureWebBuild } from "../../ui/server/web-build.ts";
import { EXIT, configOption, type Command } from "../command.ts";
import { openStore, runUntilSignal } from "../roles.ts";
import { auditConfigChange } from "../../platform/security/audit.ts";

export const command: Command = {
  name: "console",
  summary: "run the console role: the SOC web app, its API and live alerts over WebSocket",
  usage: "console [--config <file>] [--host <addr>] [--port <n>] [--build]",
  description: `
Serves the web console on console.host:console.port (HTTPS and WSS when console.tls is enabled; plain
HTTP is refused on a non-loopback address unless console.allow_insecure_http). Reads alerts, chains,
events, signals and the rule catalog from the store and live updates from the alerts topic. Add users
first with \`sigil users add <name> --role admin\`. The web app is built on start when its sources
changed (console.web.auto_build); --build rebuilds it and exits.`,
  options: {
    config: configOption,
    host: { type: "string", valueName: "<addr>", description: "listen address (default: console.host)" },
    port: { type: "string", valueName: "<n>", description: "listen port (default: console.port; 0 picks a free one)" },
    build: { type: "boolean", description: "build the web app (production) and exit" },
  },
  async run(args, ctx) {
    const config = loadConfig({ file: (args.values.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
    setLogLevel(config.telemetry.log_level ?? "info");
    const log = logger("console");
    if (args.values.build) {
      const dir = await ensureWebBuild({ log, force: true });
      ctx.stdout.write(`built the web app into ${dir}\n`);
      return EXIT.ok;
    }
    if (args.values.host) config.console.host = args.values.host as string;
    if (args.values.port !== undefined) {
      const p = Number(args.values.port);
      if (!Number.isInteger(p) || p < 0 || p > 65535) throw new UsageError("console_bad_port", `--port must be 0-65535, got ${JSON.stringify(args.values.port)}`);
      config.console.port = p;
    }
    const store = await openStore(config, ctx.cwd);
    const bus = monitorBus(await createBus(config.bus, { dataDir: path.resolve(ctx.cwd, config.data_dir), logger: logger("bus") }));
    const telemetry = telemetryStep(config.telemetry, log);
    const base = new Lifecycle("console-process", log)
      .add({ name: "store", start: () => store.init(), stop: () => store.close() })
      .add({ name: "config audit", start: () => auditConfigChange(store, "console", config).then(() => undefined, (err: Error) => log.warn({ err: err.message }, "could not record the config in the audit log")) })
      .add({ name: "topics", start: () => bus.ensureTopics() })
      .add(telemetry);
    const role = consoleRole({ config, store, bus, log });
    try {
      await runUntilSignal([base, role.lifecycle], ctx.signal, log, () => {
        ctx.stderr.write(`sigil console: listening on ${role.url()}\n`);
        if (telemetry.url()) ctx.stderr.write(`sigil console: telemetry on ${telemetry.url()}\n`);
        log.info({ url: role.url() }, "console role running");
      });
    } finally {
      await bus.close();
    }
    return EXIT.ok;
  },
};
