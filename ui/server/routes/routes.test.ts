import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tableFromIPC } from "apache-arrow";
import { addRoleUsers, makeAlert, makeChain, signIn, startHarness, type Client, type Harness } from "../test-support/harness.ts";
import { decodeAlertsMessage } from "../../../platform/alerts/messages.ts";
import type { Alert, ChainStep, Signal } from "../../../schema/signal.ts";
import { catalogDocs } from "../../../schema/rule-catalog.ts";
import { BASELINE_SUMMARY_KIND, baselineHistoryId, baselineSummaryId } from "../../../schema/baseline-history.ts";
import { prom, registry } from "../../../platform/telemetry/metrics.ts";

let h: Harness;
let analyst: Client;
let bob: Client;
let viewer: Client;
let admin: Client;

function signal(id: string, ts: string, over: Partial<Signal> = {}): Signal {
  return {
    "@timestamp": ts,
    event: { id, kind: "signal", dataset: "sigil.signal", severity: 4, risk_score: 73 },
    rule: { id: "r-mimikatz", title: "Mimikatz command line", level: "high" },
    signal: { type: "match", key: "ws1", events: [{ id: `ev-${id}`, "@timestamp": ts }] },
    host: { name: "ws1" },
    user: { name: "bob" },
    process: { name: "mimikatz.exe", pid: 4242, parent: { name: "powershell.exe", pid: 100 } },
    source: { ip: "10.0.0.9" },
    ...over,
  } as Signal;
}

beforeAll(async () => {
  h = await startHarness();
  await addRoleUsers(h);
  await h.deps.users.add({ name: "bob", role: "analyst", password: "correct horse battery staple", createdBy: "t" });
  analyst = await signIn(h, "analyst");
  bob = await signIn(h, "bob");
  viewer = await signIn(h, "viewer");
  admin = await signIn(h, "admin");
});
afterAll(async () => h.close());

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

describe("alerts and triage", () => {
  it("lists the alerts a filter selects, with counts by status", async () => {
    await h.store.put("alerts", [
      makeAlert({ id: "q-1", level: "critical", tactics: ["lateral-movement"], entities: { users: ["carol"], hosts: ["db1"], ips: [], services: [] } }),
      makeAlert({ id: "q-2", level: "low", tactics: ["lateral-movement"], assignee: "bob", status: "acknowledged" }),
    ]);
    const r = await json<{ alerts: { id: string }[]; counts: Record<string, number> }>(await viewer.fetch("/api/alerts?tactic=lateral-movement&severity=critical"));
    expect(r.alerts.map((a) => a.id)).toEqual(["q-1"]);
    const byEntity = await json<{ alerts: { id: string }[] }>(await viewer.fetch("/api/alerts?entity=carol"));
    expect(byEntity.alerts.map((a) => a.id)).toEqual(["q-1"]);
    const mine = await json<{ alerts: { id: string }[] }>(await bob.fetch("/api/alerts?assignee=me"));
    expect(mine.alerts.map((a) => a.id)).toEqual(["q-2"]);
    const counts = await json<{ counts: Record<string, number> }>(await viewer.fetch("/api/alerts/counts?tactic=lateral-movement"));
    expect(counts.counts).toEqual({ new: 1, acknowledged: 1, in_progress: 0, closed: 0 });
  });

  it("applies a change, audits it, publishes it on the alerts topic and to open consoles", async () => {
    await h.store.put("alerts", [makeAlert({ id: "t-1", version: 1 })]);
    const before = h.published.length;
    const res = await analyst.fetch("/api/alerts/t-1/triage", { method: "POST", json: { base_version: 1, base: { status: "new", assignee: null }, change: { status: "acknowledged", assignee: "analyst" } } });
    expect(res.status).toBe(200);
    const body = await json<{ alert: Alert; applied: string[]; conflicts: unknown[] }>(res);
    expect(body.applied).toEqual(["status", "assignee"]);
    expect(body.alert).toMatchObject({ status: "acknowledged", assignee: "analyst", version: 2 });
    const msg = decodeAlertsMessage(h.published[before].value);
    expect(msg).toMatchObject({ kind: "alert", source: "triage", alert: { id: "t-1", version: 2 } });
    const detail = await json<{ alert: Alert; history: { actor: string; action: string; details: { changes: Record<string, unknown> } }[] }>(await viewer.fetch("/api/alerts/t-1"));
    expect(detail.history[0]).toMatchObject({ actor: "analyst", action: "alert.update" });
    expect(detail.history[0].details.changes).toEqual({ status: { from: "new", to: "acknowledged" }, assignee: { from: null, to: "analyst" } });
  });

  it("merges two analysts' changes to different fields and reports a real conflict", async () => {
    await h.store.put("alerts", [makeAlert({ id: "t-2", version: 1 })]);
    // both open the alert at version 1; bob assigns himself, then the analyst closes it
    await bob.fetch("/api/alerts/t-2/triage", { method: "POST", json: { base_version: 1, base: { assignee: null }, change: { assignee: "bob" } } });
    const merged = await json<{ alert: Alert; conflicts: unknown[] }>(
      await analyst.fetch("/api/alerts/t-2/triage", { method: "POST", json: { base_version: 1, base: { status: "new" }, change: { status: "closed", close_reason: "false_positive" } } }),
    );
    expect(merged.conflicts).toEqual([]);
    expect(merged.alert).toMatchObject({ assignee: "bob", status: "closed", close_reason: "false_positive", version: 3 });
    // the analyst, still at version 1, now also reassigns: bob's assignment is newer → conflict, nothing erased
    const conflict = await json<{ alert: Alert; applied: string[]; conflicts: { field: string; yours: unknown; theirs: unknown }[] }>(
      await analyst.fetch("/api/alerts/t-2/triage", { method: "POST", json: { base_version: 1, base: { assignee: null }, change: { assignee: "analyst", note: "taking over" } } }),
    );
    expect(conflict.applied).toEqual(["note"]);
    expect(conflict.conflicts).toEqual([{ field: "assignee", base: null, yours: "analyst", theirs: "bob" }]);
    expect(conflict.alert.assignee).toBe("bob");
    // having seen the notice, the analyst insists
    const forced = await json<{ alert: Alert }>(
      await analyst.fetch("/api/alerts/t-2/triage", { method: "POST", json: { base_version: conflict.alert.version, base: { assignee: "bob" }, change: { assignee: "analyst" } } }),
    );
    expect(forced.alert.assignee).toBe("analyst");
  });

  it("rejects bad changes with a code and the field", async () => {
    await h.store.put("alerts", [makeAlert({ id: "t-3" })]);
    const cases: [unknown, string, string][] = [
      [{ change: { status: "closed" } }, "triage_invalid", "close_reason"],
      [{ change: { assignee: "nobody" } }, "triage_invalid", "change.assignee"],
      [{ change: { assignee: "viewer" } }, "triage_invalid", "change.assignee"],
      [{ change: { status: "pwned" } }, "bad_request", "change.status"],
      [{ change: {}, extra: 1 }, "bad_request", ""],
    ];
    for (const [body, code, key] of cases) {
      const res = await analyst.fetch("/api/alerts/t-3/triage", { method: "POST", json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const e = await json<{ error: string; location?: { key: string } }>(res);
      expect(e.error).toBe(code);
      if (key) expect(e.location?.key).toBe(key);
    }
    expect((await analyst.fetch("/api/alerts/nope/triage", { method: "POST", json: { change: { status: "acknowledged" } } })).status).toBe(404);
    expect((await analyst.fetch("/api/alerts/bad%20id")).status).toBe(400);
  });

  it("lists who can be assigned", async () => {
    const r = await json<{ users: string[] }>(await analyst.fetch("/api/users/assignable"));
    expect(r.users).toEqual(expect.arrayContaining(["analyst", "bob", "engineer", "admin"]));
    expect(r.users).not.toContain("viewer");
  });
});

describe("story of a chain", () => {
  it("returns the chain with its entity graph and opens a step's raw events", async () => {
    const steps: ChainStep[] = [
      { signal_id: "sg-1", "@timestamp": "2026-11-21T05:00:00.000Z", rule: { id: "r-mimikatz", title: "Mimikatz command line", level: "high" }, tactic: "credential-access", technique: "T1003", host: "ws1", user: "bob", why: ["first signal of the chain"], events: [{ id: "ev-sg-1", "@timestamp": "2026-11-21T05:00:00.000Z" }, { id: "ev-gone", "@timestamp": "2026-11-21T05:00:00.000Z" }] },
      { signal_id: "sg-2", "@timestamp": "2026-11-21T05:05:00.000Z", rule: { id: "r-psexec", title: "PsExec service", level: "high" }, tactic: "lateral-movement", technique: "T1021", host: "db1", user: "bob", why: ["user bob shared with step 1"], events: [] },
    ];
    await h.store.put("chains", [makeChain("ch-1", { steps })]);
    await h.store.put("signals", [signal("sg-1", steps[0]["@timestamp"]), signal("sg-2", steps[1]["@timestamp"], { host: { name: "db1" }, process: { name: "psexesvc.exe" }, destination: { ip: "10.0.0.20" } } as Partial<Signal>)]);
    await h.store.put("events", [{ "@timestamp": "2026-11-21T05:00:00.000Z", event: { id: "ev-sg-1", kind: "event", dataset: "windows.sysmon" }, process: { command_line: "mimikatz.exe sekurlsa::logonpasswords" } }]);
    const r = await json<{ chain: { id: string }; graph: { nodes: { id: string; type: string; steps: number[] }[]; edges: { from: string; to: string; relation: string }[] } }>(await viewer.fetch("/api/chains/ch-1"));
    expect(r.chain.id).toBe("ch-1");
    const ids = r.graph.nodes.map((n) => n.id);
    expect(ids).toEqual(expect.arrayContaining(["user:bob", "host:ws1", "host:db1", "process:mimikatz.exe (4242)", "process:powershell.exe (100)", "ip:10.0.0.9", "ip:10.0.0.20"]));
    expect(r.graph.nodes.find((n) => n.id === "user:bob")!.steps).toEqual([0, 1]);
    expect(r.graph.edges).toEqual(expect.arrayContaining([
      { from: "user:bob", to: "host:ws1", relation: "on", steps: [0] },
      { from: "process:powershell.exe (100)", to: "process:mimikatz.exe (4242)", relation: "spawned", steps: [0] },
      { from: "process:psexesvc.exe", to: "ip:10.0.0.20", relation: "connected to", steps: [1] },
    ]));
    const ev = await json<{ events: { event: { id: string } }[]; missing: string[] }>(await viewer.fetch("/api/chains/ch-1/steps/0/events"));
    expect(ev.events.map((e) => e.event.id)).toEqual(["ev-sg-1"]);
    expect(ev.missing).toEqual(["ev-gone"]);
    expect((await viewer.fetch("/api/chains/ch-1/steps/7/events")).status).toBe(404);
    expect((await viewer.fetch("/api/chains/nope")).status).toBe(404);
  });
});

describe("event search", () => {
  beforeAll(async () => {
    const base = Date.parse("2026-11-20T00:00:00.000Z");
    const evs = [];
    for (let i = 0; i < 300; i++) {
      evs.push({
        "@timestamp": new Date(base + i * 60_000).toISOString(),
        event: { id: `se-${i}`, kind: "event", dataset: i % 2 ? "sshd" : "nginx.access" },
        host: { name: `web-${i % 3}` },
        user: i % 2 ? { name: "root" } : undefined,
        source: { ip: `10.1.0.${i % 250}` },
        message: i === 7 ? '<script>alert(1)</script> "Failed password"' : `line ${i}`,
      });
    }
    await h.store.put("events", evs);
  });

  it("returns a page as an Arrow record batch with the total and a cursor", async () => {
    const res = await viewer.fetch("/api/events/search?q=event.dataset:sshd&from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&size=100");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/vnd.apache.arrow.stream");
    expect(res.headers.get("x-sigil-total")).toBe("150");
    const next = res.headers.get("x-sigil-next");
    expect(next).toBeTruthy();
    const t = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
    expect(t.numRows).toBe(100);
    expect(t.schema.fields.map((f) => f.name)).toEqual(["@timestamp", "event.id", "event.dataset", "host.name", "user.name", "source.ip", "message"]);
    expect(t.getChild("event.dataset")!.get(0)).toBe("sshd");
    expect(t.getChild("@timestamp")!.get(0)).toBe(Date.parse("2026-11-20T04:59:00.000Z"));
    expect(t.getChild("event.id")!.get(0)).toBe("se-299");
    // the whole event comes by id when a row is opened
    const one = await json<{ event: { event: { id: string }; host: { name: string } } }>(await viewer.fetch("/api/events/se-299"));
    expect(one.event.host.name).toBe("web-2");
    const page2 = tableFromIPC(new Uint8Array(await (await viewer.fetch(`/api/events/search?q=event.dataset:sshd&from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&size=100&after=${encodeURIComponent(next!)}`)).arrayBuffer()));
    expect(page2.numRows).toBe(50);
  });

  it("keeps missing values as nulls and attacker text as plain data", async () => {
    const t = tableFromIPC(new Uint8Array(await (await viewer.fetch("/api/events/search?q=event.id:se-7&from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z")).arrayBuffer()));
    expect(t.getChild("message")!.get(0)).toBe('<script>alert(1)</script> "Failed password"');
    const t2 = tableFromIPC(new Uint8Array(await (await viewer.fetch("/api/events/search?q=event.id:se-8&from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z")).arrayBuffer()));
    expect(t2.getChild("user.name")!.get(0)).toBeNull();
  });

  it("returns histogram buckets as Arrow, empty buckets included", async () => {
    const res = await viewer.fetch("/api/events/histogram?from=2026-11-20T00:00:00Z&to=2026-11-20T10:00:00Z&interval=3600000");
    expect(res.headers.get("x-sigil-interval-ms")).toBe("3600000");
    const t = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
    expect(t.numRows).toBe(10);
    expect([...t.getChild("count")!].map(Number)).toEqual([60, 60, 60, 60, 60, 0, 0, 0, 0, 0]);
    const asJson = await json<{ buckets: { key: number; count: number }[] }>(await viewer.fetch("/api/events/histogram?from=2026-11-20T00:00:00Z&to=2026-11-20T10:00:00Z&interval=3600000&format=json"));
    expect(asJson.buckets.map((b) => b.count)).toEqual([60, 60, 60, 60, 60, 0, 0, 0, 0, 0]);
  });

  it("reports a query error with its code and column", async () => {
    const res = await viewer.fetch("/api/events/search?q=" + encodeURIComponent("host.name:(web-1"));
    expect(res.status).toBe(400);
    const e = await json<{ error: string; location: { column: number } }>(res);
    expect(e.error).toMatch(/^query_/);
    expect(e.location.column).toBeGreaterThan(0);
    expect((await viewer.fetch("/api/events/search?from=garbage")).status).toBe(400);
    expect((await viewer.fetch("/api/events/search?from=2026-11-20T00:00:00Z&to=2026-11-19T00:00:00Z")).status).toBe(400);
  });
});

describe("rules, baselines, health, admin", () => {
  it("lists catalog rules with hits, last hit and lint problems, and rules only known from signals", async () => {
    // an older plan's entry stays in the store; only the current plan's entries show
    await h.store.put("state", catalogDocs({ planVersion: "v6", builtAt: new Date("2026-11-20T00:00:00Z"), rules: [{ id: "r-stale", title: "Removed rule", type: "detection", enabled: true }] }));
    await h.store.put(
      "state",
      catalogDocs({
        planVersion: "v7",
        builtAt: new Date("2026-11-21T00:00:00Z"),
        rules: [
          { id: "r-lsass", title: "LSASS access", type: "detection", level: "high", enabled: true },
          { id: "r-quiet", title: "Quiet rule", type: "detection", enabled: true, problems: [{ code: "sigma_unknown_modifier", message: "unknown modifier", severity: "warning", line: 12 }] },
        ],
      }),
    );
    const now = Date.now();
    const lsass = { rule: { id: "r-lsass", title: "LSASS access", level: "high" as const } };
    await h.store.put("signals", [signal("hit-1", new Date(now - 3600_000).toISOString(), lsass), signal("hit-2", new Date(now - 60_000).toISOString(), lsass), signal("hit-old", new Date(now - 3 * 86_400_000).toISOString(), lsass), signal("hit-3", new Date(now - 120_000).toISOString(), { rule: { id: "r-orphan", title: "Not in catalog", level: "low" } })]);
    const r = await json<{ plan: { version: string }; rules: { rule_id: string; hits: number; last_hit: string | null; problems: unknown[]; in_catalog: boolean }[] }>(await viewer.fetch("/api/rules?window=24h"));
    expect(r.plan.version).toBe("v7");
    const byId = Object.fromEntries(r.rules.map((x) => [x.rule_id, x]));
    expect(byId["r-lsass"]).toMatchObject({ hits: 2, last_hit: new Date(now - 60_000).toISOString(), in_catalog: true });
    const all = await json<{ rules: { rule_id: string; hits: number }[] }>(await viewer.fetch("/api/rules?window=all"));
    expect(all.rules.find((x) => x.rule_id === "r-lsass")!.hits).toBe(3);
    expect(byId["r-quiet"]).toMatchObject({ hits: 0, last_hit: null });
    expect(byId["r-quiet"].problems).toHaveLength(1);
    expect(byId["r-orphan"]).toMatchObject({ hits: 1, in_catalog: false });
    expect(byId["r-stale"]).toBeUndefined();
    expect((await viewer.fetch("/api/rules?window=1y")).status).toBe(400);
  });

  it("returns a baseline's history with its band and the anomalies on it", async () => {
    const id = baselineHistoryId("r-logons", "user.name", "bob");
    await h.store.put("state", [{
      id, kind: "baseline_history", "@timestamp": "2026-11-21T03:00:00.000Z", rule_id: "r-logons", rule_title: "Logon count", metric: "event_count", entity: { field: "user.name", value: "bob" }, interval_ms: 3600_000,
      points: [
        { t: "2026-11-21T01:00:00.000Z", observed: 3, low: 0, high: 8, center: 4 },
        { t: "2026-11-21T02:00:00.000Z", observed: 40, low: 0, high: 8, center: 4 },
      ],
    }]);
    // the list reads the small summary document the writer puts beside each history (correlate/baselines/history.ts)
    await h.store.put("state", [{ id: baselineSummaryId(id), kind: BASELINE_SUMMARY_KIND, "@timestamp": "2026-11-21T03:00:00.000Z", history_id: id, rule_id: "r-logons", rule_title: "Logon count", metric: "event_count", entity: { field: "user.name", value: "bob" }, interval_ms: 3600_000, point_count: 2, last_point: { t: "2026-11-21T02:00:00.000Z", observed: 40, low: 0, high: 8, center: 4 } }]);
    await h.store.put("signals", [signal("an-1", "2026-11-21T02:59:59.000Z", { rule: { id: "r-logons", title: "Logon count", level: "medium" }, signal: { type: "anomaly", key: "bob", events: [], anomaly: { metric: "event_count", entity: { field: "user.name", value: "bob" }, interval_start: "2026-11-21T02:00:00.000Z", interval_ms: 3600_000, observed: 40, expected: { low: 0, high: 8, center: 4 }, score: 9.1 } } } as Partial<Signal>)]);
    const list = await json<{ baselines: { id: string; points: number }[] }>(await viewer.fetch("/api/baselines"));
    expect(list.baselines).toEqual([expect.objectContaining({ id, points: 2 })]);
    const r = await json<{ points: unknown[]; anomalies: { observed: number; score: number }[]; has_history: boolean }>(await viewer.fetch("/api/baselines/history?rule=r-logons&field=user.name&value=bob&from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z"));
    expect(r.has_history).toBe(true);
    expect(r.points).toHaveLength(2);
    expect(r.anomalies).toEqual([expect.objectContaining({ observed: 40, score: 9.1 })]);
  });

  it("reports pipeline health from metrics: rates per stage, lag, dead letters by reason, plan version", async () => {
    const events = new prom.Counter({ name: "sigil_ingest_events_total", help: "t", labelNames: ["receiver"], registers: [registry] });
    const dlq = new prom.Counter({ name: "sigil_ingest_rejected_total", help: "t", labelNames: ["reason", "receiver"], registers: [registry] });
    const produced = new prom.Counter({ name: "sigil_bus_messages_produced_total", help: "t", labelNames: ["bus", "topic"], registers: [registry] });
    const lag = new prom.Gauge({ name: "sigil_bus_consumer_lag_messages", help: "t", labelNames: ["group", "topic"], registers: [registry] });
    try {
      events.inc({ receiver: "syslog" }, 100);
      dlq.inc({ reason: "json_invalid", receiver: "http" }, 2);
      dlq.inc({ reason: "json_invalid", receiver: "syslog" }, 1);
      dlq.inc({ reason: "line_too_long", receiver: "syslog" }, 1);
      produced.inc({ bus: "memory", topic: "sigil.signals" }, 7);
      lag.set({ group: "correlate", topic: "sigil.events" }, 42);
      await h.deps.health.sample();
      events.inc({ receiver: "http" }, 50);
      await new Promise((r) => setTimeout(r, 20));
      await h.deps.health.sample();
      const engineer = await signIn(h, "engineer");
      const r = await json<{ stages: { stage: string; what: string; total: number; per_second: number }[]; dead_letters: { reason: string; count: number }[]; lag: { value: number }[]; plan: { version: string }; store: { ok: boolean } }>(await engineer.fetch("/api/health"));
      const ingest = r.stages.find((s) => s.stage === "ingest" && s.what === "events published")!;
      expect(ingest.total).toBe(150);
      expect(ingest.per_second).toBeGreaterThan(0);
      expect(r.stages.find((s) => s.stage === "bus sigil.signals" && s.what === "produced")).toMatchObject({ total: 7, per_second: 0 });
      expect(r.dead_letters).toEqual([{ reason: "json_invalid", count: 3 }, { reason: "line_too_long", count: 1 }]);
      expect(r.lag).toEqual([expect.objectContaining({ value: 42 })]);
      expect(r.plan.version).toBe("v7");
      expect(r.store.ok).toBe(true);
    } finally {
      registry.removeSingleMetric("sigil_ingest_events_total");
      registry.removeSingleMetric("sigil_ingest_rejected_total");
      registry.removeSingleMetric("sigil_bus_messages_produced_total");
      registry.removeSingleMetric("sigil_bus_consumer_lag_messages");
    }
  });

  it("lets an admin add users and read the audit log, and never shows password hashes", async () => {
    const res = await admin.fetch("/api/users", { method: "POST", json: { name: "dave", role: "viewer", password: "a long and winding road" } });
    expect(res.status).toBe(201);
    const users = await (await admin.fetch("/api/users")).text();
    expect(users).toContain('"dave"');
    expect(users).not.toContain("argon2");
    expect((await admin.fetch("/api/users/admin", { method: "PATCH", json: { disabled: true } })).status).toBe(400);
    const audit = await json<{ records: { action: string; actor: string }[] }>(await admin.fetch("/api/audit?q=action:user.create"));
    expect(audit.records).toEqual([expect.objectContaining({ action: "user.create", actor: "admin" })]);
  });
});

describe("input limits", () => {
  it("refuses a body over the route's limit, even streamed without a length", async () => {
    const big = "x".repeat(70 * 1024);
    const res = await analyst.fetch("/api/alerts/t-1/triage", { method: "POST", json: { change: { note: big } } });
    expect(res.status).toBe(413);
    const stream = new ReadableStream({
      start(ctrl) {
        for (let i = 0; i < 100; i++) ctrl.enqueue(new TextEncoder().encode("y".repeat(1024)));
        ctrl.close();
      },
    });
    const chunked = await analyst.fetch("/api/alerts/t-1/triage", { method: "POST", body: stream, headers: { "content-type": "application/json" }, duplex: "half" } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await analyst.fetch("/api/events/search?q=" + "a".repeat(9000))).status).toBe(400);
  });
});
