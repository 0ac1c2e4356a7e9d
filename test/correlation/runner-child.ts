// One member of the correlation consumer group, as its own process (so the test can SIGKILL it):
// the stateful runner over `signals` on real Kafka, checkpointing to real Elasticsearch. Config
// comes from SIGIL_* variables; prints "ready" once running and stops gracefully on SIGTERM.
import path from "node:path";
import { loadConfig } from "../../platform/config/load.ts";
import { createBus } from "../../platform/bus/create.ts";
import { openStore } from "../../platform/store/create.ts";
import { loadRules } from "../../correlate/sigma/loader.ts";
import { loadPipelines } from "../../correlate/sigma/pipeline.ts";
import { buildCorrelationPlan } from "../../correlate/correlation/load.ts";
import { correlationStage } from "../../correlate/correlation/partition.ts";
import { StatefulRunner } from "../../correlate/correlation/runner.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";

const config = loadConfig({ env: process.env });
const bus = await createBus(config.bus, {});
const store = await openStore(config.store, process.env.SIGIL_DATA_DIR ?? "/tmp");
const loaded = loadRules([path.join(PROJECT_ROOT, "rules/sigma"), path.join(PROJECT_ROOT, "rules/correlation")]);
const { plan } = buildCorrelationPlan(loaded, loadPipelines("all"));
const runner = new StatefulRunner({
  bus,
  store,
  stages: [correlationStage(plan, { allowedLatenessMs: config.correlate.allowed_lateness_ms, maxGroups: config.correlate.max_groups })],
  groupId: process.env.TEST_GROUP_ID ?? "sigil-correlation-it",
  checkpointIntervalMs: config.correlate.checkpoint_interval_ms,
  idleAdvanceMs: 0,
  maxBatchSize: Number(process.env.TEST_MAX_BATCH ?? 25),
});
await runner.start();
process.stdout.write("ready\n");
const tick = setInterval(() => process.stdout.write(`stats ${JSON.stringify({ ...runner.stats, held: runner.held() })}\n`), 500);
process.once("SIGTERM", () => {
  clearInterval(tick);
  void (async () => {
    await runner.stop();
    await bus.close();
    await store.close();
    process.stdout.write(`stopped ${JSON.stringify(runner.stats)}\n`);
    process.exit(0);
  })();
});
