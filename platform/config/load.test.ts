import { describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkConfig, loadConfig } from "./load.ts";
import { SigilError } from "../errors.ts";

function tmpFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-config-"));
  const f = path.join(dir, "sigil.yml");
  fs.writeFileSync(f, text);
  return f;
}

describe("config", () => {
  it("starts with no file at all, from named defaults", () => {
    const c = loadConfig({ env: {} });
    expect(c.bus.type).toBe("memory");
    expect(c.store.type).toBe("embedded");
    expect(c.ingest.http.port).toBe(8088);
    expect(c.console.tls.min_version).toBe("TLSv1.3");
  });

  it("reads a YAML file and keeps defaults for what it leaves out", () => {
    const f = tmpFile("bus:\n  type: kafka\n  kafka:\n    brokers: [\"10.0.0.1:9092\"]\n");
    const c = loadConfig({ file: f, env: {} });
    expect(c.bus.type).toBe("kafka");
    expect(c.bus.kafka.brokers).toEqual(["10.0.0.1:9092"]);
    expect(c.bus.partitions).toBe(6);
  });

  it("rejects an unknown key with file, line, column, key and a suggestion", () => {
    const f = tmpFile("bus:\n  type: memory\n  partitons: 3\n");
    const r = checkConfig({ file: f, env: {} });
    expect(r.config).toBeNull();
    expect(r.problems).toHaveLength(1);
    const p = r.problems[0];
    expect(p.code).toBe("config_unknown_key");
    expect(p.location).toMatchObject({ file: f, line: 3, column: 3, key: "bus.partitons" });
    expect(p.hint).toContain("bus.partitions");
  });

  it("rejects a wrong type at the value's position", () => {
    const f = tmpFile("ingest:\n  http:\n    port: eighty\n");
    const r = checkConfig({ file: f, env: {} });
    expect(r.problems[0].code).toBe("config_bad_value");
    expect(r.problems[0].location).toMatchObject({ line: 3, column: 11, key: "ingest.http.port" });
  });

  it("reports YAML syntax errors and duplicate keys with positions", () => {
    const f = tmpFile("bus:\n  type: memory\n  type: kafka\n");
    const r = checkConfig({ file: f, env: {} });
    expect(r.problems[0].code).toBe("config_duplicate_key");
    expect(r.problems[0].location?.line).toBe(3);
  });

  it("applies SIGIL_ environment overrides over the file, with types", () => {
    const f = tmpFile("bus:\n  type: memory\n");
    const c = loadConfig({
      file: f,
      env: { SIGIL_BUS__TYPE: "kafka", SIGIL_BUS__KAFKA__BROKERS: "a:1,b:2", SIGIL_BUS__PARTITIONS: "12", SIGIL_DATA_DIR: "/var/lib/sigil", SIGIL_SHARED_DATA: "/x" },
    });
    expect(c.bus.type).toBe("kafka");
    expect(c.bus.kafka.brokers).toEqual(["a:1", "b:2"]);
    expect(c.bus.partitions).toBe(12);
    expect(c.data_dir).toBe("/var/lib/sigil");
  });

  it("names the environment variable when an override is wrong", () => {
    const r = checkConfig({ env: { SIGIL_BUS__PARTITIONS: "many" } });
    expect(r.problems[0].location?.source).toBe("environment SIGIL_BUS__PARTITIONS");
    const r2 = checkConfig({ env: { SIGIL_BUSS__TYPE: "kafka" } });
    expect(r2.problems[0].code).toBe("config_unknown_key");
  });

  it("throws a UsageError (exit 2) listing the problems", () => {
    const f = tmpFile("nope: 1\n");
    try {
      loadConfig({ file: f, env: {} });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SigilError);
      expect((err as SigilError).exitCode).toBe(2);
      expect((err as SigilError).code).toBe("config_unknown_key");
    }
  });

  it("reports an unreadable file", () => {
    const r = checkConfig({ file: "/nonexistent/sigil.yml", env: {} });
    expect(r.problems[0].code).toBe("config_file_unreadable");
  });
});
