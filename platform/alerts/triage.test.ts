import { describe, expect, it } from "vitest";
import { mergeTriage, preserveTriage, triageAlert, validateTriageChange, type TriageChange } from "./triage.ts";
import { decodeAlertsMessage, encodeAlertsMessage } from "./messages.ts";
import { SigilError } from "../errors.ts";
import type { Alert } from "../../schema/signal.ts";
import type { Doc, Store } from "../store/types.ts";

function alert(over: Partial<Alert> = {}): Alert {
  return {
    id: "a1",
    "@timestamp": "2026-11-21T05:00:00.000Z",
    updated: "2026-11-21T05:00:00.000Z",
    version: 3,
    title: "Credential dumping then lateral movement",
    level: "high",
    risk_score: 80,
    status: "new",
    close_reason: null,
    assignee: null,
    notes: [],
    chain_id: "c1",
    rule_ids: ["r1"],
    tactics: ["credential-access"],
    techniques: ["T1003"],
    entities: { users: ["bob"], hosts: ["ws1"], ips: [], services: [] },
    first_seen: "2026-11-21T04:00:00.000Z",
    last_seen: "2026-11-21T05:00:00.000Z",
    signal_count: 2,
    duplicate_count: 0,
    ...over,
  };
}

const now = new Date("2026-11-21T06:00:00.000Z");

describe("validateTriageChange", () => {
  const bad: [TriageChange | Record<string, unknown>, string][] = [
    [{}, "change"],
    [{ status: "closed" }, "close_reason"],
    [{ status: "nope" }, "status"],
    [{ status: "new", close_reason: "false_positive" }, "close_reason"],
    [{ close_reason: "false_positive" }, "close_reason"],
    [{ status: "closed", close_reason: "meh" }, "close_reason"],
    [{ assignee: "<script>" }, "assignee"],
    [{ note: "   " }, "note"],
    [{ note: "x".repeat(4001) }, "note"],
    [{ version: 2 }, "version"],
  ];
  it.each(bad)("rejects %j at %s", (change, key) => {
    try {
      validateTriageChange(change as TriageChange);
      expect.unreachable();
    } catch (err) {
      expect((err as SigilError).code).toBe("triage_invalid");
      expect((err as SigilError).location?.key).toBe(key);
    }
  });
  it("accepts a close with reason, an assignment and a note", () => {
    expect(() => validateTriageChange({ status: "closed", close_reason: "benign_positive", assignee: "alice", note: "seen before" })).not.toThrow();
  });
});

describe("mergeTriage", () => {
  it("applies every group when nobody else changed the alert", () => {
    const r = mergeTriage(alert(), { status: "acknowledged", assignee: "alice" }, { baseVersion: 3, actor: "alice", now });
    expect(r.applied).toEqual(["status", "assignee"]);
    expect(r.conflicts).toEqual([]);
    expect(r.alert.status).toBe("acknowledged");
    expect(r.alert.assignee).toBe("alice");
    expect(r.alert.version).toBe(4);
    expect(r.alert.updated).toBe(now.toISOString());
  });

  it("merges different fields changed by two analysts", () => {
    // bob assigned himself (v3 → v4); alice, still at v3, acknowledges
    const current = alert({ version: 4, assignee: "bob" });
    const r = mergeTriage(current, { status: "acknowledged" }, { baseVersion: 3, base: { status: "new" }, actor: "alice", now });
    expect(r.conflicts).toEqual([]);
    expect(r.alert.status).toBe("acknowledged");
    expect(r.alert.assignee).toBe("bob");
  });

  it("reports a real conflict and keeps the stored value", () => {
    const current = alert({ version: 4, status: "closed", close_reason: "false_positive" });
    const r = mergeTriage(current, { status: "in_progress", assignee: "alice" }, { baseVersion: 3, base: { status: "new", assignee: null }, actor: "alice", now });
    expect(r.applied).toEqual(["assignee"]);
    expect(r.conflicts).toEqual([{ field: "status", base: "new", yours: "in_progress", theirs: "closed (false_positive)" }]);
    expect(r.alert.status).toBe("closed");
    expect(r.alert.assignee).toBe("alice");
  });

  it("treats the same change by both analysts as no conflict", () => {
    const current = alert({ version: 4, assignee: "bob" });
    const r = mergeTriage(current, { assignee: "bob" }, { baseVersion: 3, base: { assignee: null }, actor: "alice", now });
    expect(r.conflicts).toEqual([]);
    expect(r.applied).toEqual([]);
    expect(r.alert).toBe(current);
  });

  it("writes over a conflict when forced", () => {
    const current = alert({ version: 4, assignee: "bob" });
    const r = mergeTriage(current, { assignee: "alice" }, { baseVersion: 3, base: { assignee: null }, actor: "alice", now, force: true });
    expect(r.alert.assignee).toBe("alice");
    expect(r.changes).toEqual({ assignee: { from: "bob", to: "alice" } });
  });

  it("appends notes from both analysts without conflict", () => {
    const first = mergeTriage(alert(), { note: "looking" }, { baseVersion: 3, actor: "bob", now });
    const second = mergeTriage(first.alert, { note: "me too" }, { baseVersion: 3, actor: "alice", now });
    expect(second.alert.notes.map((n) => [n.author, n.text])).toEqual([["bob", "looking"], ["alice", "me too"]]);
  });

  it("clears the close reason when an alert is reopened", () => {
    const r = mergeTriage(alert({ status: "closed", close_reason: "duplicate" }), { status: "in_progress" }, { baseVersion: 3, actor: "a", now });
    expect(r.alert.close_reason).toBeNull();
    expect(r.changes["close_reason"]).toEqual({ from: "duplicate", to: null });
  });
});

describe("preserveTriage", () => {
  it("keeps the analysts' fields when the chain builder rewrites an alert", () => {
    const stored = alert({ version: 7, status: "in_progress", assignee: "bob", notes: [{ id: "n", author: "bob", at: "x", text: "t" }] });
    const incoming = alert({ version: 1, status: "new", signal_count: 5, risk_score: 95 });
    const out = preserveTriage(incoming, stored);
    expect(out.status).toBe("in_progress");
    expect(out.assignee).toBe("bob");
    expect(out.notes).toHaveLength(1);
    expect(out.signal_count).toBe(5);
    expect(out.version).toBe(8);
  });
});

/** A one-collection store double: get and an atomic update with version checks. */
function fakeStore(docs: Map<string, Doc>, raceOnce = false): Store {
  let raced = !raceOnce;
  return {
    async update(_c: string, id: string, fn: (cur: Doc | null) => Doc | null) {
      const cur = docs.get(id) ?? null;
      const next = fn(cur ? structuredClone(cur) : null);
      if (!raced) {
        raced = true;
        throw new SigilError("store_conflict", "version changed");
      }
      if (next) docs.set(id, next);
      return next ?? cur;
    },
  } as unknown as Store;
}

describe("triageAlert", () => {
  it("writes the merge, retries a version race and audits the change", async () => {
    const docs = new Map<string, Doc>([["a1", alert()]]);
    const records: unknown[] = [];
    const audit = { record: async (r: unknown) => void records.push(r) };
    const out = await triageAlert(fakeStore(docs, true), audit as never, { id: "a1", change: { status: "acknowledged" }, baseVersion: 3, actor: "alice", now: () => now });
    expect(out.alert.status).toBe("acknowledged");
    expect((docs.get("a1") as Alert).version).toBe(4);
    expect(records).toEqual([expect.objectContaining({ actor: "alice", action: "alert.update", target: "a1", outcome: "success" })]);
  });

  it("fails with alert_not_found for an unknown id", async () => {
    await expect(triageAlert(fakeStore(new Map()), null, { id: "zz", change: { status: "acknowledged" }, actor: "a" })).rejects.toMatchObject({ code: "alert_not_found" });
  });
});

describe("alerts topic messages", () => {
  it("round-trips an alert with its chain id as key", () => {
    const m = encodeAlertsMessage({ kind: "alert", alert: alert(), source: "triage" });
    expect(m.key).toBe("c1");
    expect(decodeAlertsMessage(m.value)).toEqual({ kind: "alert", alert: alert(), source: "triage" });
  });
  it("accepts bare alert and chain documents and rejects anything else", () => {
    expect(decodeAlertsMessage(JSON.stringify(alert()))?.kind).toBe("alert");
    expect(decodeAlertsMessage(JSON.stringify({ id: "c", version: 1, steps: [] }))?.kind).toBe("chain");
    expect(decodeAlertsMessage("{")).toBeNull();
    expect(decodeAlertsMessage('{"__proto__":{"polluted":1}}')).toBeNull();
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});
