// The console role on a real Kafka broker publishes its sign-in audit records on sigil.events as ECS
// events (what the correlate instances read in the distributed setup), one per attempt, keyed by the
// console's host name, with ids that match the audit records they come from.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Consumer } from "../../platform/bus/types.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import type { AuditRecord } from "../../schema/signal.ts";
import { validateEvent } from "../../schema/validate.ts";
import { PASSWORD, startConsoleEnv, type ConsoleEnv } from "../console/support/console-env.ts";
import { testIsolation } from "../support/services.ts";

const iso = testIsolation(import.meta.url);
let env: ConsoleEnv;
let consumer: Consumer | null = null;

beforeAll(async () => {
  env = await startConsoleEnv({
    config: {
      node_name: "console-a",
      bus: { type: "kafka", topic_prefix: iso.topicPrefix, partitions: 2, kafka: { brokers: iso.kafkaBrokers } },
      console: { web: { auto_build: false } },
    },
  });
  await env.addUser("alice", "analyst");
});

afterAll(async () => {
  await consumer?.close();
  await env?.close();
  await iso.cleanup();
});

describe("console sign-in events on Kafka", () => {
  it("publishes every sign-in attempt on the events topic as an ECS authentication event", async () => {
    const login = (username: string, password: string) => fetch(`${env.url}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json", origin: env.url }, body: JSON.stringify({ username, password }) });
    expect((await login("alice", "not it")).status).toBe(400);
    expect((await login("mallory", "not it")).status).toBe(400);
    expect((await login("alice", PASSWORD)).status).toBe(200);

    const got: { key: string | null; value: Record<string, unknown> }[] = [];
    consumer = await env.bus.consumer({ groupId: `${iso.prefix}audit-reader`, topics: ["events"], fromBeginning: true });
    await consumer.run(async (batch) => {
      for (const m of batch.messages) got.push({ key: m.key ? m.key.toString() : null, value: safeJsonParse(m.value.toString("utf8")) as Record<string, unknown> });
    });
    for (const t0 = Date.now(); got.length < 3; ) {
      if (Date.now() - t0 > 30_000) throw new Error(`timed out: ${got.length} events`);
      await new Promise((r) => setTimeout(r, 100));
    }
    type Ev = { "@timestamp": string; event: { id: string; action: string; outcome: string; dataset: string }; user: { name: string }; source: { ip: string }; host: { name: string }; labels: { audit_id: string } };
    const events = got.map((g) => g.value as unknown as Ev).sort((a, b) => a["@timestamp"].localeCompare(b["@timestamp"]));
    expect(events.map((e) => [e.event.action, e.event.outcome, e.user.name])).toEqual([
      ["auth.sign_in_failed", "failure", "alice"],
      ["auth.sign_in_failed", "failure", "mallory"],
      ["auth.sign_in", "success", "alice"],
    ]);
    expect(got.map((g) => g.key)).toEqual(["console-a", "console-a", "console-a"]);
    for (const e of events) {
      expect(validateEvent(e)).toEqual([]);
      expect(e.event.dataset).toBe("sigil.audit");
      expect(e.source.ip).toBe("127.0.0.1");
      expect(e.host.name).toBe("console-a");
    }
    // each event names its audit record, and the record says the same
    const audit = (await env.store.search("audit", { size: 50 })).hits as AuditRecord[];
    for (const e of events) {
      const rec = audit.find((r) => r.id === e.labels.audit_id)!;
      expect(rec).toMatchObject({ action: e.event.action, actor: e.user.name, source_ip: e.source.ip, "@timestamp": e["@timestamp"] });
    }
  });
});
