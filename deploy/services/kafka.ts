// The local Kafka broker: one KRaft node (broker and controller in one process) on loopback,
// run from the Maven-fetched libraries, with readiness checked through kafkajs (ApiVersions,
// metadata, and a group coordinator that answers), never by sleeping.

import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { spawn, spawnSync } from "node:child_process";
import kafkajs from "kafkajs";
import { SigilError } from "../../platform/errors.ts";
import { javaHome } from "./fetch.ts";
import { cmdline, pidAlive, portHolder, readPid, sleep, stopPid, tail } from "./proc.ts";
import { HOST, kafkaAddress, type Layout, type ServicesSettings } from "./settings.ts";

const { Kafka, logLevel } = kafkajs;

/** The broker's TLS material and SASL password (created once, kept across restarts). */
export interface KafkaTls {
  caFile: string;
  keystoreFile: string;
  passwordFile: string;
  password: string;
}

/** Creates the development CA, the broker's PEM keystore (key + certificate) and the SASL password, once. */
export async function ensureKafkaTls(l: Layout): Promise<KafkaTls> {
  const caFile = path.join(l.kafkaTls, "ca.pem");
  const keystoreFile = path.join(l.kafkaTls, "keystore.pem");
  const passwordFile = path.join(l.kafkaTls, "sasl-password");
  if (!fs.existsSync(keystoreFile) || !fs.existsSync(caFile)) {
    const { createDevCerts } = await import("../../platform/security/certs.ts");
    const files = await createDevCerts(l.kafkaTls, { hosts: ["localhost", "127.0.0.1"], clientName: "sigil" });
    fs.writeFileSync(keystoreFile, fs.readFileSync(files.serverKey, "utf8") + fs.readFileSync(files.serverCert, "utf8"), { mode: 0o600 });
  }
  if (!fs.existsSync(passwordFile)) fs.writeFileSync(passwordFile, randomBytes(18).toString("base64url") + "\n", { mode: 0o600 });
  return { caFile, keystoreFile, passwordFile, password: fs.readFileSync(passwordFile, "utf8").trim() };
}

export function kafkaProperties(s: ServicesSettings, l: Layout, tls: KafkaTls): string {
  return [
    "# Written by `sigil services up`; edits are overwritten. Single KRaft node on loopback for development and tests.",
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@${HOST}:${s.ports.controller}`,
    // SECURE is SASL_SSL (TLS with the development CA in tls/, SASL PLAIN user "sigil"); the listener is
    // named so because the apache/kafka image treats names containing "SSL://" as JKS keystores.
    `listeners=PLAINTEXT://${HOST}:${s.ports.kafka},CONTROLLER://${HOST}:${s.ports.controller},SECURE://${HOST}:${s.ports.kafkaTls}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${s.ports.kafka},SECURE://${HOST}:${s.ports.kafkaTls}`,
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SECURE:SASL_SSL",
    "sasl.enabled.mechanisms=PLAIN",
    `listener.name.secure.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_sigil="${tls.password}";`,
    "ssl.keystore.type=PEM",
    `ssl.keystore.location=${tls.keystoreFile}`,
    "ssl.truststore.type=PEM",
    `ssl.truststore.location=${tls.caFile}`,
    "ssl.client.auth=none",
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    `log.dirs=${l.kafkaData}`,
    // One node: every internal topic must have replication factor 1, or groups never get a coordinator.
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=10",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
    // Sigil creates its topics explicitly; a typo must not silently create a topic.
    "auto.create.topics.enable=false",
    "num.partitions=1",
    "delete.topic.enable=true",
    // Development data: bounded, not kept forever.
    "log.retention.hours=24",
    "log.retention.bytes=268435456",
    "log.segment.bytes=67108864",
    "num.network.threads=2",
    "num.io.threads=4",
    "",
  ].join("\n");
}

function log4jProperties(l: Layout): string {
  return [
    "# Written by `sigil services up`.",
    "status = warn",
    "appender.file.type = RollingFile",
    "appender.file.name = file",
    `appender.file.fileName = ${path.join(l.kafkaLogs, "server.log")}`,
    `appender.file.filePattern = ${path.join(l.kafkaLogs, "server.log.%i")}`,
    "appender.file.layout.type = PatternLayout",
    "appender.file.layout.pattern = [%d] %p %m (%c)%n",
    "appender.file.policies.type = Policies",
    "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
    "appender.file.policies.size.size = 20MB",
    "appender.file.strategy.type = DefaultRolloverStrategy",
    "appender.file.strategy.max = 3",
    "rootLogger.level = INFO",
    "rootLogger.appenderRef.file.ref = file",
    "logger.kafka.name = kafka",
    "logger.kafka.level = INFO",
    "logger.state.name = state.change.logger",
    "logger.state.level = WARN",
    "",
  ].join("\n");
}

/** Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding. */
function clusterId(): string {
  return randomBytes(16).toString("base64url");
}

const java = () => path.join(javaHome(), "bin", "java");
const classpath = (l: Layout) => `${l.kafkaLibs}/*`;

/** The pid of the broker this services folder runs, if it is alive (from the pid file, else the port). */
export function managedKafkaPid(s: ServicesSettings, l: Layout): number | null {
  const pid = readPid(l.kafkaPid);
  if (pid !== null && pidAlive(pid) && cmdline(pid).includes(l.kafkaProps)) return pid;
  const holder = portHolder(s.ports.kafka);
  if (holder?.pid && holder.command.includes(l.kafkaProps)) return holder.pid;
  return null;
}

/** True when the running broker was started with other settings than these (ports, listeners, paths). */
export function kafkaConfigChanged(l: Layout, props: string): boolean {
  try {
    return fs.readFileSync(l.kafkaProps, "utf8") !== props;
  } catch {
    return true;
  }
}

/** Writes the config, formats the log folder once, and starts the broker in the background. */
export function startKafka(s: ServicesSettings, l: Layout, props: string): { pid: number; clusterId: string } {
  for (const d of [l.kafkaHome, l.kafkaData, l.kafkaLogs]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(l.kafkaProps, props, { mode: 0o600 });
  fs.writeFileSync(l.kafkaLog4j, log4jProperties(l));
  const log4jOpt = `-Dlog4j2.configurationFile=${l.kafkaLog4j}`;
  const metaFile = path.join(l.kafkaData, "meta.properties");
  let id = /cluster\.id=(\S+)/.exec(fs.existsSync(metaFile) ? fs.readFileSync(metaFile, "utf8") : "")?.[1];
  if (!id) {
    id = clusterId();
    const r = spawnSync(java(), [log4jOpt, "-cp", classpath(l), "kafka.tools.StorageTool", "format", "-t", id, "-c", l.kafkaProps, "--ignore-formatted"], {
      encoding: "utf8",
      timeout: 120_000,
    });
    if (r.status !== 0) {
      throw new SigilError("services_kafka_failed", `formatting the Kafka log folder failed: ${(r.stderr || r.stdout || r.error?.message || "").trim().split("\n").slice(-5).join("\n")}`, {
        location: { file: l.kafkaProps },
        hint: `delete ${l.kafkaData} and run \`sigil services up\` again`,
      });
    }
  }
  const out = fs.openSync(path.join(l.kafkaLogs, "stdout.log"), "a");
  const child = spawn(
    java(),
    [
      `-Xms${s.kafkaHeap}`,
      `-Xmx${s.kafkaHeap}`,
      "-XX:+UseG1GC",
      "-XX:MaxGCPauseMillis=20",
      "-Djava.awt.headless=true",
      log4jOpt,
      `-Dkafka.logs.dir=${l.kafkaLogs}`,
      "-cp",
      classpath(l),
      "kafka.Kafka",
      l.kafkaProps,
    ],
    { detached: true, stdio: ["ignore", out, out], cwd: l.kafkaHome },
  );
  fs.closeSync(out);
  if (!child.pid) throw new SigilError("services_kafka_failed", "could not start Java for Kafka", { hint: "check that JAVA_HOME points at a JDK 17" });
  child.unref();
  fs.writeFileSync(l.kafkaPid, String(child.pid));
  return { pid: child.pid, clusterId: id };
}

export interface KafkaProbe {
  ok: boolean;
  detail: string;
  clusterId?: string;
  brokers?: number;
}

/** Asks the broker itself: connect (ApiVersions), describe the cluster, and find a group coordinator. */
export async function probeKafka(address: string, timeoutMs = 5000): Promise<KafkaProbe> {
  const kafka = new Kafka({
    clientId: "sigil-services-probe",
    brokers: [address],
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 3000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    // Consumer groups need the offsets topic and its coordinator; a broker that is up but still
    // loading them fails every group join, so readiness includes it.
    await admin.describeGroups(["sigil-readiness-probe"]);
    return { ok: true, detail: `cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s)`, clusterId: cluster.clusterId, brokers: cluster.brokers.length };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Waits until the broker answers, or fails with its log when the process died or time ran out. */
export async function waitKafkaReady(s: ServicesSettings, l: Layout, pid: number | null): Promise<KafkaProbe> {
  const end = Date.now() + s.readyTimeoutSec * 1000;
  let last: KafkaProbe = { ok: false, detail: "not probed yet" };
  while (Date.now() < end) {
    if (pid !== null && !pidAlive(pid)) {
      throw new SigilError("services_kafka_failed", `the Kafka broker (pid ${pid}) exited while starting; last log lines:\n${tail(path.join(l.kafkaLogs, "server.log")) || tail(path.join(l.kafkaLogs, "stdout.log"))}`, {
        location: { file: path.join(l.kafkaLogs, "server.log") },
        hint: "read the log above; a corrupt data folder can be reset with `sigil services down --purge`",
      });
    }
    last = await probeKafka(kafkaAddress(s), 3000);
    if (last.ok) return last;
    await sleep(500);
  }
  throw new SigilError("services_kafka_unready", `Kafka at ${kafkaAddress(s)} did not become ready within ${s.readyTimeoutSec} s (${last.detail})`, {
    location: { address: kafkaAddress(s), file: path.join(l.kafkaLogs, "server.log") },
    hint: "see the broker log; raise SIGIL_SERVICES_READY_TIMEOUT on a slow machine",
  });
}

export async function stopKafka(pid: number): Promise<"stopped" | "killed" | "not-running"> {
  // Controlled shutdown flushes the logs and moves leadership; it takes a few seconds.
  return stopPid(pid, 60_000);
}
