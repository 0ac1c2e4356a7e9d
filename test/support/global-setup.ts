// Global setup of the integration project: makes sure a real Kafka broker and Elasticsearch node
// are running (`sigil services up`, idempotent: running ones are reused and left running), and hands
// their addresses to the tests as SIGIL_TEST_KAFKA_BROKERS and SIGIL_TEST_ES_URL (environment and
// inject()), plus the broker's TLS+SASL listener as SIGIL_TEST_KAFKA_TLS_BROKERS, SIGIL_TEST_KAFKA_TLS_CA,
// SIGIL_TEST_KAFKA_SASL_USER and SIGIL_TEST_KAFKA_SASL_PASSWORD_FILE. With SIGIL_TEST_SERVICES=external,
// uses the addresses already in those variables.
import type { TestProject } from "vitest/node";
import { SigilError, describeError } from "../../platform/errors.ts";
import { esUrl, kafkaAddress, resolveSettings, servicesUp } from "../../deploy/services/index.ts";
import { probeKafka } from "../../deploy/services/kafka.ts";
import { probeElasticsearch } from "../../deploy/services/elasticsearch.ts";

declare module "vitest" {
  export interface ProvidedContext {
    sigilKafkaBrokers: string;
    sigilEsUrl: string;
  }
}

async function external(): Promise<{ brokers: string; es: string }> {
  const brokers = process.env.SIGIL_TEST_KAFKA_BROKERS;
  const es = process.env.SIGIL_TEST_ES_URL;
  if (!brokers || !es) {
    throw new SigilError("test_services_missing", "SIGIL_TEST_SERVICES=external needs SIGIL_TEST_KAFKA_BROKERS (host:port,...) and SIGIL_TEST_ES_URL (http://host:port)", {
      hint: "set both, or unset SIGIL_TEST_SERVICES to let the tests start their own with `sigil services up`",
    });
  }
  const first = brokers.split(",")[0].trim();
  const [k, e] = await Promise.all([probeKafka(first, 10_000), probeElasticsearch(es.replace(/\/+$/, ""), 10_000)]);
  if (!k.ok) throw new SigilError("test_services_unreachable", `Kafka at ${first} (SIGIL_TEST_KAFKA_BROKERS) does not answer: ${k.detail}`, { location: { address: first } });
  if (!e.ok) throw new SigilError("test_services_unreachable", `Elasticsearch at ${es} (SIGIL_TEST_ES_URL) does not answer: ${e.detail}`, { location: { address: es } });
  return { brokers, es: es.replace(/\/+$/, "") };
}

export default async function setup(project: TestProject): Promise<void> {
  let addresses: { brokers: string; es: string };
  try {
    if (process.env.SIGIL_TEST_SERVICES === "external") addresses = await external();
    else {
      // the store at normal priority unless asked otherwise: the suite keeps both cores busy with its own
      // processes, and its waits on the store are written for a store that gets its share (decision 0026)
      const settings = resolveSettings({ esNiceDefault: 0 });
      const t0 = Date.now();
      const reports = await servicesUp(settings, { progress: (line) => process.stderr.write(`services: ${line}\n`) });
      const secure = reports.find((r) => r.name === "kafka")?.secure;
      if (secure) {
        // The broker's TLS + SASL PLAIN listener, for tests of secured clients.
        process.env.SIGIL_TEST_KAFKA_TLS_BROKERS = secure.address;
        process.env.SIGIL_TEST_KAFKA_TLS_CA = secure.caFile;
        process.env.SIGIL_TEST_KAFKA_SASL_USER = secure.username;
        process.env.SIGIL_TEST_KAFKA_SASL_PASSWORD_FILE = secure.passwordFile;
      }
      const started = reports.filter((r) => r.action === "started").map((r) => r.name);
      if (started.length) process.stderr.write(`services: started ${started.join(" and ")} for the tests in ${((Date.now() - t0) / 1000).toFixed(1)} s; left running (stop with \`npm run services down\`)\n`);
      addresses = { brokers: kafkaAddress(settings), es: esUrl(settings) };
    }
  } catch (err) {
    // One clear paragraph instead of a stack trace: the integration tests cannot run without them.
    throw new Error(`integration tests need Kafka and Elasticsearch: ${describeError(err)}`);
  }
  process.env.SIGIL_TEST_KAFKA_BROKERS = addresses.brokers;
  process.env.SIGIL_TEST_ES_URL = addresses.es;
  project.provide("sigilKafkaBrokers", addresses.brokers);
  project.provide("sigilEsUrl", addresses.es);
}
