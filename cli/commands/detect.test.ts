// `sigil detect` end to end on small inputs: JSON lines, concatenated pretty-printed objects, raw text,
// bad records (reported with their line, run goes on; --strict exits 1), output shape and stdin.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../main.ts";
import { testContext } from "./test-context.ts";
import { readInputRecords } from "./detect-input.ts";
import { Readable } from "node:stream";

const RULE = `title: Whoami Execution
id: 0a1b2c3d-0000-4000-8000-000000000001
author: Sigil tests
tags: [attack.discovery, attack.t1033]
logsource: {category: process_creation, product: windows}
detection:
    sel:
        Image|endswith: '\\whoami.exe'
    condition: sel
level: medium
`;

function sysmon(image: string, host = "wks1") {
  return { Event: { System: { Provider: { "#attributes": { Name: "Microsoft-Windows-Sysmon" } }, EventID: 1, Channel: "Microsoft-Windows-Sysmon/Operational", Computer: host, TimeCreated: { "#attributes": { SystemTime: "2026-02-01T10:00:00.000Z" } } }, EventData: { Image: image, CommandLine: `${image} /all`, User: "CORP\\bob" } } };
}

function setup(input: string): { dir: string; rules: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-detect-"));
  fs.mkdirSync(path.join(dir, "rules"));
  fs.writeFileSync(path.join(dir, "rules", "discovery_whoami.yml"), RULE);
  fs.writeFileSync(path.join(dir, "events.jsonl"), input);
  return { dir, rules: path.join(dir, "rules"), file: path.join(dir, "events.jsonl") };
}

describe("sigil detect", () => {
  it("prints one JSON line per match with rule, 1-based line and the normalized event", async () => {
    const lines = [sysmon("C:\\Windows\\System32\\whoami.exe"), sysmon("C:\\Windows\\System32\\cmd.exe"), sysmon("C:\\Windows\\System32\\WHOAMI.EXE", "wks2")].map((o) => JSON.stringify(o));
    const { dir, rules, file } = setup(lines.join("\n") + "\n");
    const ctx = testContext(dir);
    expect(await main(["detect", "--rules", rules, "--input", file], ctx)).toBe(0);
    const out = ctx.out().trim().split("\n").map((l) => JSON.parse(l));
    expect(out.map((o) => o.line)).toEqual([1, 3]);
    expect(Object.keys(out[0])).toEqual(["rule", "line", "event"]);
    expect(out[0].rule).toEqual({ id: "0a1b2c3d-0000-4000-8000-000000000001", title: "Whoami Execution", level: "medium", tags: ["attack.discovery", "attack.t1033"], author: "Sigil tests" });
    expect(out[1].event.host.name).toBe("wks2");
    expect(out[1].event.process.executable).toBe("C:\\Windows\\System32\\WHOAMI.EXE");
    expect(ctx.err()).toMatch(/read 3 events from .*: 2 matches, 0 rejected inputs, \d+ events\/s/);
  });

  it("reads concatenated pretty-printed objects and ECS events", async () => {
    const pretty = JSON.stringify(sysmon("C:\\x\\whoami.exe"), null, 2) + "\n" + JSON.stringify(sysmon("C:\\x\\whoami.exe", "h2"), null, 2) + "\n";
    const { dir, rules, file } = setup(pretty);
    const ctx = testContext(dir);
    expect(await main(["detect", "-q", "--rules", rules, "--input", file], ctx)).toBe(0);
    const out = ctx.out().trim().split("\n").map((l) => JSON.parse(l));
    expect(out.map((o) => [o.line, o.event.host.name])).toEqual([
      [1, "wks1"],
      [2, "h2"],
    ]);
    // Sigil's own output fed back in (ECS) matches the same rule.
    const ecs = out.map((o) => JSON.stringify(o.event)).join("\n") + "\n";
    const again = setup(ecs);
    const ctx2 = testContext(again.dir);
    expect(await main(["detect", "-q", "--rules", again.rules, "--input", again.file], ctx2)).toBe(0);
    expect(ctx2.out().trim().split("\n")).toHaveLength(2);
  });

  it("reports a bad line with its number and goes on; --strict exits 1", async () => {
    const input = [JSON.stringify(sysmon("C:\\x\\whoami.exe")), '{"Event": {"System": 5}}', JSON.stringify(sysmon("C:\\x\\whoami.exe"))].join("\n") + "\n";
    const { dir, rules, file } = setup(input);
    let ctx = testContext(dir);
    expect(await main(["detect", "--rules", rules, "--input", file], ctx)).toBe(0);
    expect(ctx.out().trim().split("\n").map((l) => JSON.parse(l).line)).toEqual([1, 3]);
    expect(ctx.err()).toMatch(/events\.jsonl:2: rejected record 2: \w+/);
    expect(ctx.err()).toMatch(/1 rejected inputs/);
    ctx = testContext(dir);
    expect(await main(["detect", "--strict", "--rules", rules, "--input", file], ctx)).toBe(1);
  });

  it("reads stdin with --input -", async () => {
    const { dir, rules } = setup("");
    const ctx = testContext(dir, JSON.stringify(sysmon("C:\\x\\whoami.exe")) + "\n");
    expect(await main(["detect", "-q", "--rules", rules, "--input", "-"], ctx)).toBe(0);
    expect(JSON.parse(ctx.out()).line).toBe(1);
  });

  it("fails with exit 2 and the rule's position when a rule is broken", async () => {
    const { dir, rules, file } = setup("{}\n");
    fs.writeFileSync(path.join(rules, "bad.yml"), RULE.replace("0a1b2c3d-0000-4000-8000-000000000001", "0a1b2c3d-0000-4000-8000-000000000002").replace("Image|endswith", "Image|endwith"));
    const ctx = testContext(dir);
    expect(await main(["detect", "--rules", rules, "--input", file], ctx)).toBe(2);
    expect(ctx.err()).toMatch(/bad\.yml:8:9: error modifier_unknown/);
  });

  it("needs --rules and --input", async () => {
    const ctx = testContext(process.cwd());
    expect(await main(["detect", "--rules", "x"], ctx)).toBe(2);
    expect(ctx.err()).toMatch(/detect_usage/);
  });
});

describe("input records", () => {
  it("split JSON lines, multi-line objects and raw lines with their starting line", async () => {
    const text = '{"a":1}\n\n{\n  "b": "}{"\n}\nJun 14 15:16:01 host sshd[1]: x\n{"c":\n';
    const recs = [];
    for await (const r of readInputRecords(Readable.from([text.slice(0, 7), text.slice(7)]))) recs.push(r);
    expect(recs.map((r) => [r.index, r.line, r.text, r.error?.code])).toEqual([
      [1, 1, '{"a":1}', undefined],
      [2, 3, '{"b":"}{"}', undefined],
      [3, 6, "Jun 14 15:16:01 host sshd[1]: x", undefined],
      [4, 7, "", "json_unterminated"],
    ]);
  });
});
