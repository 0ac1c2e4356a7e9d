// Child process for the kill -9 durability test: writes batches of events to the embedded store and
// prints "ack <batch>" after each put resolved; the test kills it with SIGKILL right after an ack.
import { EmbeddedStore } from "../embedded.ts";

const file = process.argv[2];
const store = new EmbeddedStore({ file, queryWorkers: 0, synchronous: "full" });
await store.init();
for (let b = 0; b < 100_000; b++) {
  const docs = [];
  for (let i = 0; i < 100; i++) {
    docs.push({ "@timestamp": new Date(Date.UTC(2026, 0, 1) + b * 1000 + i).toISOString(), event: { id: `b${b}-${i}`, kind: "event", dataset: "test.kill" }, message: `batch${b} item${i}` });
  }
  await store.put("events", docs);
  process.stdout.write(`ack ${b}\n`);
}
