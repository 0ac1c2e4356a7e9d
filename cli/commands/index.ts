// `sigil index`: the events indexer as its own role process (sigil.events → the store's events index, in
// the `sigil-events-store` consumer group), at a lower OS scheduling priority, so on a shared machine
// detection and alerts get the CPU first and the index catches up with what is left. Stops on SIGTERM
// after its in-flight batch is stored and committed.
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { loadConfig } from "../../platform/config/load.ts";
import { createBus } from "../../platform/bus/create.ts";
import { Lifecycle } from "../../platform/lifecycle.ts";
import { describeError } from "../../platform/errors.ts";
import { sessionOf, setAutogroupNice } from "../../platform/sched.ts";
import { logger, setLogLevel, type Logger } from "../../platform/telemetry/log.ts";
import { monitorBus } from "../../platform/telemetry/lag.ts";
import { registerDependencyChecks, telemetryStep } from "../../platform/telemetry/role.ts";
import { EventsIndexer } from "../../correlate/indexer.ts";
import { EXIT, configOption, type Command } from "../command.ts";
import { openStore, runUntilSignal } from "../roles.ts";

/**
 * Lowers this process's scheduling priority to `nice`. Linux keeps a nice value per thread, so every
 * thread already running (V8's and libuv's) is lowered too; threads started later inherit it. A process
 * that leads its own session (a service manager or `setsid` started it) is its own autogroup, where a
 * nice value counts only inside the group: the group's nice value is lowered too (platform/sched.ts).
 */
export function lowerPriority(nice: number, log: Logger): number | null {
  if (nice <= 0) return null;
  try {
    os.setPriority(0, nice);
    let threads = 1;
    try {
      for (const tid of fs.readdirSync("/proc/self/task")) {
        try {
          os.setPriority(Number(tid), nice);
          threads++;
        } catch {
          // a thread that ended meanwhile
        }
      }
    } catch {
      // no /proc (not Linux): the process priority is what the platform offers
    }
    if (sessionOf("self") === process.pid) {
      const r = setAutogroupNice("self", nice);
      if (r instanceof Error) log.warn({ nice, err: describeError(r) }, "cannot lower the nice value of the indexer's session (its autogroup); across sessions it competes with detection as an equal");
    }
    return threads;
  } catch (err) {
    log.warn({ nice, err: describeError(err) }, "cannot lower the indexer's scheduling priority; it competes with detection for the CPU");
    return null;
  }
}

export const command: Command = {
  name: "index",
  summary: "run the events indexer role: sigil.events into the store's events index, at a lower CPU priority",
  usage: "index [--config <file>]",
  description: `
Stores every event of sigil.events in the store's events index, in its own consumer group
(sigil-events-store), apart from detection: when the store is slow or down only this group falls behind
(on the bus, not in memory), and alerts keep flowing. The process lowers its OS scheduling priority to
index.nice (default 10), so on a machine it shares with correlate and ingest the alert path gets the CPU
first. Offsets commit after the store acknowledged a batch; documents the store refuses go to sigil.dlq
with its reason. Run it with index.in_correlate: false in the correlate processes' config, so they leave
indexing to it (with the default true both store events, splitting the partitions). Run as many as you
like: they split the partitions. SIGTERM finishes and commits the batch in flight and exits 0.`,
  options: { config: configOption },
  async run(args, ctx) {
    const config = loadConfig({ file: (args.values.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
    setLogLevel(config.telemetry.log_level ?? "info");
    const log = logger("index");
    const threads = lowerPriority(config.index.nice, log);
    const store = await openStore(config, ctx.cwd);
    const bus = monitorBus(await createBus(config.bus, { dataDir: path.resolve(ctx.cwd, config.data_dir), logger: logger("bus") }));
    const telemetry = telemetryStep(config.telemetry, log);
    let indexer: EventsIndexer | null = null;
    let unregister: (() => void) | null = null;
    const role = new Lifecycle("index", log)
      .add({ name: "store", start: () => store.init() })
      .add({
        name: "bus",
        async start() {
          await bus.ensureTopics();
          unregister = registerDependencyChecks("index", { bus, store });
        },
        stop() {
          unregister?.();
        },
      })
      .add({
        name: "events indexer",
        async start() {
          indexer = new EventsIndexer({ bus, store, log, maxBatchSize: config.index.max_batch_size });
          await indexer.start();
        },
        async stop() {
          await indexer?.stop();
          indexer = null;
        },
      });
    const base = new Lifecycle("index-process", log).add(telemetry);
    try {
      await runUntilSignal([base, role], ctx.signal, log, () => {
        const url = telemetry.url();
        if (url) ctx.stderr.write(`sigil index: telemetry on ${url}\n`);
        log.info({ telemetry: url, nice: threads === null ? 0 : config.index.nice, threads_lowered: threads }, "index role running");
      });
    } finally {
      await bus.close();
      await store.close();
    }
    return EXIT.ok;
  },
};
