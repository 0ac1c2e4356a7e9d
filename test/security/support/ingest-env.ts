// The ingest role in this process on the in-process bus, with real tokens in an embedded store, for the
// security tests that need to see what ingest published (events and dead letters) and what it answered.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { configSchema, type SigilConfig } from "../../../platform/config/schema.ts";
import { MemoryBus } from "../../../platform/bus/memory.ts";
import type { Consumer } from "../../../platform/bus/types.ts";
import { EmbeddedStore, embeddedOptionsFromConfig } from "../../../platform/store/embedded.ts";
import { CachedTokenVerifier, TokenStore } from "../../../platform/security/tokens.ts";
import type { EcsEvent, JsonObject } from "../../../schema/ecs.ts";
import { ingestRole, type IngestRole } from "../../../ingest/service.ts";

export interface DeadLetter {
  reason: { code: string; message: string };
  receiver: string;
  raw?: string;
  [k: string]: unknown;
}

export interface IngestEnv {
  config: SigilConfig;
  dir: string;
  bus: MemoryBus;
  store: EmbeddedStore;
  role: IngestRole;
  token: string;
  url(name: "http" | "otlp" | "syslog-tcp"): string;
  port(name: "http" | "otlp" | "syslog-tcp"): number;
  /** Everything published so far, by topic. */
  events: EcsEvent[];
  deadLetters: DeadLetter[];
  /** Waits until `n` events and dead letters in total arrived since `mark()`. */
  mark(): { events: number; dead: number };
  close(): Promise<void>;
}

export async function startIngestEnv(overrides: Record<string, unknown> = {}, opts: { store?: EmbeddedStore; bus?: MemoryBus } = {}): Promise<IngestEnv> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-sec-ingest-"));
  const config = configSchema.parse({
    data_dir: dir,
    ...overrides,
    ingest: {
      http: { port: 0 },
      otlp: { port: 0 },
      syslog: { udp: { enabled: false }, tcp: { port: 0 } },
      ...((overrides.ingest as object) ?? {}),
    },
  });
  const store = opts.store ?? new EmbeddedStore({ ...embeddedOptionsFromConfig(config.store, dir), queryWorkers: 0 });
  if (!opts.store) await store.init();
  const tokens = new TokenStore(store);
  const { token } = await tokens.create({ name: `sec-${randomBytes(3).toString("hex")}` });
  const bus = opts.bus ?? new MemoryBus({ journalPath: null, partitions: 2, logger: pino({ level: "silent" }) });
  const log = pino({ level: process.env.SIGIL_TEST_LOG ?? "silent" });
  const role = ingestRole({ config, bus, verifier: new CachedTokenVerifier(tokens, 500), log });
  await role.lifecycle.start();
  const events: EcsEvent[] = [];
  const deadLetters: DeadLetter[] = [];
  const consumers: Consumer[] = [];
  const group = `sec-reader-${randomBytes(3).toString("hex")}`;
  const ev = await bus.consumer({ groupId: `${group}-ev`, topics: ["events"], fromBeginning: true });
  void ev.run(async (b) => {
    for (const m of b.messages) events.push(JSON.parse(m.value.toString("utf8")) as EcsEvent);
  });
  const dl = await bus.consumer({ groupId: `${group}-dl`, topics: ["dlq"], fromBeginning: true });
  void dl.run(async (b) => {
    for (const m of b.messages) deadLetters.push(JSON.parse(m.value.toString("utf8")) as DeadLetter & JsonObject);
  });
  consumers.push(ev, dl);
  const find = (name: string) => {
    const l = role.listeners().find((x) => x.name === name);
    if (!l) throw new Error(`no ${name} listener`);
    return l;
  };
  return {
    config,
    dir,
    bus,
    store,
    role,
    token,
    url: (name) => find(name).url,
    port: (name) => find(name).port,
    events,
    deadLetters,
    mark: () => ({ events: events.length, dead: deadLetters.length }),
    async close() {
      for (const c of consumers) await c.close();
      await role.lifecycle.stop();
      if (!opts.bus) await bus.close();
      if (!opts.store) await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Batch headers of the agent wire format (decision 0005). */
export function batchHeaders(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, "content-type": "application/x-ndjson", "x-sigil-batch-id": randomBytes(16).toString("hex"), "x-sigil-batch-time": String(Date.now()), ...extra };
}
