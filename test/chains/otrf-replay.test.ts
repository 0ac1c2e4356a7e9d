// `sigil replay` over a real intrusion recording (OTRF LSASS campaign 02: a user runs a disguised
// payload, the attacker gets a shell, runs discovery, uploads ProcDump and dumps LSASS). Assertions come
// from the recording's own metadata (ATT&CK mapping and the attacker's transcript), not from ids: the
// steps that left evidence on the host form one chain, in the transcript's order, with few unrelated
// signals, and the chain format is the issue's.
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { PROJECT_ROOT, SHARED_DATA_MISSING, sharedDataDir } from "../support/shared-data.ts";

const data = sharedDataDir();
const dir = data ? path.join(data, "attacks", "otrf-lsass-campaign-02") : null;

interface ReplayChain {
  chain: {
    id: string;
    score: number;
    tactics: string[];
    techniques: string[];
    entities: { users: string[]; hosts: string[]; ips: string[]; services: string[] };
    first_seen: string;
    last_seen: string;
    signals: { "@timestamp": string; rule: { id: string; title: string }; technique: string | null; why: string[]; events: { id: string; file: string; line: number }[] }[];
  };
}

describe.skipIf(!dir)("replay of the OTRF LSASS campaign recording", () => {
  if (!dir) it.skip(SHARED_DATA_MISSING, () => {});
  const zeek = dir ? fs.readdirSync(path.join(dir, "zeek")).filter((f) => f.endsWith(".log")).map((f) => path.join("zeek", f)) : [];
  let out: ReplayChain[] = [];
  let stderr = "";

  it("runs the whole pipeline over the host log and the Zeek logs in one run", () => {
    const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "bin/sigil.js"), "replay", "--input", "host-windows-events.jsonl.gz", ...zeek.flatMap((z) => ["--input", z]), "--summary-json"], {
      cwd: dir!,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    stderr = r.stderr;
    expect(r.status, r.stderr).toBe(0);
    out = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as ReplayChain);
    const summary = JSON.parse(stderr.trim().split("\n").pop()!) as { events: number; signals: number };
    expect(summary.events).toBeGreaterThan(40_000);
  });

  it("puts every host step of the transcript into one chain, in order", () => {
    const meta = parseYaml(fs.readFileSync(path.join(dir!, "metadata.yaml"), "utf8")) as { attack_mappings: { technique: string; "sub-technique": string | null }[] };
    const mapped = meta.attack_mappings.map((m) => (m["sub-technique"] ? `${m.technique}.${m["sub-technique"]}` : m.technique));
    // techniques the transcript says left evidence on the host (resource development happened elsewhere)
    const hostSteps = [["T1204.002"], ["T1082", "T1033"], ["T1105"], ["T1003.001"]];
    for (const s of hostSteps) expect(mapped.some((m) => s.includes(m))).toBe(true);
    const chains = out.filter((c) => hostSteps.some((s) => c.chain.techniques.some((t) => s.includes(t))));
    expect(chains, "the attack's steps are in one chain").toHaveLength(1);
    const chain = chains[0].chain;
    const firstAt = (techs: string[]) => {
      const s = chain.signals.find((x) => x.technique && techs.some((t) => x.technique!.startsWith(t)));
      return s ? Date.parse(s["@timestamp"]) : NaN;
    };
    const times = hostSteps.map(firstAt);
    for (const t of times) expect(Number.isNaN(t)).toBe(false);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]);
    // signals ordered by time; every step after the first says which entity joined it
    const ts = chain.signals.map((s) => Date.parse(s["@timestamp"]));
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    for (const s of chain.signals.slice(1)) expect(s.why.join(" ")).toMatch(/shared with|joined/);
    expect(chain.entities.users).toContain("nora.quemona");
    expect(chain.entities.hosts).toContain("acct01");
  });

  it("keeps unrelated signals out of the attack chain", () => {
    const meta = parseYaml(fs.readFileSync(path.join(dir!, "metadata.yaml"), "utf8")) as { attack_mappings: { tactics: string[] }[] };
    const tacticIds = new Set(meta.attack_mappings.flatMap((m) => m.tactics));
    const NAMES: Record<string, string> = { TA0042: "resource-development", TA0002: "execution", TA0007: "discovery", TA0011: "command-and-control", TA0006: "credential-access", TA0010: "exfiltration" };
    const expected = new Set([...tacticIds].map((t) => NAMES[t]).filter(Boolean));
    // defense evasion is how the payload hid (a disguised file name); anything else is unrelated
    expected.add("defense-evasion");
    const chain = out.find((c) => c.chain.techniques.includes("T1003.001"))!.chain;
    const unrelated = chain.tactics.filter((t) => !expected.has(t));
    expect(unrelated).toEqual([]);
    // every signal's events point back at input lines
    for (const s of chain.signals) for (const e of s.events) {
      expect(e.file).toBe("host-windows-events.jsonl.gz");
      expect(e.line).toBeGreaterThan(0);
    }
  });

  it("forms no other chain above the alert threshold from the benign activity on the host", () => {
    expect(out.length).toBe(1);
  });
});
