// The bus contract suite (test/bus/contract.ts) against the in-process bus.
import { busContract } from "../../test/bus/contract.ts";
import { MemoryBus } from "./memory.ts";

let n = 0;
busContract({
  name: "memory",
  timeoutMs: 5000,
  make: async ({ partitions, prefix }) => {
    const bus = new MemoryBus({ partitions, topicPrefix: prefix ?? `run${n++}-` });
    return { bus, partitionCount: async () => bus.partitions };
  },
});
