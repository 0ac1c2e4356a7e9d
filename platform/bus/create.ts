// Picks the bus implementation the config names.
import type { BusConfig } from "../config/schema.ts";
import { MemoryBus } from "./memory.ts";
import type { Bus } from "./types.ts";

export async function createBus(cfg: BusConfig, _opts: { dataDir?: string } = {}): Promise<Bus> {
  if (cfg.type === "memory") {
    return new MemoryBus({ partitions: cfg.partitions, topicPrefix: cfg.topic_prefix, retentionMessages: cfg.memory.retention_messages });
  }
  const { KafkaBus } = await import("./kafka.ts");
  return KafkaBus.connect(cfg);
}
