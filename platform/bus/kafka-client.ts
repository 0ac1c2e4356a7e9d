// Building the kafkajs client from Sigil's config: brokers, TLS and SASL (secrets via readSecret),
// timeouts and retries, kafkajs' own logging routed into our pino logger at a quieter level, and
// Kafka errors turned into SigilErrors that name the broker address and say what to do.

import fs from "node:fs";
import kafkajs from "kafkajs";
import type { KafkaConfig, LogEntry, SASLOptions } from "kafkajs";
import type { ConnectionOptions } from "node:tls";
import { SigilError, UsageError } from "../errors.ts";
import { readSecret } from "../config/secret.ts";
import type { BusConfig } from "../config/schema.ts";
import type { Logger } from "../telemetry/log.ts";

const { logLevel } = kafkajs;

type KafkaSection = BusConfig["kafka"];

function readPem(file: string, key: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError("bus_tls_file", `cannot read ${key} ${file}: ${(err as Error).message}`, {
      location: { file, key },
      hint: "check the path and that this user may read it",
    });
  }
}

/** kafkajs `ssl` option from our TLS block (client side). */
export function tlsOptions(k: KafkaSection): ConnectionOptions | undefined {
  const t = k.tls;
  if (!t.enabled) return undefined;
  if ((t.cert_file === null) !== (t.key_file === null)) {
    throw new UsageError("config_bad_value", "bus.kafka.tls: cert_file and key_file go together (client certificate for mTLS)", { location: { key: "bus.kafka.tls" } });
  }
  const opts: ConnectionOptions = { rejectUnauthorized: t.verify, minVersion: t.min_version };
  if (t.ca_file) opts.ca = readPem(t.ca_file, "bus.kafka.tls.ca_file");
  if (t.cert_file) opts.cert = readPem(t.cert_file, "bus.kafka.tls.cert_file");
  if (t.key_file) opts.key = readPem(t.key_file, "bus.kafka.tls.key_file");
  return opts;
}

/** kafkajs `sasl` option; the password comes from a file or an environment variable, never the config file. */
export function saslOptions(k: KafkaSection, env: NodeJS.ProcessEnv = process.env): SASLOptions | undefined {
  const s = k.sasl;
  if (s.mechanism === "none") return undefined;
  if (!s.username) throw new UsageError("config_bad_value", `bus.kafka.sasl.username is required for SASL ${s.mechanism}`, { location: { key: "bus.kafka.sasl.username" } });
  const password = readSecret(s.password, "bus.kafka.sasl.password", env);
  if (password === null) {
    throw new UsageError("config_bad_value", `bus.kafka.sasl.password needs a file or env reference for SASL ${s.mechanism}`, {
      location: { key: "bus.kafka.sasl.password" },
      hint: "password: { env: KAFKA_PASSWORD } or { file: /run/secrets/kafka-password }",
    });
  }
  return { mechanism: s.mechanism, username: s.username, password } as SASLOptions;
}

/** Messages kafkajs logs at ERROR or WARN that are routine during rebalances and broker start-up. */
const ROUTINE =
  /rebalanc|coordinator is (loading|not available)|not the correct coordinator|group coordinator|Restarting the consumer|re-joining|heartbeat|leader is not available|There is no leader|not the leader for that topic-partition|Limiting retries for the idempotent producer/i;

/** Routes kafkajs logs into pino one level quieter than kafkajs rates them; routine noise goes to debug. */
export function kafkaLogCreator(log: Logger) {
  return () =>
    ({ namespace, level, log: entry }: LogEntry) => {
      const { message, timestamp: _t, stack: _s, logger: _l, ...fields } = entry as { message: string; [k: string]: unknown };
      const obj = { kafkajs: namespace, ...fields };
      if (level === logLevel.ERROR) {
        if (ROUTINE.test(message) || ROUTINE.test(String(fields.error ?? ""))) log.debug(obj, message);
        else if (/^Crash/.test(message)) log.error(obj, message);
        else log.warn(obj, message);
      } else if (level === logLevel.WARN) {
        if (ROUTINE.test(message)) log.debug(obj, message);
        else log.info(obj, message);
      } else log.debug(obj, message);
    };
}

/** The kafkajs client options for this config. */
export function kafkaClientConfig(cfg: BusConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): KafkaConfig {
  const k = cfg.kafka;
  return {
    clientId: k.client_id,
    brokers: k.brokers,
    ssl: tlsOptions(k),
    sasl: saslOptions(k, env),
    connectionTimeout: k.connection_timeout_ms,
    requestTimeout: k.request_timeout_ms,
    // kafkajs retries with exponential backoff and a random factor (jitter), capped at maxRetryTime.
    retry: { initialRetryTime: 300, maxRetryTime: k.retry_max_ms, factor: 0.2, multiplier: 2, retries: 8 },
    logLevel: log.isLevelEnabled("debug") ? logLevel.INFO : logLevel.WARN,
    logCreator: kafkaLogCreator(log),
  };
}

/** A capped exponential backoff with full jitter: attempt 1 → up to `baseMs`, doubling to `capMs`. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

const AUTH = /SASL|authentication|Authentication failed|Unsupported SASL mechanism|ILLEGAL_SASL_STATE/i;
const TLS = /certificate|self[- ]signed|SSL|TLS|wrong version number|EPROTO/i;

function rootCause(err: unknown): Error {
  let e = err as Error & { cause?: unknown; originalError?: unknown };
  for (let i = 0; i < 5; i++) {
    const next = (e?.originalError ?? e?.cause) as (Error & { cause?: unknown; originalError?: unknown }) | undefined;
    if (!next || !(next instanceof Error)) break;
    e = next;
  }
  return e instanceof Error ? e : new Error(String(err));
}

/** Turns a kafkajs failure into a SigilError naming the brokers, with a hint. Never a stack trace. */
export function kafkaError(err: unknown, what: string, brokers: string[], code = "bus_unavailable"): SigilError {
  if (err instanceof SigilError) return err;
  const cause = rootCause(err);
  const text = cause.message || String(err);
  const address = brokers.join(",");
  if (AUTH.test(text)) {
    return new SigilError("bus_auth_failed", `${what}: Kafka at ${address} rejected the credentials: ${text}`, {
      location: { address, key: "bus.kafka.sasl" },
      hint: "check bus.kafka.sasl (mechanism, username, password reference)",
      cause: err,
    });
  }
  if (TLS.test(text)) {
    return new SigilError("bus_tls_failed", `${what}: TLS with Kafka at ${address} failed: ${text}`, {
      location: { address, key: "bus.kafka.tls" },
      hint: "check bus.kafka.tls (ca_file for the broker's CA, enabled only if the listener speaks TLS)",
      cause: err,
    });
  }
  return new SigilError(code, `${what}: Kafka at ${address} is unreachable or failing: ${text}`, {
    location: { address, key: "bus.kafka.brokers" },
    hint: "check that the brokers in bus.kafka.brokers run and are reachable (for development: `sigil services up`)",
    cause: err,
  });
}

/** Errors that retrying will not fix (bad credentials, TLS mismatch). */
export function isFatalKafkaError(err: unknown): boolean {
  const text = rootCause(err).message;
  return AUTH.test(text) || TLS.test(text);
}
