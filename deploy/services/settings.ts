// Where `sigil services` keeps things and which ports and versions it uses. The versions come from
// deploy/services/pom.xml (the one place they are written), ports and folders from flags or the
// environment, falling back to the ports recorded by the last `up` and then to the defaults.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../../platform/errors.ts";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const POM_FILE = path.join(PROJECT_ROOT, "deploy", "services", "pom.xml");

export const SERVICE_NAMES = ["kafka", "elasticsearch"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Loopback only: these are development and test services without authentication. */
export const HOST = "127.0.0.1";

export const DEFAULT_PORTS = {
  kafka: 19092,
  controller: 19093,
  /** SASL_SSL listener (TLS with a development CA, SASL PLAIN user "sigil"), for testing secured clients. */
  kafkaTls: 19094,
  elasticsearch: 19200,
  transport: 19300,
} as const;
export type PortName = keyof typeof DEFAULT_PORTS;

export const PORT_ENV: Record<PortName, string> = {
  kafka: "SIGIL_SERVICES_KAFKA_PORT",
  controller: "SIGIL_SERVICES_CONTROLLER_PORT",
  kafkaTls: "SIGIL_SERVICES_KAFKA_TLS_PORT",
  elasticsearch: "SIGIL_SERVICES_ES_PORT",
  transport: "SIGIL_SERVICES_ES_TRANSPORT_PORT",
};

/** What each port is for, in messages. */
export const PORT_ROLE: Record<PortName, string> = {
  kafka: "Kafka broker",
  controller: "Kafka controller",
  kafkaTls: "Kafka broker TLS+SASL",
  elasticsearch: "Elasticsearch HTTP",
  transport: "Elasticsearch transport",
};

export const PORT_FLAG: Record<PortName, string> = {
  kafka: "kafka-port",
  controller: "controller-port",
  kafkaTls: "kafka-tls-port",
  elasticsearch: "es-port",
  transport: "es-transport-port",
};

export interface Versions {
  kafka: string;
  elasticsearch: string;
  log4j: string;
}

export interface ServicesSettings {
  /** Root of everything the services write: downloads, libraries, data, logs, pids (git-ignored). */
  dir: string;
  ports: Record<PortName, number>;
  versions: Versions;
  /** Java heap sizes, e.g. "512m". */
  kafkaHeap: string;
  esHeap: string;
  /** Unprivileged user Elasticsearch runs as when we are root. */
  esUser: string;
  /**
   * Scheduling priority (nice, 0-19) Elasticsearch runs at, for machines it shares with the pipeline's
   * roles (decision 0022). 0 (the default) leaves it unchanged.
   */
  esNice: number;
  /** Seconds to wait for each service to become ready. */
  readyTimeoutSec: number;
}

let cachedVersions: Versions | null = null;

/** Reads the pinned versions from the pom, so they are written in one place only. */
export function readVersions(pomFile: string = POM_FILE): Versions {
  if (cachedVersions && pomFile === POM_FILE) return cachedVersions;
  const text = fs.readFileSync(pomFile, "utf8");
  const prop = (name: string): string => {
    const m = new RegExp(`<${name.replace(/\./g, "\\.")}>([^<]+)</`).exec(text);
    if (!m) throw new UsageError("services_pom_invalid", `property <${name}> is missing`, { location: { file: pomFile } });
    return m[1].trim();
  };
  const v = { kafka: prop("kafka.version"), elasticsearch: prop("elasticsearch.version"), log4j: prop("log4j.version") };
  if (pomFile === POM_FILE) cachedVersions = v;
  return v;
}

export interface SettingsInput {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Explicit values (from command-line flags); win over the environment. */
  dir?: string;
  ports?: Partial<Record<PortName, number | string>>;
  /**
   * start (`up`): the ports wanted win over where the services ran last (flags, environment, recorded, defaults).
   * inspect (`status`, `down`): where they run wins over the environment (flags, recorded, environment, defaults).
   */
  intent?: "start" | "inspect";
  /** Elasticsearch's nice value when SIGIL_SERVICES_ES_NICE is not set (default DEFAULT_ES_NICE; the test suites use 0). */
  esNiceDefault?: number;
}

/** The recorded ports of the last `up`, so `status` and `down` find services started with other ports. */
export function stateFile(dir: string): string {
  return path.join(dir, "state.json");
}

export interface RecordedState {
  ports?: Partial<Record<PortName, number>>;
  kafka?: { version: string; pid: number; clusterId?: string; startedAt: string };
  elasticsearch?: { version: string; pid: number; startedAt: string };
}

export function readState(dir: string): RecordedState {
  try {
    const parsed = JSON.parse(fs.readFileSync(stateFile(dir), "utf8")) as unknown;
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as RecordedState) : {};
  } catch {
    return {};
  }
}

export function writeState(dir: string, state: RecordedState): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${stateFile(dir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  fs.renameSync(tmp, stateFile(dir));
}

function parsePort(value: number | string, what: string): number {
  const n = typeof value === "number" ? value : /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new UsageError("services_bad_port", `${what}: "${value}" is not a TCP port (1-65535)`, { hint: "give a number such as 19092" });
  }
  return n;
}

/** Elasticsearch's nice value (and its session group's) when SIGIL_SERVICES_ES_NICE is not set (decision 0026). */
export const DEFAULT_ES_NICE = 10;

/** Resolves folders, ports and versions from flags, SIGIL_SERVICES_* variables, the last run and defaults (see `intent`). */
export function resolveSettings(input: SettingsInput = {}): ServicesSettings {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const dir = path.resolve(cwd, input.dir ?? env.SIGIL_SERVICES_DIR ?? path.join(PROJECT_ROOT, ".sigil", "services"));
  const recorded = readState(dir).ports ?? {};
  const ports = {} as Record<PortName, number>;
  for (const name of Object.keys(DEFAULT_PORTS) as PortName[]) {
    const flag = input.ports?.[name];
    const fromEnv = env[PORT_ENV[name]];
    const envPort = fromEnv !== undefined && fromEnv !== "" ? parsePort(fromEnv, PORT_ENV[name]) : undefined;
    if (flag !== undefined) ports[name] = parsePort(flag, `--${PORT_FLAG[name]}`);
    else if (input.intent === "inspect") ports[name] = recorded[name] ?? envPort ?? DEFAULT_PORTS[name];
    else ports[name] = envPort ?? recorded[name] ?? DEFAULT_PORTS[name];
  }
  const seen = new Map<number, PortName>();
  for (const [name, port] of Object.entries(ports) as [PortName, number][]) {
    const other = seen.get(port);
    if (other) throw new UsageError("services_bad_port", `the ${PORT_ROLE[other]} and the ${PORT_ROLE[name]} cannot share port ${port}`, { hint: "give each service its own port" });
    seen.set(port, name);
  }
  const heap = (v: string | undefined, fallback: string, what: string): string => {
    if (v === undefined || v === "") return fallback;
    if (!/^\d+[mg]$/i.test(v)) throw new UsageError("services_bad_heap", `${what}: "${v}" is not a Java heap size`, { hint: "use e.g. 512m or 1g" });
    return v;
  };
  const timeout = env.SIGIL_SERVICES_READY_TIMEOUT;
  const niceEnv = env.SIGIL_SERVICES_ES_NICE;
  if (niceEnv !== undefined && niceEnv !== "" && !(/^\d+$/.test(niceEnv) && Number(niceEnv) <= 19))
    throw new UsageError("services_bad_nice", `SIGIL_SERVICES_ES_NICE: "${niceEnv}" is not a nice value`, { hint: "use a whole number from 0 (normal priority) to 19 (lowest)" });
  return {
    dir,
    ports,
    versions: readVersions(),
    kafkaHeap: heap(env.SIGIL_SERVICES_KAFKA_HEAP, "512m", "SIGIL_SERVICES_KAFKA_HEAP"),
    esHeap: heap(env.SIGIL_SERVICES_ES_HEAP, "512m", "SIGIL_SERVICES_ES_HEAP"),
    esUser: env.SIGIL_SERVICES_ES_USER || "sigil-es",
    // below the pipeline's roles by default: on a machine they share, detection and alerts get the CPU first (decision 0026)
    esNice: niceEnv !== undefined && niceEnv !== "" ? Number(niceEnv) : (input.esNiceDefault ?? DEFAULT_ES_NICE),
    readyTimeoutSec: timeout && /^\d+$/.test(timeout) ? Number(timeout) : 240,
  };
}

export const kafkaAddress = (s: ServicesSettings): string => `${HOST}:${s.ports.kafka}`;
export const kafkaTlsAddress = (s: ServicesSettings): string => `${HOST}:${s.ports.kafkaTls}`;
export const esUrl = (s: ServicesSettings): string => `http://${HOST}:${s.ports.elasticsearch}`;

/** Folder layout under the services folder. */
export function layout(s: ServicesSettings) {
  const d = s.dir;
  return {
    downloads: path.join(d, "downloads"),
    mavenTarget: path.join(d, "maven-target"),
    kafkaLibs: path.join(d, `kafka-${s.versions.kafka}`, "libs"),
    kafkaHome: path.join(d, "kafka"),
    kafkaData: path.join(d, "kafka", "data"),
    kafkaLogs: path.join(d, "kafka", "logs"),
    kafkaProps: path.join(d, "kafka", "server.properties"),
    kafkaLog4j: path.join(d, "kafka", "log4j2.properties"),
    kafkaPid: path.join(d, "kafka", "kafka.pid"),
    /** Development CA, broker certificate (PEM keystore) and the SASL password of user "sigil". */
    kafkaTls: path.join(d, "kafka", "tls"),
    esZip: path.join(d, "downloads", `elasticsearch-${s.versions.elasticsearch}.zip`),
    esInstall: path.join(d, `elasticsearch-${s.versions.elasticsearch}`),
    esHome: path.join(d, "elasticsearch"),
    esConfig: path.join(d, "elasticsearch", "config"),
    esData: path.join(d, "elasticsearch", "data"),
    esLogs: path.join(d, "elasticsearch", "logs"),
    esPid: path.join(d, "elasticsearch", "es.pid"),
    lock: path.join(d, ".lock"),
  };
}
export type Layout = ReturnType<typeof layout>;
