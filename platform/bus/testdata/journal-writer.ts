// A one-process Sigil bus in its own process, for the kill -9 test of the journal: it consumes and
// commits the first 50 messages of group "g", then keeps producing and prints "acked <n>" after every
// acknowledged send, until it is killed.
// usage: node --import tsx journal-writer.ts <journal file>
import { pino } from "pino";
import { MemoryBus } from "../memory.ts";

const bus = new MemoryBus({ partitions: 3, journalPath: process.argv[2], logger: pino({ level: "error" }) });
const prod = await bus.producer();
await prod.send("events", Array.from({ length: 50 }, (_, i) => ({ key: `h${i % 5}`, value: `m${i}`, headers: { n: String(i) } })));
let handled = 0;
const c = await bus.consumer({ groupId: "g", topics: ["events"], maxBatchSize: 7 });
await c.run(async (b) => {
  handled += b.messages.length;
});
while (handled < 50) await new Promise((r) => setTimeout(r, 5));
await c.close();
process.stdout.write("committed 50\n");
for (let n = 50; ; n += 10) {
  await prod.send("events", Array.from({ length: 10 }, (_, i) => ({ key: `h${(n + i) % 5}`, value: `m${n + i}`, headers: { n: String(n + i) } })));
  process.stdout.write(`acked ${n + 10}\n`);
}
