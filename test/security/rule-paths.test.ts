// Path traversal where Sigil loads rules and their test data, as a hostile rule repository would try it:
// links in a rule folder that point out of it are not followed (`sigil rules lint`, the correlate role's
// loader), and a regression case naming a file outside its folder (../, absolute, a link out) is refused
// by `sigil rules test` without reading it, so nothing of that file reaches the output or the CI log.
// (The console's static file serving is covered in listeners.test.ts.)

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/shared-data.ts";

const MARKER = "TOPSECRET-7f3a9c";
let dir: string;
let rules: string;
let secret: string;

function sigil(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "bin", "sigil.js"), ...args], { cwd: dir, encoding: "utf8", timeout: 120_000, env: { ...process.env, SIGIL_CONFIG: path.join(dir, "none.yml") } });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const rule = (id: string, title: string) =>
  `title: ${title}\nid: ${id}\nstatus: test\nlevel: low\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n    sel:\n        message|contains: 'Accepted password'\n    condition: sel\n`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-rule-paths-"));
  rules = path.join(dir, "repo", "rules");
  secret = path.join(dir, "secret");
  fs.mkdirSync(rules, { recursive: true });
  fs.mkdirSync(secret, { recursive: true });
  fs.writeFileSync(path.join(dir, "none.yml"), "{}\n");
  fs.writeFileSync(path.join(rules, "initial-access_ok.yml"), rule("5a1e0d3e-8c2b-4f57-9e41-3b7d2a9c5e10", "A rule in the folder"));
  // outside the rule folder: a rule-shaped file and plain secrets
  fs.writeFileSync(path.join(secret, "outside.yml"), rule("6b2f1e4f-9d3c-4a68-8f52-4c8e3b0d6f21", `Outside ${MARKER}`));
  fs.writeFileSync(path.join(secret, "secret.txt"), `${MARKER} password=hunter2\n`);
  fs.symlinkSync(path.join(secret, "outside.yml"), path.join(rules, "linked-file.yml"));
  fs.symlinkSync(secret, path.join(rules, "linked-dir"));
  fs.symlinkSync(rules, path.join(rules, "loop")); // a link back up must not recurse forever
  // regression data beside the rules, whose cases try to read the secrets
  const reg = path.join(dir, "repo", "sigma-regression");
  fs.mkdirSync(path.join(reg, "data"), { recursive: true });
  fs.writeFileSync(path.join(reg, "data", "ok.json"), JSON.stringify({ message: "Accepted password for bob" }) + "\n");
  fs.symlinkSync(path.join(secret, "secret.txt"), path.join(reg, "data", "link.json"));
  const c = (event_file: string) => JSON.stringify({ rule_id: "5a1e0d3e-8c2b-4f57-9e41-3b7d2a9c5e10", rule_title: "A rule in the folder", rule_path: "rules/initial-access_ok.yml", event_file, type: "raw", event_count: 1, match_count: 1 });
  fs.writeFileSync(path.join(reg, "cases.jsonl"), [c("data/ok.json"), c("../../secret/secret.txt"), c(path.join(secret, "secret.txt")), c("data/link.json"), c("data/../../../secret/secret.txt")].join("\n") + "\n");
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("rule folders", () => {
  it("lint loads the rules in the folder and follows no link out of it (files, folders, loops)", () => {
    const r = sigil(["rules", "lint", rules, "--json"]);
    const j = JSON.parse(r.out.trim().split("\n")[0]) as { loaded: number; files: number };
    expect(j.loaded, r.out).toBe(1);
    expect(j.files).toBe(1);
    expect(r.out).not.toContain(MARKER);
  });
});

describe("regression cases", () => {
  it("runs a case inside its folder and refuses each one naming a file outside it, reading nothing of it", () => {
    const r = sigil(["rules", "test", rules, "--json"]);
    expect(r.status, r.out).toBe(1);
    expect(r.out).not.toContain(MARKER);
    expect(r.out).not.toContain("hunter2");
    const j = JSON.parse(r.out.trim().split("\n")[0]) as { results: { name: string; ok: boolean; message?: string }[] };
    const regression = j.results.filter((x) => x.name.startsWith("regression"));
    expect(regression.length).toBe(5);
    expect(regression.filter((x) => x.ok).length, "the case inside the folder runs and passes").toBe(1);
    const refused = regression.filter((x) => !x.ok);
    expect(refused.length).toBe(4);
    for (const x of refused) expect(x.message).toMatch(/refused$/);
  });
});
