// The chaos suite's own Kafka broker and Elasticsearch node: started through the `sigil services`
// programmatic API in a separate folder on separate ports, so stopping them for a scenario never takes
// the shared development services away from colleagues' test runs. The engines' libraries are linked
// from the shared services folder when it has them (no second download).

import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT, resolveSettings, type ServicesSettings } from "../../../deploy/services/settings.ts";
import { esUrl, kafkaAddress, servicesDown, servicesUp, type ServiceName } from "../../../deploy/services/index.ts";

export interface ChaosServices {
  settings: ServicesSettings;
  brokers: string[];
  esUrl: string;
  stop(name: ServiceName): Promise<void>;
  start(name: ServiceName): Promise<void>;
  /** Stops both (CI) unless SIGIL_CHAOS_KEEP_SERVICES=1 (faster reruns during development). */
  shutdown(): Promise<void>;
}

const env = process.env;
const num = (v: string | undefined, d: number) => (v && /^\d+$/.test(v) ? Number(v) : d);

function linkShared(s: ServicesSettings): void {
  const shared = path.resolve(env.SIGIL_SERVICES_DIR ?? path.join(PROJECT_ROOT, ".sigil", "services"));
  if (path.resolve(s.dir) === shared) return;
  fs.mkdirSync(s.dir, { recursive: true });
  for (const name of [`kafka-${s.versions.kafka}`, `elasticsearch-${s.versions.elasticsearch}`]) {
    const from = path.join(shared, name);
    const to = path.join(s.dir, name);
    if (!fs.existsSync(to) && fs.existsSync(from)) fs.symlinkSync(from, to, "dir");
  }
}

/** Starts (or reuses) the chaos services and returns handles to stop and start each. */
export async function chaosServices(log: (line: string) => void): Promise<ChaosServices> {
  const settings = resolveSettings({
    // the store at normal priority unless asked otherwise, as for the rest of the suite (decision 0026)
    env: { SIGIL_SERVICES_ES_NICE: env.SIGIL_SERVICES_ES_NICE },
    esNiceDefault: 0,
    dir: env.SIGIL_CHAOS_SERVICES_DIR ?? path.join(PROJECT_ROOT, ".sigil", "chaos-services"),
    ports: {
      kafka: num(env.SIGIL_CHAOS_KAFKA_PORT, 29092),
      controller: num(env.SIGIL_CHAOS_CONTROLLER_PORT, 29093),
      kafkaTls: num(env.SIGIL_CHAOS_KAFKA_TLS_PORT, 29094),
      elasticsearch: num(env.SIGIL_CHAOS_ES_PORT, 29200),
      transport: num(env.SIGIL_CHAOS_ES_TRANSPORT_PORT, 29300),
    },
    intent: "start",
  });
  // the ES user and heap follow the shared settings' environment (SIGIL_SERVICES_ES_USER, heaps)
  const shared = resolveSettings();
  settings.esUser = shared.esUser;
  settings.kafkaHeap = env.SIGIL_CHAOS_KAFKA_HEAP ?? "384m";
  settings.esHeap = env.SIGIL_CHAOS_ES_HEAP ?? "512m";
  linkShared(settings);
  const progress = (line: string) => log(`chaos services: ${line}`);
  await servicesUp(settings, { progress });
  return {
    settings,
    brokers: [kafkaAddress(settings)],
    esUrl: esUrl(settings),
    async stop(name) {
      await servicesDown(settings, { only: [name], progress });
    },
    async start(name) {
      await servicesUp(settings, { only: [name], progress });
    },
    async shutdown() {
      if (env.SIGIL_CHAOS_KEEP_SERVICES === "1") return;
      await servicesDown(settings, { progress });
    },
  };
}
