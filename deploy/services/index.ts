// `sigil services up|down|status`: a real Kafka broker and Elasticsearch node on loopback for
// development and tests, fetched from Maven Central, kept in a git-ignored folder. `up` is
// idempotent (reuses what runs), waits for real readiness, and explains a taken port.

import fs from "node:fs";
import path from "node:path";
import { SigilError } from "../../platform/errors.ts";
import { ensureFetched, type Progress } from "./fetch.ts";
import { ensureKafkaTls, kafkaConfigChanged, kafkaProperties, managedKafkaPid, probeKafka, startKafka, stopKafka, waitKafkaReady } from "./kafka.ts";
import { esConfigChanged, esYaml, managedEsPid, probeElasticsearch, startElasticsearch, stopElasticsearch, waitEsReady } from "./elasticsearch.ts";
import { cmdline, portFree, portHolder, shortCommand, sleep, withLock } from "./proc.ts";
import {
  HOST,
  PORT_ENV,
  PORT_FLAG,
  PORT_ROLE,
  SERVICE_NAMES,
  esUrl,
  kafkaAddress,
  kafkaTlsAddress,
  layout,
  readState,
  writeState,
  type Layout,
  type PortName,
  type ServiceName,
  type ServicesSettings,
} from "./settings.ts";

export { resolveSettings, SERVICE_NAMES, kafkaAddress, esUrl, type ServicesSettings, type ServiceName } from "./settings.ts";

export interface ServiceReport {
  name: ServiceName;
  healthy: boolean;
  /** Version of the engine; null when it cannot be told (a broker this folder did not start). */
  version: string | null;
  /** Address clients use: "127.0.0.1:19092" (Kafka) or "http://127.0.0.1:19200" (Elasticsearch). */
  address: string;
  pid: number | null;
  /** Started from this services folder (so `down` may stop it). */
  managed: boolean;
  action: "started" | "reused" | "stopped" | "killed" | "not-running" | "left-alone" | "checked";
  detail: string;
  /** Kafka only: the TLS + SASL PLAIN listener, its CA and credentials, for testing secured clients. */
  secure?: { address: string; caFile: string; username: string; passwordFile: string };
}

function kafkaSecure(s: ServicesSettings, l: Layout): ServiceReport["secure"] {
  return { address: kafkaTlsAddress(s), caFile: path.join(l.kafkaTls, "ca.pem"), username: "sigil", passwordFile: path.join(l.kafkaTls, "sasl-password") };
}

export interface ServicesOptions {
  only?: ServiceName[];
  progress?: Progress;
}

const PORTS_OF: Record<ServiceName, PortName[]> = { kafka: ["kafka", "controller", "kafkaTls"], elasticsearch: ["elasticsearch", "transport"] };

const addressOf = (s: ServicesSettings, name: ServiceName) => (name === "kafka" ? kafkaAddress(s) : esUrl(s));

function kafkaVersionOf(pid: number | null, fallback: string): string {
  if (pid === null) return fallback;
  return /kafka-([0-9][^/]*)\/libs/.exec(cmdline(pid))?.[1] ?? fallback;
}

async function checkPortsFree(s: ServicesSettings, name: ServiceName): Promise<void> {
  for (const p of PORTS_OF[name]) {
    const port = s.ports[p];
    if (await portFree(port, HOST)) continue;
    const holder = portHolder(port);
    const who = holder ? (holder.pid ? `pid ${holder.pid} (${shortCommand(holder.command)})` : holder.command) : "another process";
    throw new SigilError("services_port_in_use", `cannot start ${name}: port ${port} (${PORT_ROLE[p]}) on ${HOST} is already taken by ${who}`, {
      location: { address: `${HOST}:${port}` },
      hint: `stop that process, or pick another port: --${PORT_FLAG[p]} <port> (or ${PORT_ENV[p]}=<port>)`,
    });
  }
}

/** Starts whatever is not running yet and waits until both answer; reuses running ones. */
export async function servicesUp(s: ServicesSettings, opts: ServicesOptions = {}): Promise<ServiceReport[]> {
  const progress = opts.progress ?? (() => {});
  const wanted = opts.only?.length ? opts.only : [...SERVICE_NAMES];
  const l = layout(s);
  fs.mkdirSync(s.dir, { recursive: true });
  return withLock(l.lock, "services up", (pid) => progress(`waiting for another \`sigil services\` (pid ${pid}) to finish`), async () => {
    const running = new Map<ServiceName, number>();
    const kafkaProps = wanted.includes("kafka") ? kafkaProperties(s, l, await ensureKafkaTls(l)) : "";
    for (const name of wanted) {
      let pid = name === "kafka" ? managedKafkaPid(s, l) : managedEsPid(s, l);
      // A running service started with other settings (ports, listeners: a newer Sigil) is restarted with these.
      if (pid !== null && (name === "kafka" ? kafkaConfigChanged(l, kafkaProps) : esConfigChanged(l, esYaml(s, l)))) {
        progress(`restarting ${name} (pid ${pid}): its settings changed`);
        await (name === "kafka" ? stopKafka(pid) : stopElasticsearch(pid));
        for (const p of PORTS_OF[name]) for (let i = 0; i < 100 && !(await portFree(s.ports[p], HOST)); i++) await sleep(100);
        pid = null;
      }
      if (pid !== null) running.set(name, pid);
      else await checkPortsFree(s, name);
    }
    const toStart = wanted.filter((n) => !running.has(n));
    if (toStart.length) await ensureFetched(s, l, progress, toStart);
    const state = readState(s.dir);
    state.ports = { ...state.ports, ...s.ports };
    const reports = await Promise.all(wanted.map((name) => bringUp(name, s, l, running.get(name) ?? null, state, progress, kafkaProps)));
    writeState(s.dir, state);
    return reports;
  });
}

async function bringUp(
  name: ServiceName,
  s: ServicesSettings,
  l: Layout,
  existing: number | null,
  state: ReturnType<typeof readState>,
  progress: Progress,
  kafkaProps: string,
): Promise<ServiceReport> {
  const started = Date.now();
  if (name === "kafka") {
    let pid = existing;
    if (pid === null) {
      progress(`starting Kafka ${s.versions.kafka} on ${kafkaAddress(s)} (TLS+SASL ${HOST}:${s.ports.kafkaTls}, controller ${HOST}:${s.ports.controller})`);
      const r = startKafka(s, l, kafkaProps);
      pid = r.pid;
      state.kafka = { version: s.versions.kafka, pid, clusterId: r.clusterId, startedAt: new Date().toISOString() };
    }
    const probe = await waitKafkaReady(s, l, pid);
    const version = kafkaVersionOf(pid, s.versions.kafka);
    if (existing === null) progress(`Kafka is ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return { name, healthy: true, version, address: kafkaAddress(s), pid, managed: true, action: existing === null ? "started" : "reused", detail: probe.detail, secure: kafkaSecure(s, l) };
  }
  let pid = existing;
  if (pid === null) {
    progress(`starting Elasticsearch ${s.versions.elasticsearch} on ${esUrl(s)}`);
    pid = await startElasticsearch(s, l, progress);
    state.elasticsearch = { version: s.versions.elasticsearch, pid, startedAt: new Date().toISOString() };
  }
  const probe = await waitEsReady(s, l, pid);
  if (existing === null) progress(`Elasticsearch is ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return { name, healthy: true, version: probe.version ?? null, address: esUrl(s), pid, managed: true, action: existing === null ? "started" : "reused", detail: probe.detail };
}

/** Probes both services where the settings say they are; healthy means they answer as they should. */
export async function servicesStatus(s: ServicesSettings, opts: ServicesOptions = {}): Promise<ServiceReport[]> {
  const wanted = opts.only?.length ? opts.only : [...SERVICE_NAMES];
  const l = layout(s);
  return Promise.all(
    wanted.map(async (name): Promise<ServiceReport> => {
      if (name === "kafka") {
        const pid = managedKafkaPid(s, l);
        const probe = await probeKafka(kafkaAddress(s));
        return {
          name,
          healthy: probe.ok,
          version: pid !== null ? kafkaVersionOf(pid, s.versions.kafka) : null,
          address: kafkaAddress(s),
          pid,
          managed: pid !== null,
          action: "checked",
          detail: probe.ok ? probe.detail : `unreachable at ${kafkaAddress(s)}: ${probe.detail}`,
          secure: pid !== null ? kafkaSecure(s, l) : undefined,
        };
      }
      const pid = managedEsPid(s, l);
      const probe = await probeElasticsearch(esUrl(s));
      return {
        name,
        healthy: probe.ok,
        version: probe.version ?? null,
        address: esUrl(s),
        pid,
        managed: pid !== null,
        action: "checked",
        detail: probe.ok ? probe.detail : `unreachable at ${esUrl(s)}: ${probe.detail}`,
      };
    }),
  );
}

/** Stops the services this folder started (never anything else); `purge` also deletes their data. */
export async function servicesDown(s: ServicesSettings, opts: ServicesOptions & { purge?: boolean } = {}): Promise<ServiceReport[]> {
  const progress = opts.progress ?? (() => {});
  const wanted = opts.only?.length ? opts.only : [...SERVICE_NAMES];
  const l = layout(s);
  if (!fs.existsSync(s.dir)) {
    return wanted.map((name) => ({ name, healthy: false, version: null, address: addressOf(s, name), pid: null, managed: false, action: "not-running", detail: "never started here" }));
  }
  return withLock(l.lock, "services down", (pid) => progress(`waiting for another \`sigil services\` (pid ${pid}) to finish`), async () => {
    const reports = await Promise.all(
      wanted.map(async (name): Promise<ServiceReport> => {
        const pid = name === "kafka" ? managedKafkaPid(s, l) : managedEsPid(s, l);
        const address = addressOf(s, name);
        if (pid === null) {
          const port = name === "kafka" ? s.ports.kafka : s.ports.elasticsearch;
          const holder = (await portFree(port, HOST)) ? null : portHolder(port);
          if (holder) {
            return { name, healthy: false, version: null, address, pid: holder.pid, managed: false, action: "left-alone", detail: `port ${port} is held by a process this folder did not start${holder.pid ? ` (pid ${holder.pid})` : ""}; left alone` };
          }
          return { name, healthy: false, version: null, address, pid: null, managed: false, action: "not-running", detail: "not running" };
        }
        progress(`stopping ${name} (pid ${pid})`);
        const how = name === "kafka" ? await stopKafka(pid) : await stopElasticsearch(pid);
        // The process is gone once its sockets are: wait for the ports so a following `up` finds them free.
        for (const p of PORTS_OF[name]) {
          for (let i = 0; i < 100 && !(await portFree(s.ports[p], HOST)); i++) await sleep(100);
        }
        return { name, healthy: false, version: null, address, pid, managed: true, action: how, detail: how === "killed" ? "did not stop within 60 s; killed" : "stopped" };
      }),
    );
    if (opts.purge) {
      for (const name of wanted) {
        const dir = name === "kafka" ? l.kafkaHome : l.esHome;
        progress(`deleting ${dir}`);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    return reports;
  });
}

/** One line per service for people. */
export function formatReport(r: ServiceReport): string {
  const state = r.healthy ? "healthy" : r.action === "stopped" || r.action === "killed" ? r.action : r.action === "left-alone" ? "left alone" : "down";
  const version = r.version ?? (r.healthy ? "(version unknown: not started by sigil)" : "-");
  const notes = [r.action === "started" ? "started" : r.action === "reused" ? "already running" : "", r.pid !== null ? `pid ${r.pid}` : ""];
  if (!r.healthy && r.action !== "stopped") notes.push(r.detail);
  return `${r.name.padEnd(14)}  ${state.padEnd(10)}  ${version.padEnd(8)}  ${r.address.padEnd(24)}  ${notes.filter(Boolean).join(", ")}`.trimEnd();
}
