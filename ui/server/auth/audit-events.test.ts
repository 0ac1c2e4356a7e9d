// Sign-in audit records as ECS events (dataset sigil.audit) published by the console: their shape, ids
// derived from the record, and a bus that refuses them never failing a sign-in.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { EcsEvent } from "../../../schema/ecs.ts";
import type { AuditRecord } from "../../../schema/signal.ts";
import { validateEvent } from "../../../schema/validate.ts";
import { addRoleUsers, client, PASSWORD, signIn, startHarness, type Harness } from "../test-support/harness.ts";
import { AUDIT_DATASET, auditEvent, publishAuditEvent } from "./audit-events.ts";

let h: Harness;
const published: EcsEvent[] = [];
let failing = false;
const log = pino({ level: "silent" });

beforeAll(async () => {
  h = await startHarness();
  await addRoleUsers(h);
  h.deps.publishAudit = (rec) =>
    publishAuditEvent(
      async (events) => {
        if (failing) throw new Error("bus down");
        published.push(...events);
      },
      rec,
      "console-1",
      log,
    );
});
afterAll(async () => h.close());

describe("sign-in audit events", () => {
  it("publishes failed and successful sign-ins and sign-outs as ECS authentication events", async () => {
    published.length = 0;
    const c = client(h);
    for (const name of ["mallory", "viewer"]) expect((await c.fetch("/api/auth/login", { method: "POST", json: { username: name, password: "wrong password" } })).status).toBe(400);
    const s = await signIn(h, "analyst");
    expect((await s.fetch("/api/auth/logout", { method: "POST" })).status).toBe(200);
    expect(published.map((e) => [e.event.action, e.event.outcome, e.user?.name, e.event.type])).toEqual([
      ["auth.sign_in_failed", "failure", "mallory", ["start"]],
      ["auth.sign_in_failed", "failure", "viewer", ["start"]],
      ["auth.sign_in", "success", "analyst", ["start"]],
      ["auth.sign_out", "success", "analyst", ["end"]],
    ]);
    for (const e of published) {
      expect(validateEvent(e)).toEqual([]);
      expect(e.event).toMatchObject({ kind: "event", category: ["authentication"], dataset: AUDIT_DATASET });
      expect(e.source?.ip).toBe("127.0.0.1");
      expect(e.host?.name).toBe("console-1");
    }
    expect(new Set(published.map((e) => e.event.id)).size).toBe(4);
    // each event names the audit record it comes from
    const audit = [...(h.store.data.get("audit")?.values() ?? [])] as AuditRecord[];
    for (const e of published) expect(audit.map((r) => r.id)).toContain((e as unknown as { labels: { audit_id: string } }).labels.audit_id);
  });

  it("derives the event id from the record: the same record gives the same id, another record another", () => {
    const rec: AuditRecord = { id: "3f1c2a4e-0000-4000-8000-000000000001", "@timestamp": "2026-01-15T10:00:00.000Z", actor: "ann", action: "auth.sign_in_failed", outcome: "failure", source_ip: "198.51.100.23" };
    const a = auditEvent(rec, "n1")!;
    expect(auditEvent({ ...rec }, "n1")!.event.id).toBe(a.event.id);
    expect(auditEvent({ ...rec, id: "3f1c2a4e-0000-4000-8000-000000000002" }, "n1")!.event.id).not.toBe(a.event.id);
    expect(a.event.id).toMatch(/^[0-9a-f]{32}$/);
    expect(auditEvent({ ...rec, action: "alert.update" }, "n1")).toBeNull();
    expect(auditEvent({ ...rec, source_ip: undefined }, "n1")!.source).toBeUndefined();
  });

  it("still signs in when the bus refuses the event (the audit record is stored)", async () => {
    failing = true;
    try {
      published.length = 0;
      const before = [...(h.store.data.get("audit")?.values() ?? [])].length;
      const res = await client(h).fetch("/api/auth/login", { method: "POST", json: { username: "admin", password: PASSWORD } });
      expect(res.status).toBe(200);
      expect(published).toEqual([]);
      expect([...(h.store.data.get("audit")?.values() ?? [])].length).toBe(before + 1);
    } finally {
      failing = false;
    }
  });
});
