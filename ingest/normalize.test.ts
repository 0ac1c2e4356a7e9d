import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { EcsEvent } from "../schema/ecs.ts";
import { SHARED_DATA_MISSING, sharedDataDir } from "../test/support/shared-data.ts";
import { SigilError } from "../platform/errors.ts";
import { Normalizer, checkFormat, checkTimezone, createLineNormalizer, detectFormat } from "./normalize.ts";
import type { Emit, Rejection } from "./parsers/types.ts";

const AUTH = [
  "Oct 30 08:14:02 h sshd[1]: Accepted password for a from 10.0.0.1 port 1 ssh2",
  "Oct 30 08:14:03 h sudo:  a : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id",
  "Oct 30 08:14:04 h sshd[2]: Failed password for b from 10.0.0.2 port 2 ssh2",
];
const ACCESS = ['1.2.3.4 - - [31/Oct/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"'];

function collect(): { emit: Emit; events: EcsEvent[]; rejected: Rejection[] } {
  const events: EcsEvent[] = [];
  const rejected: Rejection[] = [];
  return { emit: { event: (e) => events.push(e), reject: (r) => rejected.push(r) }, events, rejected };
}

const ZEEK_TSV = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "parsers/zeek/fixtures/conn.log"), "utf8").split("\n").filter((l) => l.length > 0);

/** Events and rejections of `lines` through a Normalizer with the given format. */
function normalizeAll(lines: string[], format: string, pathHint?: string): { events: EcsEvent[]; rejected: Rejection[]; format: string | null } {
  const { emit, events, rejected } = collect();
  const n = new Normalizer({ format, pathHint });
  lines.forEach((data, i) => n.push({ data, source: "t", line: i + 1, origin: `t@${i}` }, emit));
  n.flush(emit);
  return { events, rejected, format: n.format };
}

describe("Zeek TSV detection (header lines are evidence)", () => {
  it("recognizes a TSV log by its directives, by its data rows, and by a header it opens with", () => {
    expect(detectFormat(ZEEK_TSV)?.format).toBe("zeek");
    expect(detectFormat(ZEEK_TSV.filter((l) => l.startsWith("#")))?.format).toBe("zeek");
    expect(detectFormat(ZEEK_TSV.filter((l) => !l.startsWith("#")).slice(0, 3))?.format).toBe("zeek");
    // a long log: 8 header lines and many rows in the 32-line sample
    const long = [...ZEEK_TSV.slice(0, 8), ...Array.from({ length: 40 }, (_, i) => ZEEK_TSV[8 + (i % 3)])];
    expect(detectFormat(long)?.format).toBe("zeek");
    // "#" lines that are not Zeek directives are not evidence
    expect(detectFormat(["#Fields: date time cs-method", "#comment"])).toBeNull();
  });

  it("normalizes a TSV log in auto mode exactly as with --format zeek", () => {
    const auto = normalizeAll(ZEEK_TSV, "auto");
    const forced = normalizeAll(ZEEK_TSV, "zeek");
    expect(auto.format).toBe("zeek");
    expect(auto.events.length).toBeGreaterThan(0);
    expect(auto.events.map((e) => e.event.id)).toEqual(forced.events.map((e) => e.event.id));
    expect(auto.rejected.map((r) => r.code)).toEqual(forced.rejected.map((r) => r.code));
    expect(auto.rejected.map((r) => r.code)).not.toContain("format_unknown");
  });

  const data = sharedDataDir();
  const dirs = data ? [path.join(data, "attacks/otrf-lsass-campaign-02/zeek"), path.join(data, "logs/zeek/otrf-apt29-day1")] : [];
  it.skipIf(!data)(`reads the recordings' Zeek logs (TSV and JSON) in auto mode as with --format zeek${data ? "" : ` (${SHARED_DATA_MISSING})`}`, () => {
    let tsvFiles = 0;
    for (const dir of dirs) {
      for (const f of fs.readdirSync(dir).filter((n) => n.endsWith(".log"))) {
        const lines = fs.readFileSync(path.join(dir, f), "utf8").split("\n").filter((l) => l.length > 0);
        if (lines[0].startsWith("#separator")) tsvFiles++;
        const auto = normalizeAll(lines, "auto", f);
        const forced = normalizeAll(lines, "zeek", f);
        expect(auto.rejected.filter((r) => r.code === "format_unknown"), f).toEqual([]);
        expect(auto.events.length, f).toBe(forced.events.length);
        expect(auto.events.every((e) => e.event.dataset?.startsWith("zeek.")), f).toBe(true);
      }
    }
    expect(tsvFiles).toBeGreaterThanOrEqual(5);
  });
});

describe("format detection", () => {
  it("picks the parser that explains the sample best, with file names breaking look-alike ties", () => {
    expect(detectFormat(AUTH)?.format).toBe("sshd-auth");
    expect(detectFormat(["Oct 30 08:14:02 h kernel: x", ...AUTH.slice(0, 1)])?.format).toBe("syslog-rfc3164");
    expect(detectFormat(ACCESS)?.format).toBe("apache-access");
    expect(detectFormat(ACCESS, "/var/log/nginx/access.log")?.format).toBe("nginx-access");
    expect(detectFormat(['type=SYSCALL msg=audit(1.0:1): pid=1'])?.format).toBe("linux-auditd");
    expect(detectFormat(["\tindented only"])).toBeNull();
    expect(detectFormat(["what is this"])).toBeNull();
  });

  it("routes JSON lines of different shapes each to its own parser", () => {
    const { emit, events, rejected } = collect();
    const n = new Normalizer();
    const lines = [
      '{"timestamp":"2024-10-31T12:00:00Z","event_type":"alert","src_ip":"1.2.3.4","dest_ip":"5.6.7.8","proto":"TCP","alert":{"signature":"x","signature_id":1}}',
      '{"eventVersion":"1.08","eventTime":"2024-10-31T09:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"z"}',
      '{"level":"info","msg":"hello","time":"2024-10-31T09:00:00Z"}',
    ];
    lines.forEach((data, i) => n.push({ data, source: "t", line: i + 1 }, emit));
    n.flush(emit);
    expect(rejected).toEqual([]);
    expect(events.map((e) => e.event.dataset)).toEqual(["suricata.eve", "aws.cloudtrail", "app.json"]);
    expect(n.stats).toMatchObject({ records: 3, events: 3, rejected: 0 });
  });

  it("rejects input no parser recognizes, and checks --format and --timezone values", () => {
    const { emit, rejected } = collect();
    const n = new Normalizer();
    n.push({ data: "???", source: "t", line: 1 }, emit);
    n.flush(emit);
    expect(rejected.map((r) => r.code)).toEqual(["format_unknown"]);
    expect(() => checkFormat("nope")).toThrow(SigilError);
    expect(checkFormat(undefined)).toBe("auto");
    expect(() => checkTimezone("Mars/Olympus")).toThrow(SigilError);
    expect(checkTimezone("Europe/Berlin")).toBe("Europe/Berlin");
  });
});

describe("line normalizer for sigil detect and replay", () => {
  it("attributes each event to its input line, also when a parser held the record back", () => {
    const got: Array<[string | undefined, number | undefined]> = [];
    const rejected: Rejection[] = [];
    const ln = createLineNormalizer({ onEvent: (e, line) => got.push([e.event.action, line]), onReject: (r) => rejected.push(r), now: () => new Date("2024-11-01T00:00:00Z") });
    AUTH.forEach((l, i) => ln.push(l, i + 1));
    ln.push("", 4);
    ln.push("not syslog at all", 5);
    ln.end();
    expect(got).toEqual([
      ["ssh_login", 1],
      ["sudo", 2],
      ["ssh_login", 3],
    ]);
    expect(rejected.map((r) => [r.record.line, r.code])).toEqual([[5, "syslog_bad_header"]]);
  });

  it("passes already-normalized events through with their ids", () => {
    const got: EcsEvent[] = [];
    const ln = createLineNormalizer({ onEvent: (e) => got.push(e), onReject: () => undefined });
    const ev = { "@timestamp": "2024-10-31T10:00:00.000Z", event: { id: "0123456789abcdef0123456789abcdef", kind: "event", category: ["process"], type: ["start"], dataset: "x.y" }, host: { name: "h" } };
    ln.push(JSON.stringify(ev), 1);
    ln.end();
    expect(got).toEqual([ev]);
  });
});
