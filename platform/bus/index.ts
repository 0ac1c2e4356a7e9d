// The bus: one interface, an in-process implementation and a Kafka one, chosen by config.
export * from "./types.ts";
export { MemoryBus } from "./memory.ts";
export { partitionFor, murmur2 } from "./partitioner.ts";
export { createBus } from "./create.ts";
