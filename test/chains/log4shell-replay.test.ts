// `sigil replay` over the OTRF Log4Shell recording: Azure Sentinel / Log Analytics exports of two runs
// of the exploit (a JNDI reference on a Linux Tomcat, recorded by Sysmon for Linux, AUOMS auditd and
// VM Insights; a serialized Java object on a Windows Tomcat, recorded by Sysmon and Security auditing),
// with the full SigmaHQ corpus. Assertions come from the recording's metadata and file names, not from
// ids: every row is read with its own time, each run's steps form one chain in order that starts where
// the exploited Java service executed something, and no chain mixes the runs.
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { PROJECT_ROOT, SHARED_DATA_MISSING, sharedDataDir } from "../support/shared-data.ts";

const data = sharedDataDir();
const dir = data ? path.join(data, "attacks", "otrf-log4shell") : null;
const sigma = data ? path.join(data, "sigmahq") : null;

interface ReplayChain {
  chain: {
    id: string;
    tactics: string[];
    techniques: string[];
    entities: { users: string[]; hosts: string[]; ips: string[]; services: string[] };
    first_seen: string;
    last_seen: string;
    signals: { "@timestamp": string; rule: { id: string; title: string }; technique: string | null; why: string[]; events: { id: string; file: string; line: number }[] }[];
  };
}

/** The run a recording file belongs to and the day it was recorded, from its name (`..._cve2021_44228_<run>_<yyyy-mm-dd><hhmmss>.json`). */
function runOf(file: string): { run: string; day: string } {
  const m = /cve2021_44228_(.+)_(\d{4}-\d{2}-\d{2})\d{6}\.json$/.exec(path.basename(file));
  if (!m) throw new Error(`unexpected recording file name ${file}`);
  return { run: m[1], day: m[2] };
}

describe.skipIf(!dir)("replay of the OTRF Log4Shell recording (Azure Log Analytics exports)", () => {
  if (!dir) it.skip(SHARED_DATA_MISSING, () => {});
  const files = dir ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort() : [];
  const rows = new Map<string, string[]>();
  let chains: ReplayChain["chain"][] = [];
  let summary: { events: number; records_rejected: number } = { events: 0, records_rejected: -1 };
  let status: number | null = null;
  let stderr = "";

  beforeAll(() => {
    for (const f of files) rows.set(f, fs.readFileSync(path.join(dir!, f), "utf8").split("\n"));
    const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "bin/sigil.js"), "replay", ...files.flatMap((f) => ["--input", f]), "--rules", sigma!, "--summary-json"], { cwd: dir!, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    status = r.status;
    stderr = r.stderr;
    if (r.status === 0) {
      chains = r.stdout.trim().split("\n").filter(Boolean).map((l) => (JSON.parse(l) as ReplayChain).chain);
      summary = JSON.parse(stderr.trim().split("\n").pop()!);
    }
  }, 180_000);

  /** The recording row a signal's event came from. */
  const rowOf = (e: { file: string; line: number }) => rows.get(path.basename(e.file))![e.line - 1];

  it("reads every row of every table, none rejected", () => {
    expect(status, stderr.slice(-2000)).toBe(0);
    const total = [...rows.values()].reduce((n, lines) => n + lines.filter((l) => l.trim()).length, 0);
    expect(summary.records_rejected).toBe(0);
    expect(summary.events).toBe(total);
  });

  it("forms one chain per run, in event time on the day the run was recorded, never mixing runs", () => {
    const runs = new Set(files.map((f) => runOf(f).run));
    expect(runs.size).toBeGreaterThanOrEqual(2);
    for (const run of runs) {
      const mine = chains.filter((c) => c.signals.some((s) => s.events.some((e) => runOf(e.file).run === run)));
      expect(mine, `chains holding signals of run ${run}`).toHaveLength(1);
      const c = mine[0];
      // the recording's own time (not the replay's clock): the day in the run's file names
      const days = new Set(files.filter((f) => runOf(f).run === run).map((f) => runOf(f).day));
      expect(days.has(c.first_seen.slice(0, 10)), `${c.first_seen} is a day of run ${run}`).toBe(true);
      for (const s of c.signals) for (const e of s.events) expect(runOf(e.file).run).toBe(run);
    }
  });

  it("orders each chain by time, explains every link and maps it to the recording's tactics", () => {
    const meta = parseYaml(fs.readFileSync(path.join(dir!, "metadata.yaml"), "utf8")) as { attack_mappings: { technique: string; tactics: string[] }[] };
    // TA0002: the exploit makes the Java service execute the attacker's code
    expect(meta.attack_mappings.flatMap((m) => m.tactics)).toContain("TA0002");
    for (const c of chains) {
      const ts = c.signals.map((s) => Date.parse(s["@timestamp"]));
      expect([...ts].sort((a, b) => a - b)).toEqual(ts);
      expect(c.tactics).toContain("execution");
      expect(c.signals.length).toBeGreaterThanOrEqual(3);
      for (const s of c.signals.slice(1)) expect(s.why.join(" ")).toMatch(/shared with/);
    }
  });

  it("starts each chain where the exploited Java service ran the attacker's command", () => {
    for (const c of chains) {
      const first = rowOf(c.signals[0].events[0]);
      // the parent of the first step's process is the Java service (java on Linux, Tomcat's service on Windows)
      expect(first).toMatch(/Parent(Image|ProcessName)[^,]*?(java|tomcat)/i);
    }
  });

  it("starts the Linux run's chain right after the Java service reached the attacker's LDAP server", () => {
    const meta = parseYaml(fs.readFileSync(path.join(dir!, "metadata.yaml"), "utf8")) as { simulation: { adversary_view: string } };
    const attacker = /ldap:\/\/(\d{1,3}(?:\.\d{1,3}){3})/.exec(meta.simulation.adversary_view)![1];
    const linux = chains.find((c) => c.signals.some((s) => s.events.some((e) => /syslog_/.test(e.file))))!;
    expect(linux).toBeDefined();
    const run = runOf(linux.signals[0].events[0].file).run;
    // rows of the same run that name the attacker's address (VM Insights connections, Sysmon network events)
    const contacts = files
      .filter((f) => runOf(f).run === run)
      .flatMap((f) => rows.get(f)!.filter((l) => l.includes(`"${attacker}"`) || l.includes(`>${attacker}<`)))
      .map((l) => Date.parse((JSON.parse(l) as { TimeGenerated: string }).TimeGenerated));
    expect(contacts.length).toBeGreaterThan(0);
    const first = Date.parse(linux.first_seen);
    expect(Math.min(...contacts)).toBeLessThanOrEqual(first);
    expect(first - Math.min(...contacts)).toBeLessThan(5 * 60_000);
    // the chain names the host and the account the exploited service ran as, as its first step's row gives them
    const row = JSON.parse(rowOf(linux.signals[0].events[0])) as { Computer: string; SyslogMessage: string };
    expect(linux.entities.hosts).toContain(row.Computer.toLowerCase());
    expect(linux.entities.users).toContain(/<Data Name="User">([^<]+)</.exec(row.SyslogMessage)![1]);
  });
});
