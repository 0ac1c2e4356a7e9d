// `sigil detect`, `sigil rules lint` and `sigil rules test` with correlation and anomaly rules, end to
// end through the CLI: output format, late events in the summary, lint codes, scenario failures.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../../cli/main.ts";
import type { CommandContext } from "../../cli/command.ts";
import { PROJECT_ROOT } from "../../test/support/shared-data.ts";

function ctx(): CommandContext & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  stdin.end("");
  let o = "";
  let e = "";
  stdout.on("data", (d) => (o += d));
  stderr.on("data", (d) => (e += d));
  return { stdout, stderr, stdin, env: { ...process.env, SIGIL_CONFIG: "", SIGIL_CORRELATE__ALLOWED_LATENESS_MS: "60000" }, cwd: PROJECT_ROOT, signal: new AbortController().signal, out: () => o, err: () => e };
}

const ssh = (ts: string, msg: string) => `<86>1 2026-01-15T${ts}Z db-1 sshd 4242 - - ${msg}`;
const rules = ["--rules", "rules/sigma", "--rules", "rules/correlation", "--rules", "rules/anomaly"];

describe("sigil detect with correlation rules", () => {
  it("prints each hit as one JSON line with the rule, the correlation and the input lines", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-detect-corr-"));
    const input = path.join(dir, "auth.log");
    const lines = [0, 10, 20, 30, 40].map((s) => ssh(`09:00:${String(s).padStart(2, "0")}.000`, `Failed password for root from 203.0.113.66 port 4100 ssh2`));
    lines.push(ssh("08:57:00.000", "Failed password for root from 203.0.113.66 port 4100 ssh2")); // 3 min behind: late
    lines.push(ssh("09:04:00.000", "Accepted password for root from 203.0.113.66 port 4100 ssh2"));
    fs.writeFileSync(input, lines.join("\n") + "\n");
    const c = ctx();
    expect(await main(["detect", ...rules, "--input", input], c)).toBe(0);
    const out = c
      .out()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const hits = out.filter((o) => o.correlation);
    expect(hits).toEqual([
      {
        rule: { id: "c37cfdf9-19d8-4bb0-a3fd-e33cba06f685", title: "SSH Password Guessing Followed by a Successful Password Login", level: "high" },
        correlation: { type: "temporal_ordered", group: { "source.ip": "203.0.113.66" }, value: 2, first_seen: "2026-01-15T09:00:00.000Z", last_seen: "2026-01-15T09:04:00.000Z" },
        lines: [1, 2, 3, 4, 5, 7],
      },
    ]);
    expect(out.filter((o) => o.line !== undefined)).toHaveLength(7);
    expect(c.err()).toMatch(/correlation rules: 1 hits; 1 matches later than correlate.allowed_lateness_ms \(60000 ms\) not correlated \(input lines 6\)/);
  });
});

describe("sigil rules lint and rules test with correlation and anomaly rules", () => {
  it("lint reports correlation and anomaly problems with codes and lines", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-lint-corr-"));
    fs.writeFileSync(
      path.join(dir, "bad.yml"),
      "title: t\nid: 0e95725d-7320-415d-80f7-004da920fc11\ncorrelation:\n  type: event_count\n  rules: [no_such_rule]\n  group-by: [u]\n  timespan: 5 minutes\n  condition: {gte: 3}\n",
    );
    fs.writeFileSync(path.join(dir, "anomaly.yml"), "title: a\nid: 9b0a3b5e-1111-4c2d-9e0f-0123456789ab\nanomaly:\n  entity: user.name\n  metric: sum\n  interval: 1h\n  threshold: {score: 3}\n");
    const c = ctx();
    expect(await main(["rules", "lint", "--json", dir], c)).toBe(1);
    const r = JSON.parse(c.out()) as { failed: { file: string; line: number; code: string }[] };
    const got = r.failed.map((f) => [path.basename(f.file), f.line, f.code]);
    expect(got).toContainEqual(["bad.yml", 7, "correlation_timespan_invalid"]);
    expect(got).toContainEqual(["anomaly.yml", 5, "anomaly_field_missing"]);
  });

  it("rules test runs the scenarios and reports a failing one with what happened", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-test-corr-"));
    fs.cpSync(path.join(PROJECT_ROOT, "rules/sigma/linux"), path.join(dir, "sigma"), { recursive: true });
    const rule = path.join(PROJECT_ROOT, "rules/correlation/linux/credential-access_ssh_password_spraying.yml");
    fs.copyFileSync(rule, path.join(dir, "spray.yml"));
    fs.writeFileSync(
      path.join(dir, "spray.tests.yml"),
      `scenarios:\n  - name: wrong on purpose\n    events:\n${["a", "b", "c", "d", "e"].map((u, i) => `      - format: sshd-auth\n        raw: "${ssh(`10:00:0${i}.000`, `Failed password for ${u} from 203.0.113.9 port 1 ssh2`)}"\n`).join("")}    expect: []\n`,
    );
    const c = ctx();
    expect(await main(["rules", "test", "--no-regression", dir], c)).toBe(1);
    expect(c.out()).toMatch(/FAIL .*spray\.tests\.yml:2 wrong on purpose: unexpected hit\(s\): value_count \{"source.ip":"203.0.113.9"\} value 5 lines \[1,2,3,4,5\]/);
  });

  it("rules test checks the dropped counts a scenario states, by reason", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-test-dropped-"));
    fs.cpSync(path.join(PROJECT_ROOT, "rules/sigma/linux"), path.join(dir, "sigma"), { recursive: true });
    fs.copyFileSync(path.join(PROJECT_ROOT, "rules/correlation/linux/credential-access_ssh_password_spraying.yml"), path.join(dir, "spray.yml"));
    // two failures, then one ten minutes behind the newest (later than the 60 s allowed lateness)
    const events = [`10:10:00.000`, `10:10:01.000`, `10:00:00.000`]
      .map((t, i) => `      - format: sshd-auth\n        raw: "${ssh(t, `Failed password for u${i} from 203.0.113.9 port 1 ssh2`)}"\n`)
      .join("");
    const scenario = (name: string, dropped: string) => `  - name: ${name}\n    events:\n${events}    expect: []\n    dropped: ${dropped}\n`;
    fs.writeFileSync(
      path.join(dir, "spray.tests.yml"),
      "scenarios:\n" + scenario("one late", "{late: 1, missing_field: 0, evicted: 0}") + scenario("two late on purpose", "{late: 2}") + scenario("a typo", "{lat: 1}"),
    );
    const c = ctx();
    expect(await main(["rules", "test", "--no-regression", dir], c)).toBe(1);
    const out = c.out();
    expect(out).not.toMatch(/one late/); // passed: only failures are listed
    expect(out).toMatch(/FAIL .*spray\.tests\.yml:\d+ two late on purpose: expected 2 input\(s\) dropped as late, counted 1/);
    expect(out).toMatch(/unknown dropped reason "lat" \(allowed: late, suppressed, missing_field, bad_value, evicted\)/);
  });
});
