// `sigil correlate`: the correlate role as its own process (distributed mode): events → Sigma plan →
// signals; the correlation runner; the chain builder → chains and alerts. Stops gracefully on SIGTERM.
import { loadConfig } from "../../platform/config/load.ts";
import { createBus } from "../../platform/bus/create.ts";
import { Lifecycle } from "../../platform/lifecycle.ts";
import { logger, setLogLevel } from "../../platform/telemetry/log.ts";
import { monitorBus } from "../../platform/telemetry/lag.ts";
import { telemetryStep } from "../../platform/telemetry/role.ts";
import { correlateRole } from "../../correlate/service.ts";
import { EXIT, configOption, type Command } from "../command.ts";
import { openStore, resolveRuleDirs, runUntilSignal } from "../roles.ts";
import { auditConfigChange } from "../../platform/security/audit.ts";
import path from "node:path";

export const command: Command = {
  name: "correlate",
  summary: "run the correlate role: detection, correlation, baselines and attack chains over the bus",
  usage: "correlate [--config <file>] [--rules <dir>...]",
  description: `
Consumes sigil.events, runs the compiled Sigma plan, routes matches to the correlation runner, builds
attack chains from sigil.signals, writes events, signals, chains and alerts to the store and publishes
alerts on sigil.alerts. Rule directories are watched; a changed rule set (detection, correlation or
anomaly rules) is compiled and swapped in without a restart: correlation windows and baselines of
unchanged rules keep their state, those of removed or changed rules start over, and a broken rule keeps
the running plan and is logged. Run as many instances as you like with the same rules: detection and
correlation split the partitions, and one instance at a time builds attack chains while the others
stand by; when it stops or fails another takes over and restores the chains from the store
(docs/chains.md). SIGTERM finishes the in-flight batches, commits them and exits 0.`,
  options: {
    config: configOption,
    rules: { type: "string", short: "r", multiple: true, valueName: "<dir>", description: "rule directories (default: correlate.rules from the config)" },
  },
  async run(args, ctx) {
    const config = loadConfig({ file: (args.values.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
    setLogLevel(config.telemetry.log_level ?? "info");
    const log = logger("correlate");
    const store = await openStore(config, ctx.cwd);
    const bus = monitorBus(await createBus(config.bus, { dataDir: path.resolve(ctx.cwd, config.data_dir), logger: logger("bus") }));
    const rules = resolveRuleDirs((args.values.rules as string[] | undefined) ?? config.correlate.rules, ctx.cwd);
    const role = correlateRole({ config, bus, store, log, rules, cwd: ctx.cwd });
    const telemetry = telemetryStep(config.telemetry, log);
    const base = new Lifecycle("correlate-process", log).add(telemetry);
    try {
      await runUntilSignal([base, role.lifecycle], ctx.signal, log, async () => {
        await auditConfigChange(store, "correlate", config).catch((err: Error) => log.warn({ err: err.message }, "could not record the config in the audit log"));
        const url = telemetry.url();
        if (url) ctx.stderr.write(`sigil correlate: telemetry on ${url}\n`);
        log.info({ rules, telemetry: url }, "correlate role running");
      });
    } finally {
      await bus.close();
      await store.close();
    }
    return EXIT.ok;
  },
};
