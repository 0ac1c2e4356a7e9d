// The agent's own config file (agent.yml): a strict zod schema separate from Sigil's main config,
// loaded with loadWithSchema so unknown keys and bad values are reported with file, line and column.

import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { loadWithSchema, unwrap, type LoadResult } from "../../platform/config/load.ts";
import { secretSchema, type SecretRef } from "../../platform/config/sections/common.ts";
import type { Problem } from "../../platform/errors.ts";

/** Environment overrides for the agent config: SIGIL_AGENT_OUTPUT__URL, SIGIL_AGENT_DATA_DIR, ... */
export const AGENT_ENV_PREFIX = "SIGIL_AGENT_";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const regexString = z.string().min(1).superRefine((s, ctx) => {
  try {
    new RegExp(s);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `not a valid regular expression: ${(err as Error).message}` });
  }
});

const multilineSchema = z.strictObject({
  /** A regular expression tested against each line. */
  pattern: regexString,
  /**
   * continue: lines that match continue the previous event (Java stack traces: '^\s+at |^Caused by:').
   * start: lines that match start a new event; the others continue it (e.g. '^\d{4}-\d{2}-\d{2}').
   */
  match: z.enum(["continue", "start"]).default("continue"),
  /** An event is emitted when it reaches this many lines; the next line starts a new one. */
  max_lines: z.number().int().positive().max(100_000).default(500),
  /** An event is emitted after this long without a new line. */
  timeout_ms: z.number().int().positive().default(1000),
});
export type MultilineConfig = z.infer<typeof multilineSchema>;

/** Fields every input can set: where its records claim to come from and how ingest should parse them. */
const commonInput = {
  /** Sets service.name on every record of this input. */
  service: z.string().min(1).max(256).nullable().default(null),
  /** A parser name hint for ingest (`sigil.format`); null lets ingest detect the format. */
  format: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/).nullable().default(null),
  /** Tags added to every record (ECS `tags`). */
  tags: z.array(z.string().min(1).max(256)).max(64).default([]),
  /** Longest line (or multiline event) in bytes; longer ones are cut at this size and flagged sigil.truncated. */
  max_line_bytes: z.number().int().min(256).max(16 * MiB).default(64 * KiB),
  multiline: multilineSchema.nullable().default(null),
};

const fileInputSchema = z.strictObject({
  type: z.literal("file"),
  /** Glob patterns (*, ?, **, [abc], {a,b}); files that appear later are picked up while running. */
  paths: z.array(z.string().min(1)).min(1).max(256),
  /** Glob patterns of files to leave alone (e.g. "*.gz"); a pattern without "/" matches the file name. */
  exclude: z.array(z.string().min(1)).max(256).default([]),
  /** Where to start in files that have no checkpoint when the agent first sees them at start-up. */
  start_at: z.enum(["beginning", "end"]).default("end"),
  ...commonInput,
});

const stdinInputSchema = z.strictObject({
  type: z.literal("stdin"),
  ...commonInput,
});

export const inputSchema = z.discriminatedUnion("type", [fileInputSchema, stdinInputSchema]);
export type InputConfig = z.infer<typeof inputSchema>;
export type FileInputConfig = z.infer<typeof fileInputSchema>;
export type StdinInputConfig = z.infer<typeof stdinInputSchema>;

const clientTlsSchema = z
  .strictObject({
    /** CA bundle (PEM) that signs the ingest server certificate; default: the system roots. */
    ca_file: z.string().nullable().default(null),
    /** Client certificate and key (PEM) for mTLS. */
    cert_file: z.string().nullable().default(null),
    key_file: z.string().nullable().default(null),
    min_version: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.3"),
    /** Verify the server certificate and name. Turning this off is refused unless the host is loopback. */
    verify: z.boolean().default(true),
    /** Name to verify the certificate against when it differs from the URL's host. */
    server_name: z.string().nullable().default(null),
  })
  .prefault({});

const outputSchema = z
  .strictObject({
    /** The ingest endpoint. https:// in production; http:// is accepted only for a loopback host. */
    url: z.string().url().default("https://127.0.0.1:8088/v1/ingest"),
    /** The agent token (create one with ingest), read from a file or an environment variable. */
    token: secretSchema,
    tls: clientTlsSchema,
    batch: z
      .strictObject({
        max_lines: z.number().int().positive().max(100_000).default(2000),
        /** Uncompressed NDJSON bytes per batch. */
        max_bytes: z.number().int().min(4 * KiB).max(64 * MiB).default(1 * MiB),
        /** A partly filled batch is sent after this long. */
        flush_ms: z.number().int().positive().default(1000),
      })
      .prefault({}),
    compression: z.enum(["gzip", "none"]).default("gzip"),
    compression_level: z.number().int().min(1).max(9).default(3),
    /** Batches sent at once while the link is healthy. */
    max_in_flight: z.number().int().min(1).max(16).default(2),
    /** Per-request timeout. */
    timeout_ms: z.number().int().positive().default(30_000),
    retry: z
      .strictObject({
        /** Capped exponential backoff with full jitter: wait random(0, min(max_ms, initial_ms * 2^attempt)). */
        initial_ms: z.number().int().positive().default(250),
        max_ms: z.number().int().positive().default(30_000),
      })
      .prefault({}),
    breaker: z
      .strictObject({
        /** Consecutive failures that open the circuit. */
        failure_threshold: z.number().int().positive().default(3),
        /** How long the circuit stays open before one probe request (half-open); doubles while probes fail. */
        open_ms: z.number().int().positive().default(5_000),
        max_open_ms: z.number().int().positive().default(60_000),
      })
      .prefault({}),
  })
  .prefault({});

const bufferSchema = z
  .strictObject({
    /** Off: when ingest is unreachable the agent stops reading (files keep the data; stdin blocks). */
    enabled: z.boolean().default(true),
    /** Folder of the encrypted queue; default <data_dir>/queue. */
    dir: z.string().nullable().default(null),
    max_bytes: z.number().int().min(64 * KiB).default(1 * GiB),
    /** block: stop reading until the queue drains (nothing lost); drop_oldest: delete the oldest batches and count them. */
    when_full: z.enum(["block", "drop_oldest"]).default("block"),
    /** 32-byte AES-256-GCM key as 64 hex or 44 base64 characters, from a file or an environment variable. */
    key: secretSchema,
  })
  .prefault({});

const listenerTlsSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    cert_file: z.string().nullable().default(null),
    key_file: z.string().nullable().default(null),
    min_version: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.3"),
  })
  .prefault({});

export const agentConfigSchema = z.strictObject({
  /** Stable id of this agent (agent.id); default: generated once and kept in data_dir. */
  id: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/).nullable().default(null),
  /** host.name on every record; default: the machine's host name. */
  host_name: z.string().min(1).max(255).nullable().default(null),
  /** Checkpoints, the queue, the status file and the agent id live here. */
  data_dir: z.string().min(1).default(".sigil/agent"),
  log_level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  inputs: z.array(inputSchema).min(1).max(64),
  output: outputSchema,
  buffer: bufferSchema,
  files: z
    .strictObject({
      /** How often globs are expanded again to find new files. */
      scan_interval_ms: z.number().int().positive().default(1000),
      /** How often a file at its end is checked for new data. */
      poll_interval_ms: z.number().int().positive().default(200),
      /** Bytes read from a file at once. */
      read_bytes: z.number().int().min(4 * KiB).max(16 * MiB).default(256 * KiB),
      /** A file that was renamed away or deleted is closed after this long at its end without growing. */
      close_inactive_ms: z.number().int().positive().default(30_000),
      max_open_files: z.number().int().positive().max(65_536).default(1024),
      /** Checkpoints of files that are gone are forgotten after this long. */
      forget_after_ms: z.number().int().positive().default(7 * 24 * 3600 * 1000),
      /** How often checkpoints are written (write temp, fsync, rename, fsync folder). */
      checkpoint_interval_ms: z.number().int().positive().default(1000),
    })
    .prefault({}),
  status: z
    .strictObject({
      /** Status file that `sigil agent status` reads; default <data_dir>/status.json. */
      file: z.string().nullable().default(null),
      interval_ms: z.number().int().positive().default(1000),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default("127.0.0.1"),
      /** 0 picks a free port (written to the status file). */
      port: z.number().int().min(0).max(65535).default(9465),
      /** Bearer token required on /metrics; required when host is not loopback. */
      token: secretSchema,
      tls: listenerTlsSchema,
    })
    .prefault({}),
  /** On SIGTERM, how long in-flight batches get to finish before they are written to the buffer. */
  shutdown_timeout_ms: z.number().int().positive().default(5000),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type { SecretRef };

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Checks that need more than one key (or the file system), as problems with the key that is wrong. */
export function crossCheck(c: AgentConfig): Problem[] {
  const problems: Problem[] = [];
  const add = (key: string, code: string, message: string, hint?: string) => problems.push({ code, severity: "error", message, location: { key }, hint });
  let url: URL | null = null;
  try {
    url = new URL(c.output.url);
  } catch {
    add("output.url", "agent_bad_url", `output.url is not a URL: ${c.output.url}`);
  }
  if (url) {
    if (url.protocol !== "https:" && url.protocol !== "http:") add("output.url", "agent_bad_url", `output.url must be https:// (got ${url.protocol})`);
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname))
      add("output.url", "agent_insecure_url", `plain http:// is only allowed to a loopback host, not ${url.hostname}`, "use https:// and set output.tls.ca_file to the CA that signs ingest's certificate");
    if (!c.output.tls.verify && !isLoopbackHost(url.hostname))
      add("output.tls.verify", "agent_insecure_tls", "turning off certificate verification is only allowed for a loopback host", "set output.tls.ca_file to the CA that signs ingest's certificate instead");
  }
  if (!c.output.token.file && !c.output.token.env) add("output.token", "agent_token_missing", "output.token names neither a file nor an environment variable", "create a token with `sigil tokens create` and set output.token.file or output.token.env");
  if ((c.output.tls.cert_file === null) !== (c.output.tls.key_file === null)) add("output.tls", "agent_tls_incomplete", "output.tls needs both cert_file and key_file for a client certificate");
  if (c.buffer.enabled) {
    if (!c.buffer.key.file && !c.buffer.key.env)
      add("buffer.key", "agent_buffer_key_missing", "the disk buffer is encrypted and needs a key: set buffer.key.file or buffer.key.env", "create one with `openssl rand -hex 32 > agent.key; chmod 600 agent.key`, or set buffer.enabled: false");
    if (c.output.batch.max_bytes * 8 > c.buffer.max_bytes)
      add("buffer.max_bytes", "agent_buffer_too_small", `buffer.max_bytes (${c.buffer.max_bytes}) must hold at least 8 batches of output.batch.max_bytes (${c.output.batch.max_bytes})`);
  }
  if (c.metrics.enabled && !isLoopbackHost(c.metrics.host) && !c.metrics.token.file && !c.metrics.token.env)
    add("metrics.token", "agent_metrics_unauthenticated", `metrics listen on ${c.metrics.host}, which is not loopback, so they need a token`, "set metrics.token.file or metrics.token.env, or listen on 127.0.0.1");
  if (c.metrics.tls.enabled && (!c.metrics.tls.cert_file || !c.metrics.tls.key_file)) add("metrics.tls", "agent_tls_incomplete", "metrics.tls.enabled needs cert_file and key_file");
  if (c.inputs.filter((i) => i.type === "stdin").length > 1) add("inputs", "agent_stdin_twice", "only one stdin input is possible");
  if (c.output.retry.initial_ms > c.output.retry.max_ms) add("output.retry.initial_ms", "agent_bad_retry", "output.retry.initial_ms must not exceed output.retry.max_ms");
  return problems;
}

/** Validates an agent.yml (and SIGIL_AGENT_* overrides) without throwing. */
export function checkAgentConfig(file: string | null, env: NodeJS.ProcessEnv = process.env): LoadResult<AgentConfig> {
  const r = loadWithSchema(agentConfigSchema, { file, env, envPrefix: AGENT_ENV_PREFIX });
  if (r.config) {
    const more = crossCheck(r.config).map((p) => ({ ...p, location: { ...(file ? { file } : {}), ...p.location } }));
    if (more.length) return { config: null, problems: [...r.problems, ...more] };
  }
  return r;
}

/** Loads an agent.yml; throws a UsageError that lists every problem with its location. */
export function loadAgentConfig(file: string | null, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return unwrap(checkAgentConfig(file, env), file ?? undefined);
}

/** Paths the agent derives from data_dir. */
export function agentPaths(c: AgentConfig, cwd = process.cwd()) {
  const dataDir = path.resolve(cwd, c.data_dir);
  return {
    dataDir,
    queueDir: path.resolve(cwd, c.buffer.dir ?? path.join(dataDir, "queue")),
    deadLetterDir: path.join(dataDir, "dead-letter"),
    checkpointFile: path.join(dataDir, "checkpoints.json"),
    statusFile: path.resolve(cwd, c.status.file ?? path.join(dataDir, "status.json")),
    idFile: path.join(dataDir, "agent-id"),
    lockFile: path.join(dataDir, "agent.lock"),
  };
}

export function defaultHostName(c: AgentConfig): string {
  return c.host_name ?? os.hostname();
}
