// The correlate role (in-process bus, embedded store behind a switch) while the store refuses some
// writes for a few seconds and the bus redelivers the batches that failed:
// - a batch redelivered after its store write failed must not publish its routing copies again: the
//   correlation runner counts them, and a user's two typos before logging in, counted several times,
//   would become a five-failure brute force;
// - a chain whose write failed must be written when the redelivered batch succeeds, although the
//   chain builder now sees that batch's signals as duplicates (the attack's alert would never appear).
// The chaos suite runs the same faults against real Elasticsearch, at the pace of real outages.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../platform/config/schema.ts";
import { MemoryBus } from "../../platform/bus/memory.ts";
import type { Producer } from "../../platform/bus/types.ts";
import { EmbeddedStore, embeddedOptionsFromConfig } from "../../platform/store/embedded.ts";
import type { Store } from "../../platform/store/types.ts";
import { SigilError } from "../../platform/errors.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { Alert, Signal } from "../../schema/signal.ts";
import { Normalizer } from "../../ingest/normalize.ts";
import { defaultParseContext } from "../../ingest/parsers/types.ts";
import { correlateRole, type CorrelateRole } from "../../correlate/service.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { sleep, until } from "./support/processes.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-stalled-store-"));
/** Collections whose writes fail while set. */
let failing = new Set<string>();
let failedCalls = 0;
let inner: EmbeddedStore;
let store: Store;
let bus: MemoryBus;
let producer: Producer;
let role: CorrelateRole;

/** The embedded store behind a switch: writes to the collections in `failing` fail as a refusing store's would. */
function switchable(st: Store): Store {
  return new Proxy(st, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if ((prop === "put" || prop === "update") && failing.has(args[0] as string)) {
          failedCalls++;
          return Promise.reject(new SigilError("store_unavailable", `the store refuses ${String(args[0])} (test switch)`));
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * The project's Linux detection rules and its brute-force correlation, plus a counting rule that reports
 * on its own (five failures from one address): the rule a redelivered, double-counted failure would fire.
 */
function ruleDir(): string {
  const d = path.join(dir, "rules");
  fs.mkdirSync(d, { recursive: true });
  for (const f of fs.readdirSync(path.join(PROJECT_ROOT, "rules/sigma/linux"))) fs.copyFileSync(path.join(PROJECT_ROOT, "rules/sigma/linux", f), path.join(d, f));
  fs.copyFileSync(path.join(PROJECT_ROOT, "rules/correlation/linux/credential-access_ssh_brute_force_then_success.yml"), path.join(d, "brute.yml"));
  fs.writeFileSync(
    path.join(d, "guessing.yml"),
    `title: Five SSH password failures from one address
id: 5b0e1c2a-7a43-4b9e-9a55-0c7e6d0c3f11
name: ssh_five_failures
status: test
correlation:
  type: event_count
  rules: [ssh_failed_password]
  group-by: [source.ip]
  timespan: 10m
  condition: {gte: 5}
level: medium
`,
  );
  // a detection no correlation uses: its matches are stored by the detection batch itself
  fs.writeFileSync(
    path.join(d, "login.yml"),
    `title: SSH password login (standalone)
id: 7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f
name: ssh_password_login_standalone
status: test
logsource: {product: linux, service: sshd}
detection:
  keywords: ['Accepted password for']
  condition: keywords
level: low
`,
  );
  return d;
}

function sshd(lines: { ts: number; host: string; msg: string }[], tag: string): EcsEvent[] {
  const out: EcsEvent[] = [];
  const n = new Normalizer({ format: "sshd-auth", ctx: defaultParseContext() });
  const emit = { event: (e: EcsEvent) => out.push(e), reject: () => undefined };
  lines.forEach((l, i) => n.push({ data: `<86>1 ${new Date(l.ts).toISOString()} ${l.host} sshd ${i + 1} - - ${l.msg}`, source: tag, origin: `${tag}:${i}` }, emit));
  n.flush(emit);
  return out;
}

async function publish(events: EcsEvent[]): Promise<void> {
  await producer.send("events", events.map((e) => ({ key: e.host?.name ?? null, value: JSON.stringify(e) })));
}

async function hitsFor(ip: string): Promise<Signal[]> {
  await store.refresh();
  const r = await store.search("signals", { query: { op: "term", field: "source.ip", value: ip, wildcard: false, phrase: false }, size: 100 });
  return (r.hits as unknown as Signal[]).filter((s) => s.signal?.type !== "match").sort((a, b) => ((a.rule.name ?? "") < (b.rule.name ?? "") ? -1 : 1));
}

beforeAll(async () => {
  const config = configSchema.parse({ data_dir: dir, correlate: { checkpoint_interval_ms: 500 } });
  inner = new EmbeddedStore({ ...embeddedOptionsFromConfig(config.store, dir), queryWorkers: 0 });
  await inner.init();
  store = switchable(inner);
  bus = new MemoryBus({ journalPath: null, partitions: 2, logger: pino({ level: "silent" }) });
  producer = await bus.producer();
  role = correlateRole({ config, bus, store, log: pino({ level: process.env.SIGIL_TEST_LOG ?? "silent" }), cwd: PROJECT_ROOT, rules: [ruleDir()] });
  await role.lifecycle.start();
}, 120_000);

afterAll(async () => {
  failing = new Set();
  await role?.lifecycle.stop();
  await producer?.close();
  await bus?.close();
  await inner?.close();
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Makes writes to `collections` fail for `ms` after `during` published something, then heals the store. */
async function refuse(collections: string[], ms: number, during: () => Promise<void>): Promise<void> {
  failing = new Set(collections);
  const before = failedCalls;
  try {
    await during();
    await until(() => failedCalls > before, 30_000, `writes to ${collections.join(", ")} to fail`);
    await sleep(ms);
  } finally {
    failing = new Set();
  }
}

function attack(ip: string, host: string, user: string): { ts: number; host: string; msg: string }[] {
  const now = Date.now();
  const lines = Array.from({ length: 5 }, (_, i) => ({ ts: now - 6_000 + i * 1_000, host, msg: `Failed password for ${user} from ${ip} port ${4000 + i} ssh2` }));
  lines.push({ ts: now, host, msg: `Accepted password for ${user} from ${ip} port 4010 ssh2` });
  return lines;
}

describe("correlate while the store refuses writes and batches are redelivered", () => {
  it("does not count a failure twice when its batch is redelivered", async () => {
    // a user mistypes twice, then logs in: far from five failures, however often the batch comes again
    // (the detection batch stores its standalone signals, here the password login's: refusing those makes
    // the batch fail after its routing copies went out, and the bus redelivers it again and again)
    await refuse(["signals"], 5_000, async () => {
      const now = Date.now();
      const typos = [0, 1].map((i) => ({ ts: now - 3_000 + i * 1_000, host: "ws-2", msg: `Failed password for intern from 198.18.0.9 port ${5000 + i} ssh2` }));
      typos.push({ ts: now, host: "ws-2", msg: "Accepted password for intern from 198.18.0.9 port 5010 ssh2" });
      await publish(sshd(typos, "typos"));
    });
    await until(async () => (await store.search("events", { query: { op: "term", field: "host.name", value: "ws-2", wildcard: false, phrase: false }, size: 10 })).total === 3, 60_000, "the typos to be stored");
    // the runner has seen everything once the batch went through; a real attack still fires
    await publish(sshd(attack("203.0.113.7", "db-7", "deploy"), "control"));
    await until(async () => (await hitsFor("203.0.113.7")).length === 2, 60_000, "the control attack's hits");
    expect((await hitsFor("203.0.113.7")).map((h) => h.rule.name)).toEqual(["ssh_brute_force_then_success", "ssh_five_failures"]);
    expect(await hitsFor("198.18.0.9"), "two failures redelivered many times are still two failures").toEqual([]);
  }, 120_000);

  it("writes the chain and alert of an attack whose chain write failed and was redelivered", async () => {
    await refuse(["chains"], 5_000, async () => {
      await publish(sshd(attack("203.0.113.9", "db-9", "admin"), "attack"));
    });
    const alertOn = async (host: string) => {
      await store.refresh();
      const r = await store.search("alerts", { query: { op: "term", field: "entities.hosts", value: host, wildcard: false, phrase: false }, size: 10 });
      return r.hits as unknown as Alert[];
    };
    await until(async () => (await alertOn("db-9")).length > 0, 60_000, "the attack's alert after the store took chains again");
    expect((await alertOn("db-9")).length).toBe(1);
  }, 120_000);
});
