// The store contract: one suite every Store implementation passes (embedded in the unit project,
// Elasticsearch in the integration project against the real node). Idempotent writes, rejections,
// versioned updates, every query construct giving the same ids, time bounds, sorting, cursor paging,
// histograms, terms, and hostile values stored and found safely.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SigilError } from "../../platform/errors.ts";
import { StoreRejectError } from "../../platform/store/errors.ts";
import { parseQuery } from "../../platform/store/query.ts";
import { updateEach } from "../../platform/store/update-each.ts";
import type { Collection, Doc, QueryNode, SearchRequest, Store } from "../../platform/store/types.ts";
import type { JsonObject } from "../../schema/ecs.ts";

export interface StoreUnderTest {
  store: Store;
  /** Removes what the store created (files, indices). */
  cleanup(): Promise<void>;
}

/** Makes a fresh, empty, initialized store; called once per block of tests. */
export type StoreFactory = () => Promise<StoreUnderTest>;

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

function ev(n: number, fields: JsonObject, at = T0 + (n - 1) * 60_000): Doc {
  const event = { id: `e${String(n).padStart(2, "0")}`, kind: "event", dataset: "test.corpus", ...((fields["event"] as JsonObject) ?? {}) };
  return { "@timestamp": iso(at), ...fields, event };
}

/** The query corpus: each event exists to test one or more constructs. */
export function corpus(): Doc[] {
  const proto = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"bad": 1}}}') as JsonObject;
  return [
    ev(1, { host: { name: "WEB-01" }, user: { name: "Alice" }, process: { name: "powershell.exe", command_line: "powershell.exe -enc SQBFAFgA" }, event: { category: ["process"], code: "4688" }, destination: { port: 443 }, source: { ip: "10.0.0.5" }, message: "Process started by Alice", tags: ["prod", "windows"] }),
    ev(2, { host: { name: "web-02" }, user: { name: "bob" }, process: { name: "cmd.exe", command_line: "cmd.exe /c whoami" }, event: { category: ["process"], code: "4688" }, destination: { port: 80 }, source: { ip: "10.0.1.7" }, message: "whoami executed", tags: ["prod"] }),
    ev(3, { host: { name: "db-01" }, user: { name: "carol" }, event: { category: ["authentication"], outcome: "failure", code: "sshd" }, message: "Failed password for carol from 192.168.1.20 port 22 ssh2", source: { ip: "192.168.1.20" }, destination: { port: 22 } }),
    ev(4, { host: { name: "db-01" }, user: { name: "Carol" }, event: { category: ["authentication"], outcome: "success" }, message: "Accepted password for carol", source: { ip: "192.168.1.20" }, destination: { port: 22 } }),
    ev(5, { host: { name: "WEB-01" }, user: { name: "alice" }, process: { name: "PowerShell_ISE.exe" }, event: { category: ["process", "configuration"] }, destination: { port: 8443 }, message: "ISE opened", tags: ["windows"] }),
    ev(6, { host: { name: "mail-01" }, service: { name: "postfix" }, message: "connect from unknown[203.0.113.9]", source: { ip: "203.0.113.9" }, labels: { env: "staging" } }),
    ev(7, { host: { name: "k8s-node-1" }, service: { name: "api" }, http: { response: { status_code: 500 } }, url: { path: "/api/v1/login" }, message: "Internal error in login handler", trace: { id: "abc123" } }),
    ev(8, { host: { name: "k8s-node-1" }, service: { name: "api" }, http: { response: { status_code: 200 } }, url: { path: "/api/v1/items" }, message: "ok", trace: { id: "abc123" } }),
    ev(9, { host: { name: "ws-ä" }, user: { name: "Jürgen" }, message: "Anmeldung fehlgeschlagen für JÜRGEN", process: { name: "explorer.exe" } }),
    ev(10, { host: { name: "web-02" }, event: { code: "4624" }, winlog: { event_data: { LogonType: "3", TargetUserName: "svc_backup" } }, sigil_test: { score: 7.5, flag: true } }),
    ev(11, { host: { name: "web-03" }, sigil_test: { score: 12, flag: false }, message: "score twelve" }),
    ev(12, {
      host: { name: "hostile" },
      user: { name: "O'Brien" },
      message: 'He said "hi" \\ and left; DROP TABLE c_events;-- NEAR( "x" ) * OR 1=1',
      file: { path: "C:\\Windows\\System32\\evil*.dll" },
      url: { original: 'http://x/?q="<script>alert(1)</script>"' },
    }),
    ev(13, { host: { name: "proto-host" }, ...proto }),
    ev(14, { host: { name: "huge-host" }, message: "needle " + "x".repeat(1_000_000) + " haystack" }),
    { "@timestamp": iso(T0 + 14 * 60_000), "host.name": "dotted-host", event: { id: "e15", kind: "event", dataset: "test.corpus" } },
    ev(16, { host: { name: "dns-host" }, dns: { answers: [{ name: "a.example", type: "A" }, { name: "b.example", type: "CNAME" }] } }),
    ev(17, { host: { name: "late-host" } }, Date.UTC(2026, 0, 11, 0, 0, 0)),
    ev(18, { host: { name: "v6-host" }, source: { ip: "2001:db8::1" } }),
    ev(19, { host: { name: "offset-host" }, event: { created: "2026-01-10T14:30:00+02:00" } }),
    ev(20, { host: { name: "empty-host" }, user: { name: "" }, tags: [] }),
  ];
}

const ALL = Array.from({ length: 20 }, (_, i) => `e${String(i + 1).padStart(2, "0")}`);
const except = (...ids: string[]) => ALL.filter((x) => !ids.includes(x));

/** Query text → the event ids it selects in the corpus. */
export const QUERY_CASES: Array<[string, string[]]> = [
  ["", ALL],
  ["*", ALL],
  // field terms: whole value, case-insensitive, arrays
  ["host.name:web-01", ["e01", "e05"]],
  ["user.name:alice", ["e01", "e05"]],
  ["user.name:jürgen", ["e09"]],
  ["user.name:JüRGEN", ["e09"]],
  // field matches fold ASCII letters only; free text folds every script
  ["user.name:JÜRGEN", []],
  ["jÜrgen", ["e09"]],
  ['user.name:""', ["e20"]],
  ["event.category:process", ["e01", "e02", "e05"]],
  ["event.code:4688", ["e01", "e02"]],
  ['message:"whoami executed"', ["e02"]],
  ["message:whoami", []],
  ["labels.env:staging", ["e06"]],
  ["host.name:dotted-host", ["e15"]],
  ["trace.id:ABC123", ["e07", "e08"]],
  // wildcards
  ["host.name:WEB-0*", ["e01", "e02", "e05", "e10", "e11"]],
  ["process.name:power*", ["e01", "e05"]],
  ["process.name:?md.exe", ["e02"]],
  ["message:*password*", ["e03", "e04"]],
  ["host.name:*01", ["e01", "e03", "e04", "e05", "e06"]],
  ["url.original:*<script>*", ["e12"]],
  ["file.path:*evil\\**", ["e12"]],
  ["file.path:C\\:\\\\Windows\\\\System32\\\\evil\\*.dll", ["e12"]],
  ["message:needle*", []],
  // free text
  ["whoami", ["e02"]],
  ['"failed password"', ["e03"]],
  ['"password failed"', []],
  ["password", ["e03", "e04"]],
  ["PASSW*", ["e03", "e04"]],
  ["powershell.exe", ["e01"]],
  ["jürgen", ["e09"]],
  ["needle", ["e14"]],
  ["haystack", ["e14"]],
  ['"drop table"', ["e12"]],
  ["12", ["e11"]],
  ["mimikatz", []],
  ['"alice ise"', []],
  // boolean logic
  ["event.category:authentication AND event.outcome:failure", ["e03"]],
  ["user.name:carol OR user.name:bob", ["e02", "e03", "e04"]],
  ["user.name:(alice OR carol)", ["e01", "e03", "e04", "e05"]],
  ["-host.name:web* host.name:*01", ["e03", "e04", "e06"]],
  ["(host.name:web-01 OR host.name:web-02) AND NOT user.name:bob", ["e01", "e05", "e10"]],
  ["NOT user.name:alice", except("e01", "e05")],
  ["NOT _exists_:user.name", except("e01", "e02", "e03", "e04", "e05", "e09", "e12", "e20")],
  // exists
  ["_exists_:trace.id", ["e07", "e08"]],
  ["_exists_:tags", ["e01", "e02", "e05"]],
  ["dns.answers:*", ["e16"]],
  // ranges
  ["http.response.status_code:>=500", ["e07"]],
  ["http.response.status_code:[200 TO 499]", ["e08"]],
  ["destination.port:>1000", ["e05"]],
  ["destination.port:{22 TO 443]", ["e01", "e02"]],
  ["sigil_test.score:>10", ["e11"]],
  ["sigil_test.score:7.5", ["e10"]],
  ["sigil_test.flag:true", ["e10"]],
  ["sigil_test.flag:FALSE", ["e11"]],
  ["event.code:>=4624", ["e01", "e02", "e03", "e10"]],
  ["winlog.event_data.LogonType:3", ["e10"]],
  ["winlog.event_data.TargetUserName:SVC_*", ["e10"]],
  // dates
  ["@timestamp:2026-01-11", ["e17"]],
  ["@timestamp:[2026-01-10T12:00:00Z TO 2026-01-10T12:02:00Z}", ["e01", "e02"]],
  ["@timestamp:[2026-01-10T12:00:00Z TO 2026-01-10T12:01:00Z]", ["e01", "e02"]],
  ["@timestamp:{2026-01-10T12:00:00Z TO 2026-01-10T12:02:00Z]", ["e02", "e03"]],
  ["@timestamp:>2026-01-10", ["e17"]],
  ["@timestamp:>=now-1h", []],
  ["@timestamp:<now", ALL],
  ["event.created:<2026-01-10T13:00:00Z", ["e19"]],
  ["event.created:>2026-01-10T14:00:00+02:00", ["e19"]],
  ["event.created:2026-01-10", ["e19"]],
  // ip
  ["source.ip:10.0.0.0/8", ["e01", "e02"]],
  ["source.ip:192.168.1.20", ["e03", "e04"]],
  ["source.ip:10.0.*", ["e01", "e02"]],
  ["source.ip:2001\\:db8\\:\\:/32", ["e18"]],
  // arrays of objects
  ["dns.answers.name:b.example", ["e16"]],
  ["dns.answers.type:cname AND dns.answers.name:a.example", ["e16"]],
  ["dns.answers.name:c.example", []],
  // hostile
  ['user.name:"O\'Brien"', ["e12"]],
  ["_proto_.polluted:yes", ["e13"]],
  ["__proto__.polluted:yes", ["e13"]],
  ["_constructor_.prototype.bad:1", ["e13"]],
];

async function ids(store: Store, collection: Collection, req: SearchRequest): Promise<string[]> {
  const r = await store.search(collection, { size: 10_000, ...req });
  return r.hits.map((d) => String((d["event"] as JsonObject | undefined)?.["id"] ?? d["id"])).sort();
}

function term(field: string | null, value: string, extra: Partial<Extract<QueryNode, { op: "term" }>> = {}): QueryNode {
  return { op: "term", field, value, wildcard: false, phrase: false, ...extra };
}

export function runStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name}: writes`, () => {
    let sut: StoreUnderTest;
    let store: Store;
    beforeAll(async () => {
      sut = await factory();
      store = sut.store;
    });
    afterAll(async () => sut && (await sut.cleanup()));

    it("init is safe to call again", async () => {
      await store.init();
      expect((await store.health()).ok).toBe(true);
    });

    it("puts events idempotently by event.id: the same id twice is one document", async () => {
      const a = ev(1, { host: { name: "h1" }, message: "first" });
      const r1 = await store.put("events", [a, ev(2, { host: { name: "h2" } })]);
      expect(r1).toEqual({ created: 2, existing: 0 });
      const again = { ...a, message: "changed" };
      const r2 = await store.put("events", [again, a]);
      expect(r2).toEqual({ created: 0, existing: 2 });
      await store.refresh("events");
      expect(await store.count("events", {})).toBe(2);
      expect((await store.get("events", "e01"))?.["message"]).toBe("first");
    });

    it("replaces other documents by id", async () => {
      expect(await store.put("chains", [{ id: "c1", "@timestamp": iso(T0), score: 1 }])).toEqual({ created: 1, existing: 0 });
      expect(await store.put("chains", [{ id: "c1", "@timestamp": iso(T0), score: 2 }])).toEqual({ created: 0, existing: 1 });
      await store.refresh("chains");
      expect((await store.get("chains", "c1"))?.["score"]).toBe(2);
      expect(await store.count("chains", { query: parseQuery("score:1") })).toBe(0);
      expect(await store.count("chains", { query: parseQuery("score:2") })).toBe(1);
    });

    it("rejects what cannot be stored, writes the rest, and names each rejected document", async () => {
      const bad: unknown[] = [
        ev(30, { host: { name: "ok" } }),
        { host: { name: "no id" }, "@timestamp": iso(T0) },
        { event: { id: "e31" }, host: { name: "no time" } },
        { event: { id: "e32" }, "@timestamp": "yesterday-ish" },
        { event: { id: "e33" }, "@timestamp": iso(T0), a: "x", "a.b": 1 },
        ev(34, { host: { name: "ok too" } }),
      ];
      const err = await store.put("events", bad as Doc[]).catch((e) => e);
      expect(err).toBeInstanceOf(StoreRejectError);
      const rej = (err as StoreRejectError).rejected;
      expect(rej.map((r) => [r.index, r.id, r.code])).toEqual([
        [1, undefined, "doc_no_id"],
        [2, "e31", "doc_bad_timestamp"],
        [3, "e32", "doc_bad_timestamp"],
        [4, "e33", "doc_field_conflict"],
      ]);
      expect((err as StoreRejectError).result.created).toBe(2);
      await store.refresh("events");
      expect((await store.getMany("events", ["e30", "e31", "e34"])).map((d) => (d["event"] as JsonObject)["id"])).toEqual(["e30", "e34"]);
    });

    it("getMany keeps the order asked for and skips missing ids; delete removes", async () => {
      await store.put("audit", [
        { id: "a1", "@timestamp": iso(T0), actor: "x" },
        { id: "a2", "@timestamp": iso(T0), actor: "y" },
        { id: "a3", "@timestamp": iso(T0), actor: "z" },
      ]);
      await store.refresh("audit");
      expect((await store.getMany("audit", ["a3", "nope", "a1", "a3"])).map((d) => d["id"])).toEqual(["a3", "a1"]);
      await store.delete("audit", ["a1", "nope"]);
      await store.refresh("audit");
      expect(await store.get("audit", "a1")).toBeNull();
      expect(await store.count("audit", {})).toBe(2);
      expect(await store.count("audit", { query: parseQuery("actor:x") })).toBe(0);
    });

    it("update creates, bumps the version, checks expectedVersion and leaves the doc when fn returns null", async () => {
      const created = await store.update("alerts", "al1", (cur) => (cur ? null : { id: "al1", "@timestamp": iso(T0), status: "new", title: "t" }));
      expect(created?.["version"]).toBe(1);
      const v2 = await store.update("alerts", "al1", (cur) => ({ ...cur!, status: "acknowledged" }), { expectedVersion: 1 });
      expect(v2).toMatchObject({ id: "al1", status: "acknowledged", version: 2 });
      const stale = await store.update("alerts", "al1", (cur) => ({ ...cur!, status: "closed" }), { expectedVersion: 1 }).catch((e) => e);
      expect(stale).toBeInstanceOf(SigilError);
      expect((stale as SigilError).code).toBe("store_conflict");
      const same = await store.update("alerts", "al1", () => null);
      expect(same).toMatchObject({ status: "acknowledged", version: 2 });
      const missing = await store.update("alerts", "none", () => null);
      expect(missing).toBeNull();
      await store.refresh("alerts");
      expect(await store.get("alerts", "al1")).toMatchObject({ status: "acknowledged", version: 2 });
      expect(await store.count("alerts", { query: parseQuery("status:acknowledged") })).toBe(1);
    });

    it("concurrent updates without expectedVersion all apply", async () => {
      await store.put("state", [{ id: "counter", n: 0 }]);
      await Promise.all(Array.from({ length: 8 }, () => store.update("state", "counter", (cur) => ({ ...cur!, n: (cur!["n"] as number) + 1 }))));
      expect(await store.get("state", "counter")).toMatchObject({ n: 8, version: 8 });
    });

    it("updateEach creates, updates and leaves documents in one call, each with its own version; concurrent changes are not lost", async () => {
      await store.put("state", [{ id: "m1", n: 1 }, { id: "m2", n: 10 }]);
      const r = await updateEach(store, "state", ["m1", "m2", "m3", "m4"], (id, cur) => (id === "m4" ? null : { ...(cur ?? { id }), n: ((cur?.["n"] as number) ?? 100) + 1 }));
      expect(r.map((d) => d?.["n"] ?? null)).toEqual([2, 11, 101, null]);
      expect(r.map((d) => d?.["version"] ?? null)).toEqual([1, 1, 1, null]);
      expect(await store.get("state", "m4")).toBeNull();
      // single updates racing a batch over the same documents: every increment lands
      await Promise.all([
        updateEach(store, "state", ["m1", "m2", "m3"], (_id, cur) => ({ ...cur!, n: (cur!["n"] as number) + 1 })),
        ...["m1", "m2", "m3"].flatMap((id) => [1, 2].map(() => store.update("state", id, (cur) => ({ ...cur!, n: (cur!["n"] as number) + 1 })))),
        updateEach(store, "state", ["m3", "m1"], (_id, cur) => ({ ...cur!, n: (cur!["n"] as number) + 1 })),
      ]);
      const after = await store.getMany("state", ["m1", "m2", "m3"]);
      expect(Object.fromEntries(after.map((d) => [d["id"], d["n"]]))).toEqual({ m1: 6, m2: 14, m3: 105 });
      // a collection nothing was written to yet (no index in Elasticsearch): created
      const fresh = await updateEach(store, "users", ["u-fresh-1", "u-fresh-2"], (id, cur) => (cur ? null : { id, name: id }));
      expect(fresh.map((d) => d?.["version"])).toEqual([1, 1]);
      const e = await updateEach(store, "events", ["e01"], (_id, c) => c).catch((x) => x);
      expect((e as SigilError).code).toBe("store_immutable");
    });

    it("updateEach calls beforeWrite once, after every document was computed; a document changed meanwhile is computed again", async () => {
      await store.put("state", [{ id: "bw1", n: 1 }, { id: "bw2", n: 1 }]);
      const seen: string[] = [];
      let calls = 0;
      let raced: Promise<unknown> | null = null;
      const r = await updateEach(store, "state", ["bw1", "bw2"], (id, cur) => {
        seen.push(`${id}:${cur!["n"]}`);
        return { ...cur!, n: (cur!["n"] as number) * 10 };
      }, {
        beforeWrite: () => {
          calls++;
          expect(seen.slice(0, 2).sort()).toEqual(["bw1:1", "bw2:1"]);
          // someone else changes bw2 while the batch's write may still be in flight
          raced = store.update("state", "bw2", (cur) => ({ ...cur!, n: 5 }));
        },
      });
      await raced;
      expect(calls).toBe(1);
      expect(r[0]).toMatchObject({ n: 10 });
      const bw2 = await store.get("state", "bw2");
      // either order is consistent: the batch's write saw the racer's change (50), or the racer's came last (5)
      expect([5, 50]).toContain(bw2!["n"]);
      if (bw2!["n"] === 50) expect(r[1]).toMatchObject({ n: 50 });
      let empty = 0;
      await updateEach(store, "state", [], () => null, { beforeWrite: () => empty++ });
      expect(empty).toBe(1);
    });

    it("updateEach with the absent hint creates new documents, and reads one that exists after all", async () => {
      await store.put("state", [{ id: "ab-old", n: 7 }]);
      const calls: string[] = [];
      const r = await updateEach(store, "state", ["ab-new", "ab-old"], (id, cur) => {
        calls.push(`${id}:${cur ? cur["n"] : "none"}`);
        return { ...(cur ?? { id }), n: ((cur?.["n"] as number) ?? 0) + 1 };
      }, { absent: () => true });
      expect(r.map((d) => d?.["n"])).toEqual([1, 8]);
      // the existing one was computed again from what is stored: its value is kept, not overwritten
      expect(calls).toContain("ab-old:7");
      expect(await store.get("state", "ab-old")).toMatchObject({ n: 8 });
      expect(await store.get("state", "ab-new")).toMatchObject({ n: 1, version: 1 });
    });

    it("events and signals are immutable", async () => {
      const e = await store.update("events", "e01", (c) => c).catch((x) => x);
      expect((e as SigilError).code).toBe("store_immutable");
    });

    it("an update that changes the id is refused", async () => {
      const e = await store.update("alerts", "al1", (c) => ({ ...c!, id: "other" })).catch((x) => x);
      expect((e as SigilError).code).toBe("store_bad_update");
    });
  });

  describe(`${name}: queries`, () => {
    let sut: StoreUnderTest;
    let store: Store;
    beforeAll(async () => {
      sut = await factory();
      store = sut.store;
      const r = await store.put("events", corpus());
      expect(r.created).toBe(20);
      await store.refresh("events");
    });
    afterAll(async () => sut && (await sut.cleanup()));

    it.each(QUERY_CASES)("%s", async (text, expected) => {
      expect(await ids(store, "events", { query: parseQuery(text) })).toEqual([...expected].sort());
    });

    it("count agrees with search", async () => {
      for (const [text, expected] of QUERY_CASES.slice(0, 20)) {
        expect(await store.count("events", { query: parseQuery(text) })).toBe(expected.length);
      }
    });

    it("case-sensitive terms for programmatic lookups", async () => {
      expect(await ids(store, "events", { query: term("user.name", "alice", { caseSensitive: true }) })).toEqual(["e05"]);
      expect(await ids(store, "events", { query: term("user.name", "Alice", { caseSensitive: true }) })).toEqual(["e01"]);
    });

    it("documents come back canonical: dotted keys nested, unsafe keys renamed, nothing polluted", async () => {
      const d15 = await store.get("events", "e15");
      expect(d15?.["host"]).toEqual({ name: "dotted-host" });
      const d13 = await store.get("events", "e13");
      expect(d13?.["_proto_"]).toEqual({ polluted: "yes" });
      expect(Object.getPrototypeOf(d13)).toBe(Object.prototype);
      expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
      expect(({} as Record<string, unknown>)["bad"]).toBeUndefined();
      const d12 = await store.get("events", "e12");
      expect(d12?.["message"]).toBe('He said "hi" \\ and left; DROP TABLE c_events;-- NEAR( "x" ) * OR 1=1');
      const d14 = await store.get("events", "e14");
      expect((d14?.["message"] as string).length).toBe(1_000_000 + 16);
    });

    it("time range: from inclusive, to exclusive, on @timestamp and on another date field", async () => {
      expect(await ids(store, "events", { from: iso(T0 + 60_000), to: iso(T0 + 3 * 60_000) })).toEqual(["e02", "e03"]);
      expect(await ids(store, "events", { from: T0 + 60_000, to: T0 + 60_001 })).toEqual(["e02"]);
      expect(await ids(store, "events", { from: iso(T0 + 12 * 60 * 60_000) })).toEqual(["e17"]);
      expect(await ids(store, "events", { to: T0 })).toEqual([]);
      expect(await ids(store, "events", { timeField: "event.created", from: "2026-01-10T12:30:00Z", to: "2026-01-10T12:30:00.001Z" })).toEqual(["e19"]);
    });

    it("sorts by time, numbers and text, missing values last in both directions", async () => {
      const byTime = await store.search("events", { sort: [{ field: "@timestamp", order: "asc" }], size: 3 });
      expect(byTime.hits.map((d) => (d["event"] as JsonObject)["id"])).toEqual(["e01", "e02", "e03"]);
      const desc = await store.search("events", { size: 2 });
      expect(desc.hits.map((d) => (d["event"] as JsonObject)["id"])).toEqual(["e17", "e20"]);
      const ports = (await store.search("events", { sort: [{ field: "destination.port", order: "asc" }], size: 20 })).hits.map((d) => (d["destination"] as JsonObject | undefined)?.["port"] ?? null);
      expect(ports.slice(0, 6)).toEqual([22, 22, 80, 443, 8443, null]);
      const portsDesc = (await store.search("events", { sort: [{ field: "destination.port", order: "desc" }], size: 20 })).hits.map((d) => (d["destination"] as JsonObject | undefined)?.["port"] ?? null);
      expect(portsDesc.slice(0, 6)).toEqual([8443, 443, 80, 22, 22, null]);
      const hosts = (await store.search("events", { query: parseQuery("host.name:web*"), sort: [{ field: "host.name", order: "asc" }, { field: "@timestamp", order: "asc" }] })).hits.map((d) => (d["event"] as JsonObject)["id"]);
      // byte order: upper case sorts before lower case
      expect(hosts).toEqual(["e01", "e05", "e02", "e10", "e11"]);
    });

    it("pages through documents that miss the sort field, in both directions", async () => {
      for (const order of ["asc", "desc"] as const) {
        for (const field of ["destination.port", "user.name", "event.created"]) {
          const seen: string[] = [];
          let after: string | undefined;
          for (let guard = 0; guard < 50; guard++) {
            const r = await store.search("events", { sort: [{ field, order }], size: 3, after });
            seen.push(...r.hits.map((d) => (d["event"] as JsonObject)["id"] as string));
            if (!r.next) break;
            after = r.next;
          }
          expect([...seen].sort()).toEqual(ALL);
        }
      }
    });

    it("histogram buckets over the corpus", async () => {
      const b = await store.histogram("events", { from: iso(T0 - 3_600_000), to: iso(T0 + 2 * 3_600_000) }, 3_600_000);
      expect(b).toEqual([
        { key: T0 - 3_600_000, count: 0 },
        { key: T0, count: 19 },
        { key: T0 + 3_600_000, count: 0 },
      ]);
    });

    it("terms: top values with counts, each document once per value", async () => {
      const t = await store.terms("events", { query: parseQuery("_exists_:tags") }, "tags", 10);
      expect(t).toEqual([
        { key: "prod", count: 2 },
        { key: "windows", count: 2 },
      ]);
      const hosts = await store.terms("events", {}, "host.name", 3);
      expect(hosts).toEqual([
        { key: "WEB-01", count: 2 },
        { key: "db-01", count: 2 },
        { key: "k8s-node-1", count: 2 },
      ]);
      const ports = await store.terms("events", {}, "destination.port", 2);
      expect(ports).toEqual([
        { key: "22", count: 2 },
        { key: "80", count: 1 },
      ]);
      const flags = await store.terms("events", {}, "sigil_test.flag", 5);
      expect(flags).toEqual([
        { key: "false", count: 1 },
        { key: "true", count: 1 },
      ]);
    });

    it("bad requests fail with codes", async () => {
      const codeOf = (p: Promise<unknown>) => p.then(() => "ok", (e) => (e as SigilError).code);
      expect(await codeOf(store.search("events", { size: 10_001 }))).toBe("store_bad_request");
      expect(await codeOf(store.search("events", { after: "garbage" }))).toBe("store_bad_cursor");
      expect(await codeOf(store.histogram("events", { from: 0, to: T0 }, 1000))).toBe("store_too_many_buckets");
      expect(await codeOf(store.search("events", { query: parseQuery("@timestamp:>yesterday") }))).toBe("query_bad_range");
      expect(await codeOf(store.search("events", { query: parseQuery("destination.port:>abc") }))).toBe("query_bad_range");
      expect(await codeOf(store.search("events", { from: "not a time" }))).toBe("store_bad_time");
    });
  });

  describe(`${name}: paging and aggregations at size`, () => {
    let sut: StoreUnderTest;
    let store: Store;
    const N = 1000;
    // three events per second, so many share a timestamp (the cursor must break ties)
    const at = (i: number) => T0 + Math.floor(i / 3) * 1000;
    beforeAll(async () => {
      sut = await factory();
      store = sut.store;
      const docs: Doc[] = [];
      for (let i = 0; i < N; i++) {
        docs.push({
          "@timestamp": iso(at(i)),
          event: { id: `p${i}`, kind: "event", dataset: "test.paging" },
          host: { name: `h${i % 7}` },
          sigil_test: { n: i },
          tags: i % 2 ? ["odd", "odd", "x"] : ["even"],
        });
      }
      for (let i = 0; i < N; i += 250) await store.put("events", docs.slice(i, i + 250));
      await store.refresh("events");
    });
    afterAll(async () => sut && (await sut.cleanup()));

    async function pageAll(req: SearchRequest, pageSize: number): Promise<Doc[]> {
      const out: Doc[] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 1000; guard++) {
        const r = await store.search("events", { ...req, size: pageSize, after });
        out.push(...r.hits);
        if (!r.next) break;
        after = r.next;
      }
      return out;
    }

    it("pages through everything by time with no duplicates and no gaps", async () => {
      const all = await pageAll({}, 37);
      const idsSeen = all.map((d) => (d["event"] as JsonObject)["id"] as string);
      expect(new Set(idsSeen).size).toBe(N);
      expect(idsSeen.length).toBe(N);
      const times = all.map((d) => Date.parse(d["@timestamp"] as string));
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeLessThanOrEqual(times[i - 1]);
    });

    it("pages with a filter and a two-key sort in mixed directions", async () => {
      const all = await pageAll({ query: parseQuery("host.name:h3 OR host.name:h5"), sort: [{ field: "host.name", order: "asc" }, { field: "sigil_test.n", order: "desc" }] }, 50);
      const expected = Array.from({ length: N }, (_, i) => i)
        .filter((i) => i % 7 === 3 || i % 7 === 5)
        .sort((a, b) => (a % 7) - (b % 7) || b - a);
      expect(all.map((d) => (d["sigil_test"] as JsonObject)["n"])).toEqual(expected);
    });

    it("total is exact up to trackTotalUpTo, then a lower bound", async () => {
      const r = await store.search("events", { size: 1, trackTotalUpTo: 100 });
      expect(r).toMatchObject({ total: 100, totalIsLowerBound: true });
      const r2 = await store.search("events", { size: 1 });
      expect(r2).toMatchObject({ total: N, totalIsLowerBound: false });
      expect(await store.count("events", { query: parseQuery("host.name:h6") })).toBe(Array.from({ length: N }, (_, i) => i).filter((i) => i % 7 === 6).length);
    });

    it("minute histogram with empty buckets at both ends", async () => {
      const from = T0 - 120_000;
      const to = T0 + 600_000;
      const b = await store.histogram("events", { from: iso(from), to: iso(to) }, 60_000);
      const expected = new Map<number, number>();
      for (let k = from; k < to; k += 60_000) expected.set(k, 0);
      for (let i = 0; i < N; i++) {
        const k = at(i) - (at(i) % 60_000);
        expected.set(k, (expected.get(k) ?? 0) + 1);
      }
      expect(b).toEqual([...expected].map(([key, count]) => ({ key, count })));
      expect(b.reduce((s, x) => s + x.count, 0)).toBe(N);
    });

    it("histogram without bounds spans the data", async () => {
      const b = await store.histogram("events", { query: parseQuery("host.name:h0") }, 60_000);
      expect(b[0].key).toBe(T0);
      expect(b.reduce((s, x) => s + x.count, 0)).toBe(Array.from({ length: N }, (_, i) => i).filter((i) => i % 7 === 0).length);
    });

    it("terms over many documents, ties ordered by key", async () => {
      const counts = new Map<string, number>();
      for (let i = 0; i < N; i++) counts.set(`h${i % 7}`, (counts.get(`h${i % 7}`) ?? 0) + 1);
      const expected = [...counts].map(([key, count]) => ({ key, count })).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
      expect(await store.terms("events", {}, "host.name", 7)).toEqual(expected);
      expect(await store.terms("events", {}, "host.name", 2)).toEqual(expected.slice(0, 2));
      expect(await store.terms("events", {}, "tags", 5)).toEqual([
        { key: "even", count: N / 2 },
        { key: "odd", count: N / 2 },
        { key: "x", count: N / 2 },
      ]);
    });
  });

  describe(`${name}: hostile values`, () => {
    let sut: StoreUnderTest;
    let store: Store;
    beforeAll(async () => {
      sut = await factory();
      store = sut.store;
    });
    afterAll(async () => sut && (await sut.cleanup()));

    const nasty = [
      `'; DROP TABLE c_events; --`,
      `" OR 1=1 --`,
      `\\\\server\\share\\"quoted"`,
      `$."path".'x'`,
      `NEAR(a b) AND "c" OR d*`,
      `{"json": [1, 2]}`,
      `[1,2]`,
      "tab\there\nnewline",
      "emoji 🛡️ and 漢字 and עברית",
      "\u0000nul\u0001ctl",
      "x".repeat(10_000),
    ];

    it("stores and finds every nasty value by exact field match, and returns it unchanged", async () => {
      const docs = nasty.map((v, i) => ({ id: `n${i}`, "@timestamp": iso(T0 + i), value: v, actor: v }));
      await store.put("audit", docs);
      await store.refresh("audit");
      for (let i = 0; i < nasty.length; i++) {
        const got = await store.get("audit", `n${i}`);
        expect(got?.["value"]).toBe(nasty[i]);
        const found = await ids(store, "audit", { query: term("actor", nasty[i]) });
        // values longer than 8191 characters are kept but not matched by field queries (both stores)
        expect(found).toEqual(nasty[i].length > 8191 ? [] : [`n${i}`]);
      }
    });

    it("finds nasty values by free text and by wildcard", async () => {
      expect(await ids(store, "audit", { query: parseQuery('"drop table c_events"') })).toEqual(["n0"]);
      expect(await ids(store, "audit", { query: parseQuery("漢字") })).toEqual(["n8"]);
      expect(await ids(store, "audit", { query: parseQuery("actor:*1=1*") })).toEqual(["n1"]);
      expect(await ids(store, "audit", { query: parseQuery('actor:\\\\\\\\server*') })).toEqual(["n2"]);
      expect(await ids(store, "audit", { query: term("actor", "[1,2]", { wildcard: false }) })).toEqual(["n6"]);
    });

    it("a text field exists however long its value, and its words are free text", async () => {
      const ev = (id: string, extra: Doc) => ({ "@timestamp": iso(T0), event: { id, kind: "event" }, host: { name: "exists-host" }, ...extra });
      const long = `${"lorem ".repeat(2_000)}zyzzyva`; // past the keyword limit (8191)
      await store.put("events", [ev("x-long", { message: long, event: { id: "x-long", kind: "event", original: long } }), ev("x-short", { message: "" }), ev("x-none", {})]);
      await store.refresh("events");
      expect(await ids(store, "events", { query: parseQuery("host.name:exists-host AND _exists_:message") })).toEqual(["x-long", "x-short"]);
      expect(await ids(store, "events", { query: parseQuery("host.name:exists-host AND _exists_:event.original") })).toEqual(["x-long"]);
      expect(await ids(store, "events", { query: parseQuery("host.name:exists-host AND NOT _exists_:message") })).toEqual(["x-none"]);
      expect(await ids(store, "events", { query: parseQuery("host.name:exists-host AND zyzzyva") })).toEqual(["x-long"]);
    });

    it("ids with odd characters round-trip", async () => {
      const oddIds = ["a/b", "a b", "ü-é", "x'y\"z", "..", "%2e%2e", "a".repeat(300)];
      await store.put("state", oddIds.map((id) => ({ id, v: 1 })));
      await store.refresh("state");
      for (const id of oddIds) expect((await store.get("state", id))?.["id"]).toBe(id);
      expect((await store.getMany("state", oddIds)).length).toBe(oddIds.length);
      const tooLong = await store.put("state", [{ id: "é".repeat(300), v: 1 }]).catch((e) => e);
      expect((tooLong as StoreRejectError).rejected[0].code).toBe("doc_invalid");
    });

    it("__proto__ and constructor keys at any depth are stored as data under safe names", async () => {
      const hostile = JSON.parse('{"id": "p1", "a": {"__proto__": {"x": 1}, "b": [{"constructor": {"prototype": {"y": 2}}}]}, "__proto__": {"z": 3}}') as Doc;
      await store.put("state", [hostile]);
      await store.refresh("state");
      const got = await store.get("state", "p1");
      expect(got).toEqual({ id: "p1", a: { _proto_: { x: 1 }, b: [{ _constructor_: { _prototype_: { y: 2 } } }] }, _proto_: { z: 3 } });
      expect(({} as Record<string, unknown>)["x"]).toBeUndefined();
      expect(({} as Record<string, unknown>)["z"]).toBeUndefined();
      expect(await ids(store, "state", { query: parseQuery("a.__proto__.x:1") })).toEqual(["p1"]);
      expect(await ids(store, "state", { query: parseQuery("a.b.constructor.prototype.y:2") })).toEqual(["p1"]);
    });
  });
}
