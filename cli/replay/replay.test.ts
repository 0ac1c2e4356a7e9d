// sigil replay's input side and output format: files of different formats (one gzipped) merged in
// event time with 1-based lines pointing back at the records, rejected records kept with their
// reason, and chains printed exactly in the shape.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config/load.ts";
import { PROJECT_RULE_DIRS } from "../../correlate/engine.ts";
import { mergeInputs, type InputRejection, type TimedEvent } from "./inputs.ts";
import { replayChainJson, runReplay } from "./run.ts";
import { main } from "../main.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-replay-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const quiet = new Writable({ write: (_c, _e, cb) => cb() });

const nginx = (ts: string, ip: string, target: string, ua = "Mozilla/5.0") => `${ip} - - [${ts} +0000] "GET ${target} HTTP/1.1" 404 153 "-" "${ua}"`;
const web = path.join(tmp, "access.log.gz");
fs.writeFileSync(
  web,
  gzipSync(
    [
      nginx("15/Jan/2026:10:00:00", "203.0.113.66", "/.env", "sqlmap/1.8"),
      nginx("15/Jan/2026:10:00:02", "203.0.113.66", "/api/orders?id=1%27%20UNION%20SELECT%20password%20FROM%20users--", "sqlmap/1.8"),
      nginx("15/Jan/2026:10:00:04", "198.51.100.7", "/products/1"),
    ].join("\n") + "\n",
  ),
);
const auth = path.join(tmp, "auth.log");
fs.writeFileSync(
  auth,
  [
    "<86>1 2026-01-15T10:00:01.000Z db-1 sshd 10 - - Failed password for deploy from 203.0.113.66 port 4100 ssh2",
    "<86>1 2026-01-15T10:00:03.000Z db-1 sshd 11 - - Accepted password for deploy from 203.0.113.66 port 4101 ssh2",
  ].join("\n") + "\n",
);
const conn = path.join(tmp, "conn.log");
fs.writeFileSync(conn, [JSON.stringify({ ts: 1768471205.5, uid: "C1", "id.orig_h": "10.0.2.20", "id.orig_p": 5000, "id.resp_h": "203.0.113.66", "id.resp_p": 443, proto: "tcp", orig_bytes: 10, resp_bytes: 20 }), '{"ts": 1768471206, "uid": oops'].join("\n") + "\n");

describe("event-time merge of mixed inputs", () => {
  it("merges files of different formats in time order with their input lines", async () => {
    const rejected: InputRejection[] = [];
    const got: TimedEvent[] = [];
    for await (const b of mergeInputs([web, auth, conn], { onReject: (r) => rejected.push(r) })) got.push(...b);
    expect(got.map((e) => e.t)).toEqual([...got.map((e) => e.t)].sort((a, b) => a - b));
    expect(got.map((e) => `${path.basename(e.file)}:${e.line}`)).toEqual(["access.log.gz:1", "auth.log:1", "access.log.gz:2", "auth.log:2", "access.log.gz:3", "conn.log:1"]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ file: conn, line: 2 });
    expect(rejected[0].code).toMatch(/json|zeek/);
  });
});

describe("sigil replay", () => {
  it("keeps rejected records in the dead-letter file with file, line and reason", async () => {
    const dlq = path.join(tmp, "dlq.ndjson");
    const r = await runReplay({ inputs: [web, auth, conn], rules: PROJECT_RULE_DIRS, config: loadConfig({ env: {} }), cwd: tmp, stderr: quiet, progress: false, deadLetter: dlq, includeCandidates: true });
    expect(r.summary.events).toBe(6);
    expect(r.summary.records_rejected).toBe(1);
    const kept = fs.readFileSync(dlq, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ file: "conn.log", line: 2 });
    expect(kept[0].raw).toContain("oops");
    expect(r.chains.length).toBeGreaterThan(0);
    // the rate is the replay's own: rule loading is reported apart
    expect(r.summary.rules_seconds).toBeGreaterThan(0);
    expect(r.summary.rules_seconds).toBeLessThan(r.summary.seconds);
    expect(r.summary.events_per_second).toBeGreaterThan(Math.round(r.summary.events / r.summary.seconds));
  });

  it("prints chains in the issue's format, with file and line of every event", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const w = (arr: string[]) => new Writable({ write: (c, _e, cb) => (arr.push(String(c)), cb()) });
    const ac = new AbortController();
    const code = await main(["replay", "--input", "access.log.gz", "auth.log", "conn.log", "--all"], { stdout: w(out), stderr: w(err), stdin: process.stdin, env: {}, cwd: tmp, signal: ac.signal });
    expect(code, err.join("")).toBe(0);
    const lines = out.join("").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(["chain"]);
      expect(Object.keys(l.chain).sort()).toEqual(["entities", "first_seen", "id", "last_seen", "score", "signals", "tactics", "techniques"]);
      expect(Object.keys(l.chain.entities).sort()).toEqual(["hosts", "ips", "services", "users"]);
      for (const s of l.chain.signals) {
        expect(Object.keys(s).sort()).toEqual(["@timestamp", "events", "rule", "technique", "why"]);
        expect(Object.keys(s.rule).sort()).toEqual(["id", "title"]);
        for (const e of s.events) {
          expect(Object.keys(e).sort()).toEqual(["file", "id", "line"]);
          expect(["access.log.gz", "auth.log", "conn.log"]).toContain(e.file);
          expect(e.line).toBeGreaterThan(0);
        }
      }
    }
    expect(err.join("")).toMatch(/replay: 3 file\(s\), 6 events, 1 records rejected/);
    expect(err.join("")).toMatch(/ s \(rules \d+\.\d\d s, then [\d,]+ events\/s\)/);
    // the same shape replayChainJson gives
    expect(Object.keys(replayChainJson({ id: "x", "@timestamp": "", version: 1, score: 1, tactics: [], techniques: [], entities: { users: [], hosts: [], ips: [], services: [] }, first_seen: "", last_seen: "", steps: [], links: [] }).chain as object)).toHaveLength(8);
  });

  it("refuses a missing input with a clear error and exit 2", async () => {
    const err: string[] = [];
    const code = await main(["replay", "--input", "nope.log"], { stdout: quiet, stderr: new Writable({ write: (c, _e, cb) => (err.push(String(c)), cb()) }), stdin: process.stdin, env: {}, cwd: tmp, signal: new AbortController().signal });
    expect(code).toBe(2);
    expect(err.join("")).toMatch(/input_unreadable/);
  });
});
