import { describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkAgentConfig, loadAgentConfig } from "./config.ts";

function tmpFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-agent-config-"));
  const f = path.join(dir, "agent.yml");
  fs.writeFileSync(f, text);
  return f;
}

const MINIMAL = `inputs:
  - type: file
    paths: ["/var/log/app/*.log"]
output:
  url: https://ingest.example.com:8088/v1/ingest
  token: { file: /etc/sigil/agent.token }
buffer:
  key: { file: /etc/sigil/agent.key }
`;

describe("agent config", () => {
  it("loads a minimal agent.yml with named defaults", () => {
    const c = loadAgentConfig(tmpFile(MINIMAL), {});
    expect(c.inputs[0]).toMatchObject({ type: "file", start_at: "end", max_line_bytes: 65536, multiline: null });
    expect(c.output.tls).toMatchObject({ min_version: "TLSv1.3", verify: true });
    expect(c.buffer).toMatchObject({ enabled: true, when_full: "block" });
    expect(c.output.batch.max_lines).toBe(2000);
  });

  it("reports an unknown key with file, line and a suggestion", () => {
    const f = tmpFile(MINIMAL.replace("    paths:", "    pahts: [x]\n    paths:"));
    const r = checkAgentConfig(f, {});
    expect(r.config).toBeNull();
    expect(r.problems[0]).toMatchObject({ code: "config_unknown_key", location: { file: f, line: 3 } });
    expect(r.problems[0].hint).toContain("paths");
  });

  it("rejects a bad multiline pattern where it is written", () => {
    const f = tmpFile(MINIMAL.replace('    paths: ["/var/log/app/*.log"]', '    paths: ["/x"]\n    multiline: { pattern: "([" }'));
    const r = checkAgentConfig(f, {});
    expect(r.problems[0]).toMatchObject({ code: "config_bad_value", location: { file: f, line: 4 } });
  });

  it("refuses plain http and disabled verification to a remote host, a missing key and missing token", () => {
    const f = tmpFile(`inputs: [{ type: stdin }]
output:
  url: http://ingest.example.com/v1/ingest
  tls: { verify: false }
`);
    const codes = checkAgentConfig(f, {}).problems.map((p) => p.code).sort();
    expect(codes).toEqual(["agent_buffer_key_missing", "agent_insecure_tls", "agent_insecure_url", "agent_token_missing"]);
  });

  it("allows plain http to loopback and takes SIGIL_AGENT_ overrides", () => {
    const f = tmpFile(MINIMAL);
    const c = loadAgentConfig(f, { SIGIL_AGENT_OUTPUT__URL: "http://127.0.0.1:8088/v1/ingest", SIGIL_AGENT_BUFFER__WHEN_FULL: "drop_oldest", SIGIL_BUS__TYPE: "kafka" });
    expect(c.output.url).toBe("http://127.0.0.1:8088/v1/ingest");
    expect(c.buffer.when_full).toBe("drop_oldest");
  });

  it("needs a metrics token when metrics listen beyond loopback", () => {
    const f = tmpFile(MINIMAL + "metrics: { host: 0.0.0.0 }\n");
    expect(checkAgentConfig(f, {}).problems.map((p) => p.code)).toEqual(["agent_metrics_unauthenticated"]);
  });
});
