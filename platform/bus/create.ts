// Picks the bus implementation the config names: the in-process bus (journaled in data_dir) or Kafka.
import path from "node:path";
import type { BusConfig } from "../config/schema.ts";
import { logger as makeLogger, type Logger } from "../telemetry/log.ts";
import { MemoryBus } from "./memory.ts";
import type { Bus } from "./types.ts";

/**
 * The bus for this config. The in-process bus keeps its journal under `dataDir` (the config's data_dir);
 * without a dataDir it runs without a journal and says so. Kafka connects (with start-up retries) before returning.
 */
export async function createBus(cfg: BusConfig, opts: { dataDir?: string; logger?: Logger } = {}): Promise<Bus> {
  const log = opts.logger ?? makeLogger("bus", { bus: cfg.type });
  if (cfg.type === "memory") {
    const m = cfg.memory;
    let journalPath: string | null = null;
    if (m.journal && opts.dataDir) journalPath = path.resolve(opts.dataDir, m.journal_path);
    else if (m.journal) log.warn("no data_dir was given: the in-process bus runs without its journal, so a crash loses unconsumed messages");
    return new MemoryBus({
      partitions: cfg.partitions,
      topicPrefix: cfg.topic_prefix,
      retentionMessages: m.retention_messages,
      maxBufferedBytes: m.max_buffered_bytes,
      sendTimeoutMs: m.send_timeout_ms,
      emptyGroupHoldMs: m.empty_group_hold_ms,
      journalPath,
      journalSync: m.journal_sync,
      logger: log,
    });
  }
  const { KafkaBus } = await import("./kafka.ts");
  return KafkaBus.connect(cfg, { logger: log });
}
