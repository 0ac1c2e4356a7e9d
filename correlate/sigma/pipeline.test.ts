// Pipelines as data: strict validation with positions, field resolution by logsource specificity with
// fallbacks and value maps, and the shipped pipelines routing events of each source to their rules.
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import { BUILTIN_PIPELINE_DIR, loadPipelines, parsePipelineText, resolveField } from "./pipeline.ts";
import { compile, ruleYaml } from "./test-helpers.ts";

describe("pipeline files", () => {
  it("unknown keys and bad shapes are errors with line and column", () => {
    const r = parsePipelineText("name: p\nroutes:\n  - logsource: {product: x, categroy: y}\n    when: {a: b}\nfields:\n  - logsource: {product: x}\n    mapp: {A: b}\nextra: 1\n", "p.yml");
    expect(r.pipeline).toBeNull();
    expect(r.problems.map((p) => [p.code, p.location?.line, p.location?.column])).toEqual([
      ["pipeline_unknown_key", 3, 29],
      ["pipeline_unknown_key", 7, 5],
      ["pipeline_unknown_key", 8, 1],
    ]);
    expect(parsePipelineText("routes: []\n", "p.yml").problems.map((p) => p.code)).toEqual(["pipeline_missing_name"]);
    expect(parsePipelineText("name: p\nfields:\n  - fallback: 'x.y'\n", "p.yml").problems.map((p) => p.code)).toEqual(["pipeline_bad_value"]);
  });

  it("every shipped pipeline is valid", () => {
    const all = loadPipelines("all");
    const files = fs.readdirSync(BUILTIN_PIPELINE_DIR).filter((f) => f.endsWith(".yml"));
    expect(all).toHaveLength(files.length);
    expect(all.map((p) => p.name)).toEqual(expect.arrayContaining(["ecs-cloud", "ecs-kubernetes", "ecs-linux", "ecs-network", "ecs-web", "ecs-windows"]));
    expect(() => loadPipelines(["no-such-pipeline"])).toThrow(/no pipeline named/);
  });

  it("resolves a field by the most specific block, then the fallback, then as written", () => {
    const ps = loadPipelines(["ecs-windows"]);
    expect(resolveField("CommandLine", { category: "process_creation", product: "windows" }, ps).candidates).toEqual(["winlog.event_data.CommandLine", "process.command_line"]);
    expect(resolveField("OriginalFileName", { category: "image_load", product: "windows" }, ps).candidates).toEqual(["winlog.event_data.OriginalFileName", "file.pe.original_file_name"]);
    expect(resolveField("GrantedAccess", { category: "process_access", product: "windows" }, ps).candidates).toEqual(["winlog.event_data.GrantedAccess", "winlog.user_data.GrantedAccess"]);
    expect(resolveField("Initiated", { category: "network_connection", product: "windows" }, ps).values).toEqual({ true: "egress", false: "ingress" });
    expect(resolveField("anything", { product: "aws", service: "cloudtrail" }, ps).candidates).toEqual(["anything"]);
  });

  it("value maps rewrite rule values for the ECS field (Initiated true → network.direction egress)", () => {
    const text = `title: t\nid: 11111111-2222-3333-4444-555555555556\nlogsource: {category: network_connection, product: windows}\ndetection:\n    sel: {Initiated: 'true', DestinationPort: 4444}\n    condition: sel\n`;
    const { plan } = compile(text, { pipelines: loadPipelines("all") });
    const winlogbeat = { "@timestamp": "2026-01-01T00:00:00.000Z", event: { code: "3" }, winlog: { channel: "Microsoft-Windows-Sysmon/Operational", event_data: {} }, network: { direction: "egress" }, destination: { port: 4444 } };
    expect(plan.match(winlogbeat, () => {})).toBe(1);
    expect(plan.match({ ...winlogbeat, network: { direction: "ingress" } }, () => {})).toBe(0);
  });
});

describe("routes of the shipped pipelines", () => {
  const ps = loadPipelines("all");
  const routed = (ls: string, event: Record<string, unknown>, detection = "    sel: {x|exists: false}\n    condition: sel") => {
    const [category, product, service] = ls.split("/");
    const text = ruleYaml(detection).replace("    category: test\n    product: test\n", `${category ? `    category: ${category}\n` : ""}${product ? `    product: ${product}\n` : ""}${service ? `    service: ${service}\n` : ""}`);
    return compile(text, { pipelines: ps }).plan.match(event, () => {}) > 0;
  };
  const sysmon = (code: string, extra = {}) => ({ event: { code }, winlog: { channel: "Microsoft-Windows-Sysmon/Operational", event_data: extra } });
  it("Sysmon event ids → categories; channels → services", () => {
    expect(routed("process_creation/windows/", sysmon("1"))).toBe(true);
    expect(routed("process_creation/windows/", sysmon("3"))).toBe(false);
    expect(routed("/windows/sysmon", sysmon("16"))).toBe(true);
    expect(routed("registry_set/windows/", sysmon("13"))).toBe(true);
    expect(routed("registry_add/windows/", sysmon("12", { EventType: "CreateKey" }))).toBe(true);
    expect(routed("registry_delete/windows/", sysmon("12", { EventType: "CreateKey" }))).toBe(false);
    expect(routed("process_creation/windows/", { event: { code: "4688" }, winlog: { channel: "security" } })).toBe(true);
    expect(routed("/windows/security", { event: { code: "4624" }, winlog: { channel: "Security" } })).toBe(true);
    expect(routed("ps_script/windows/", { event: { code: "4104" }, winlog: { channel: "Microsoft-Windows-PowerShell/Operational" } })).toBe(true);
    expect(routed("/windows/windefend", { event: { code: "1116" }, winlog: { channel: "Microsoft-Windows-Windows Defender/Operational" } })).toBe(true);
  });
  it("other sources by dataset", () => {
    expect(routed("webserver//", { event: { dataset: "nginx.access" } })).toBe(true);
    expect(routed("/aws/cloudtrail", { event: { dataset: "aws.cloudtrail" } })).toBe(true);
    expect(routed("/linux/auditd", { event: { module: "auditd", dataset: "auditd.log" } })).toBe(true);
    expect(routed("/linux/sshd", { event: { dataset: "system.auth" }, process: { name: "sshd" } })).toBe(true);
    expect(routed("/zeek/dns", { event: { dataset: "zeek.dns" } })).toBe(true);
    expect(routed("application/kubernetes/audit", { event: { dataset: "kubernetes.audit" } })).toBe(true);
    expect(routed("/linux/sshd", { event: { dataset: "nginx.access" } })).toBe(false);
  });
  it("events may carry their logsource (sigil.logsource) from the normalizer", () => {
    expect(routed("/cisco/aaa", { message: "x", sigil: { logsource: [{ product: "cisco", service: "aaa" }] } })).toBe(true);
  });
});
