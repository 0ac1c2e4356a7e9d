// TLS for every listener and client: options from config (TLS 1.3 by default, mTLS on request),
// certificates read from files and reloaded without a restart when they change on disk.

import fs from "node:fs";
import type tls from "node:tls";
import { UsageError } from "../errors.ts";
import type { TlsConfig } from "../config/sections/common.ts";
import type { Logger } from "../telemetry/log.ts";

function readPem(file: string | null, what: string, key: string): Buffer {
  if (!file) {
    throw new UsageError("tls_missing_file", `${what}: TLS is enabled but ${key} is not set`, {
      location: { key },
      hint: "set the certificate and key files, or run `sigil certs dev` to create development certificates",
    });
  }
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError("tls_unreadable_file", `${what}: cannot read ${key} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      location: { file, key },
      hint: "check the path and that this user may read it",
    });
  }
}

/** Options for tls.createServer / https.createServer from a listener's TLS config. */
export function serverTlsOptions(cfg: TlsConfig, what: string): tls.TlsOptions {
  const opts: tls.TlsOptions = {
    cert: readPem(cfg.cert_file, what, "tls.cert_file"),
    key: readPem(cfg.key_file, what, "tls.key_file"),
    minVersion: cfg.min_version,
  };
  if (cfg.ca_file) opts.ca = readPem(cfg.ca_file, what, "tls.ca_file");
  if (cfg.client_auth !== "none") {
    if (!cfg.ca_file) {
      throw new UsageError("tls_missing_file", `${what}: client_auth ${cfg.client_auth} needs tls.ca_file to verify client certificates`, { location: { key: "tls.ca_file" } });
    }
    opts.requestCert = true;
    opts.rejectUnauthorized = cfg.client_auth === "required";
  }
  return opts;
}

/** Options for a TLS client (https.request, tls.connect, kafkajs ssl, the Elasticsearch client). */
export function clientTlsOptions(cfg: TlsConfig, what: string): tls.ConnectionOptions {
  const opts: tls.ConnectionOptions = { minVersion: cfg.min_version, rejectUnauthorized: cfg.verify };
  if (cfg.ca_file) opts.ca = readPem(cfg.ca_file, what, "tls.ca_file");
  if (cfg.cert_file || cfg.key_file) {
    opts.cert = readPem(cfg.cert_file, what, "tls.cert_file");
    opts.key = readPem(cfg.key_file, what, "tls.key_file");
  }
  return opts;
}

interface Reloadable {
  setSecureContext(options: tls.SecureContextOptions): void;
}

/**
 * Watches the certificate, key and CA files of a TLS listener and swaps the server's secure context
 * when they change (e.g. a renewed certificate), without dropping connections. Returns a stop function.
 * Polls (fs.watchFile), which also catches the symlink swaps that secret mounts do.
 */
export function watchCertificates(server: Reloadable, cfg: TlsConfig, what: string, log?: Logger, intervalMs = 2000): () => void {
  const files = [cfg.cert_file, cfg.key_file, cfg.ca_file].filter((f): f is string => !!f);
  let timer: NodeJS.Timeout | null = null;
  const reload = () => {
    timer = null;
    try {
      const opts = serverTlsOptions(cfg, what);
      server.setSecureContext({ cert: opts.cert, key: opts.key, ca: opts.ca, minVersion: opts.minVersion });
      log?.info({ listener: what }, "reloaded TLS certificate");
    } catch (err) {
      log?.error({ listener: what, err: (err as Error).message }, "TLS certificate reload failed; keeping the previous certificate");
    }
  };
  const onChange = (cur: fs.Stats, prev: fs.Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    // debounce: cert and key are usually replaced together
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, 200);
    timer.unref();
  };
  for (const f of files) fs.watchFile(f, { interval: intervalMs, persistent: false }, onChange);
  return () => {
    if (timer) clearTimeout(timer);
    for (const f of files) fs.unwatchFile(f, onChange);
  };
}
