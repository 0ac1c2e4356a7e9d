// docker-compose.yml for users with Docker. It cannot run here (no engine); when the docker client has
// the compose plugin, `docker compose config` validates it per profile, otherwise (and always) the YAML is
// checked: the services of each profile, the images at the versions the tests run, Kafka and
// Elasticsearch set up like `sigil services up` sets them up, role configs that pass `check-config`.
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { parse } from "yaml";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { readVersions, layout, resolveSettings } from "../../deploy/services/settings.ts";
import { kafkaProperties } from "../../deploy/services/kafka.ts";
import { esYaml } from "../../deploy/services/elasticsearch.ts";
import { checkConfig } from "../../platform/config/load.ts";
import { COMMANDS } from "../../cli/registry.ts";

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  profiles?: string[];
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  networks?: { default?: { aliases?: string[] } };
  healthcheck?: { test: string[] };
}

const FILE = path.join(PROJECT_ROOT, "docker-compose.yml");
const compose = parse(fs.readFileSync(FILE, "utf8"), { merge: true }) as { name: string; services: Record<string, Service>; volumes: Record<string, unknown> };
const versions = readVersions();
const inProfile = (p: string) => Object.entries(compose.services).filter(([, s]) => s.profiles?.includes(p));

const SECRETS = { ELASTIC_PASSWORD: "x".repeat(16), SIGIL_ES_PASSWORD: "y".repeat(16), SIGIL_KAFKA_PASSWORD: "z".repeat(16), SIGIL_METRICS_TOKEN: "t".repeat(16) };
const hasCompose = spawnSync("docker", ["compose", "version"], { encoding: "utf8" }).status === 0;

/** Broker settings `sigil services up` writes, as a map. */
function devBrokerProps(): Map<string, string> {
  const s = resolveSettings({ dir: path.join(PROJECT_ROOT, ".sigil", "compose-test-unused") });
  const l = layout(s);
  const text = kafkaProperties(s, l, { caFile: "/ca.pem", keystoreFile: "/ks.pem", passwordFile: "/pw", password: "pw" });
  return new Map(text.split("\n").filter((x) => x && !x.startsWith("#")).map((x) => [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)]));
}

/** apache/kafka maps KAFKA_A_B_C to a.b.c (and __ to _). */
const kafkaEnvName = (prop: string) => "KAFKA_" + prop.replace(/_/g, "__").replace(/\./g, "_").toUpperCase();

describe("docker-compose.yml", () => {
  it.skipIf(!hasCompose)("passes `docker compose config` in both profiles", () => {
    for (const profile of ["dev", "prod"]) {
      const r = spawnSync("docker", ["compose", "-f", FILE, "--profile", profile, "config", "--quiet"], { encoding: "utf8", env: { ...process.env, ...SECRETS } });
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it(`has the services of each profile${hasCompose ? "" : " (no `docker compose` plugin in this docker client: validated by parsing the YAML)"}`, () => {
    if (!hasCompose) console.info("docker-compose.yml: the docker client has no compose plugin; checked by parsing the YAML and its references");
    expect(compose.name).toBe("sigil");
    expect(inProfile("dev").map(([n]) => n).sort()).toEqual(["console", "correlate", "elasticsearch", "ingest", "kafka"]);
    expect(inProfile("prod").map(([n]) => n).sort()).toEqual(["console-tls", "correlate-tls", "elasticsearch-tls", "ingest-tls", "kafka-tls", "setup"]);
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.profiles?.length, `${name} belongs to a profile`).toBe(1);
      for (const dep of Object.keys(s.depends_on ?? {})) {
        expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(compose.services[dep].profiles, `${name} and ${dep} share a profile`).toEqual(s.profiles);
      }
      for (const v of s.volumes ?? []) {
        const src = v.split(":")[0];
        if (src.startsWith("./")) expect(fs.existsSync(path.join(PROJECT_ROOT, src)), `${name} mounts ${src}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name} uses volume ${src}`).toContain(src);
      }
    }
    // prod services answer under the dev names, so one config names kafka and elasticsearch
    expect(compose.services["kafka-tls"].networks?.default?.aliases).toContain("kafka");
    expect(compose.services["elasticsearch-tls"].networks?.default?.aliases).toContain("elasticsearch");
  });

  it("runs Kafka and Elasticsearch at the versions the tests run", () => {
    for (const n of ["kafka", "kafka-tls"]) expect(compose.services[n].image).toBe(`apache/kafka:${versions.kafka}`);
    for (const n of ["elasticsearch", "elasticsearch-tls"]) expect(compose.services[n].image).toBe(`docker.elastic.co/elasticsearch/elasticsearch:${versions.elasticsearch}`);
  });

  it("configures Kafka the way `sigil services up` does", () => {
    const props = devBrokerProps();
    const shared = [
      "process.roles",
      "node.id",
      "controller.listener.names",
      "offsets.topic.replication.factor",
      "offsets.topic.num.partitions",
      "transaction.state.log.replication.factor",
      "transaction.state.log.min.isr",
      "share.coordinator.state.topic.replication.factor",
      "share.coordinator.state.topic.min.isr",
      "group.initial.rebalance.delay.ms",
      "auto.create.topics.enable",
      "num.partitions",
      "delete.topic.enable",
    ];
    for (const n of ["kafka", "kafka-tls"]) {
      const env = compose.services[n].environment!;
      for (const key of shared) expect(String(env[kafkaEnvName(key)]), `${n}: ${key}`).toBe(props.get(key));
    }
    // the secured listener: SASL_SSL with PLAIN and PEM stores, as the test broker's SECURE listener
    const tls = compose.services["kafka-tls"].environment!;
    for (const key of ["sasl.enabled.mechanisms", "ssl.keystore.type", "ssl.truststore.type", "ssl.client.auth"]) expect(tls[kafkaEnvName(key)], key).toBe(props.get(key));
    expect(tls.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).toContain("SECURE:SASL_SSL");
    expect(props.get("listener.security.protocol.map")).toContain("SECURE:SASL_SSL");
    expect(tls.KAFKA_ADVERTISED_LISTENERS).not.toMatch(/SSL:\/\//); // the image would demand JKS keystores
    expect(tls.KAFKA_LISTENER_NAME_SECURE_PLAIN_SASL_JAAS_CONFIG).toMatch(/PlainLoginModule required user_sigil="\$\{SIGIL_KAFKA_PASSWORD/);
  });

  it("configures Elasticsearch the way `sigil services up` does", () => {
    const s = resolveSettings({ dir: path.join(PROJECT_ROOT, ".sigil", "compose-test-unused") });
    const yml = parse(esYaml(s, layout(s))) as Record<string, unknown>;
    for (const n of ["elasticsearch", "elasticsearch-tls"]) {
      const env = compose.services[n].environment!;
      for (const key of ["discovery.type", "cluster.routing.allocation.disk.threshold_enabled", "action.destructive_requires_name"]) expect(String(env[key]), `${n}: ${key}`).toBe(String(yml[key]));
    }
    expect(compose.services.elasticsearch.environment!["xpack.security.enabled"]).toBe("false");
    expect(compose.services["elasticsearch-tls"].environment!["xpack.security.enabled"]).toBe("true");
    expect(compose.services["elasticsearch-tls"].environment!["xpack.security.http.ssl.enabled"]).toBe("true");
  });

  it("starts each role from deploy/Dockerfile as `node bin/sigil.js <role>` with a valid config", () => {
    const dockerfile = fs.readFileSync(path.join(PROJECT_ROOT, "deploy", "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "bin\/sigil\.js"\]/);
    for (const [name, s] of Object.entries(compose.services)) {
      if (!s.build) continue;
      expect(s.build.dockerfile).toBe("deploy/Dockerfile");
      if (name === "setup") {
        expect(fs.existsSync(path.join(PROJECT_ROOT, s.entrypoint![s.entrypoint!.length - 1]))).toBe(true);
        continue;
      }
      const role = s.command![0];
      expect(["ingest", "correlate", "console"]).toContain(role);
      expect(COMMANDS[role], `the sigil command has a "${role}" role`).toBeDefined();
      const mount = s.volumes!.find((v) => v.endsWith(":/etc/sigil/sigil.yml:ro"))!;
      const file = path.join(PROJECT_ROOT, mount.split(":")[0]);
      expect(s.environment!.SIGIL_CONFIG).toBe("/etc/sigil/sigil.yml");
      const r = checkConfig({ file, env: {} });
      expect(r.problems.filter((p) => p.severity === "error"), `${file} is valid`).toEqual([]);
      expect(r.config!.bus.type).toBe("kafka");
      expect(r.config!.store.type).toBe("elasticsearch");
      if (s.profiles![0] === "prod") {
        expect(r.config!.bus.kafka.tls.enabled).toBe(true);
        expect(r.config!.bus.kafka.sasl.mechanism).toBe("plain");
        expect(r.config!.store.elasticsearch.node).toMatch(/^https:/);
        expect(r.config!.console.tls.enabled).toBe(true);
        expect(r.config!.ingest.http.tls.enabled).toBe(true);
        expect(r.config!.telemetry.metrics.tls.enabled).toBe(true);
        // every secret the config names comes from the environment compose passes
        for (const v of [r.config!.bus.kafka.sasl.password.env, r.config!.store.elasticsearch.password.env, r.config!.telemetry.metrics.token.env]) expect(Object.keys(s.environment!)).toContain(v);
      }
    }
  });

  it("keeps secrets out of the file: every password is an interpolated variable", () => {
    const text = fs.readFileSync(FILE, "utf8");
    const keys = [...text.matchAll(/^\s+([A-Z_]*(?:PASSWORD|TOKEN)[A-Z_]*):\s*(.*)$/gm)];
    expect(keys.length).toBeGreaterThan(4);
    for (const m of keys) expect(m[2], m[0]).toBe(`\${${m[1]}:-}`);
  });
});
