// Addresses of the real Kafka and Elasticsearch the integration tests use, and per-file isolation:
// each test file gets its own topic prefix and index prefix, and can delete what it created.
import path from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { inject } from "vitest";
import kafkajs from "kafkajs";

const { Kafka, logLevel } = kafkajs;

/** Kafka bootstrap brokers ("host:port,...") from the global setup. */
export function testKafkaBrokers(): string[] {
  const v = process.env.SIGIL_TEST_KAFKA_BROKERS || inject("sigilKafkaBrokers");
  if (!v) throw new Error("SIGIL_TEST_KAFKA_BROKERS is not set: run integration tests through vitest's integration project (its global setup starts the services)");
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Elasticsearch URL ("http://host:port") from the global setup. */
export function testEsUrl(): string {
  const v = process.env.SIGIL_TEST_ES_URL || inject("sigilEsUrl");
  if (!v) throw new Error("SIGIL_TEST_ES_URL is not set: run integration tests through vitest's integration project (its global setup starts the services)");
  return v.replace(/\/+$/, "");
}

export interface TestIsolation {
  /** Unique per call: "sigil-test-<file>-<random>-"; valid as a Kafka topic prefix and an ES index prefix. */
  prefix: string;
  topicPrefix: string;
  indexPrefix: string;
  kafkaBrokers: string[];
  esUrl: string;
  /** Deletes the topics, indices and index templates that carry the prefix (best effort). */
  cleanup(): Promise<void>;
}

/**
 * A unique topic and index prefix for one test file: `const iso = testIsolation(import.meta.url)`.
 * Kafka topic names allow [a-zA-Z0-9._-]; ES index names must be lowercase: the prefix is both.
 */
export function testIsolation(fileUrl: string): TestIsolation {
  const base = path.basename(fileURLToPath(fileUrl)).replace(/\.test\.ts$|\.ts$/, "");
  const slug = base.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "test";
  const prefix = `sigil-test-${slug}-${randomBytes(4).toString("hex")}-`;
  const kafkaBrokers = testKafkaBrokers();
  const esUrl = testEsUrl();
  return {
    prefix,
    topicPrefix: prefix,
    indexPrefix: prefix,
    kafkaBrokers,
    esUrl,
    cleanup: () => cleanupPrefix(prefix, kafkaBrokers, esUrl),
  };
}

async function cleanupPrefix(prefix: string, brokers: string[], esUrl: string): Promise<void> {
  const kafka = new Kafka({ clientId: "sigil-test-cleanup", brokers, logLevel: logLevel.NOTHING, retry: { retries: 2 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
  } catch {
    // best effort: a leftover topic costs disk on the dev broker, not correctness
  } finally {
    await admin.disconnect().catch(() => {});
  }
  try {
    const res = await fetch(`${esUrl}/_cat/indices/${prefix}*?format=json&h=index&expand_wildcards=all`, { signal: AbortSignal.timeout(10_000) });
    const rows = res.ok ? ((await res.json()) as { index: string }[]) : [];
    const names = rows.map((r) => r.index).filter((n) => n.startsWith(prefix));
    for (let i = 0; i < names.length; i += 50) {
      await fetch(`${esUrl}/${names.slice(i, i + 50).join(",")}`, { method: "DELETE", signal: AbortSignal.timeout(30_000) });
    }
    const tpl = await fetch(`${esUrl}/_index_template/${prefix}*`, { signal: AbortSignal.timeout(10_000) });
    const templates = tpl.ok ? ((await tpl.json()) as { index_templates?: { name: string }[] }).index_templates ?? [] : [];
    for (const t of templates) if (t.name.startsWith(prefix)) await fetch(`${esUrl}/_index_template/${t.name}`, { method: "DELETE", signal: AbortSignal.timeout(10_000) });
  } catch {
    // best effort, as above
  }
}

export interface TestKafkaTls {
  brokers: string[];
  caFile: string;
  username: string;
  passwordFile: string;
}

/** The test broker's TLS + SASL PLAIN listener, or null (with SIGIL_TEST_SERVICES=external and no SIGIL_TEST_KAFKA_TLS_* set). */
export function testKafkaTls(): TestKafkaTls | null {
  const e = process.env;
  if (!e.SIGIL_TEST_KAFKA_TLS_BROKERS || !e.SIGIL_TEST_KAFKA_TLS_CA || !e.SIGIL_TEST_KAFKA_SASL_PASSWORD_FILE) return null;
  return {
    brokers: e.SIGIL_TEST_KAFKA_TLS_BROKERS.split(",").map((s) => s.trim()),
    caFile: e.SIGIL_TEST_KAFKA_TLS_CA,
    username: e.SIGIL_TEST_KAFKA_SASL_USER || "sigil",
    passwordFile: e.SIGIL_TEST_KAFKA_SASL_PASSWORD_FILE,
  };
}

export const KAFKA_TLS_MISSING = "no Kafka TLS listener: set SIGIL_TEST_KAFKA_TLS_BROKERS, SIGIL_TEST_KAFKA_TLS_CA and SIGIL_TEST_KAFKA_SASL_PASSWORD_FILE (the global setup does when it starts the services)";
