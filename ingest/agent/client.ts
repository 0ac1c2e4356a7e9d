// HTTPS client for ingest's NDJSON endpoint (docs/decisions/0009-agent-wire-format.md): TLS 1.3 by
// default with certificate verification, an optional client certificate, a configurable CA, the
// agent token as a bearer token, and every failure classified so the shipper knows whether to
// retry, buffer, split the batch or keep it aside.

import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { readSecret } from "../../platform/config/secret.ts";
import { UsageError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import type { AgentConfig } from "./config.ts";

export type FailureKind = "network" | "tls" | "timeout" | "server" | "throttled" | "auth" | "too_large" | "rejected";

export type SendOutcome =
  | { ok: true; status: number; duplicate: boolean }
  | { ok: false; kind: FailureKind; status?: number; code: string; message: string; retryAfterMs?: number };

/** Node/OpenSSL error codes that mean the server certificate did not verify. */
const TLS_VERIFY_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "CERT_REVOKED", "CERT_UNTRUSTED", "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID", "CERT_SIGNATURE_FAILURE", "INVALID_CA", "HOSTNAME_MISMATCH",
]);

const MAX_RESPONSE = 64 * 1024;
export const USER_AGENT = "sigil-agent";

/** Reads Retry-After (seconds or an HTTP date) as milliseconds, capped at 10 minutes. */
export function parseRetryAfter(v: string | undefined, now = Date.now()): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return Math.min(600_000, s * 1000);
  const d = Date.parse(v);
  return Number.isNaN(d) ? undefined : Math.min(600_000, Math.max(0, d - now));
}

export class IngestClient {
  private agent: http.Agent;
  private token: string;
  private readonly url: URL;
  private readonly secure: boolean;
  private tlsStamp = "";
  private tlsTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly cfg: AgentConfig["output"],
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: Logger,
    private readonly version: string,
  ) {
    this.url = new URL(cfg.url);
    this.secure = this.url.protocol === "https:";
    this.token = this.readToken();
    this.agent = this.makeAgent();
    if (this.secure) {
      this.tlsStamp = this.stamp();
      // Certificates are files that get renewed: pick up new ones without a restart.
      this.tlsTimer = setInterval(() => this.reloadTlsIfChanged(), 30_000);
      this.tlsTimer.unref();
    }
  }

  private readToken(): string {
    const t = readSecret(this.cfg.token, "output.token", this.env);
    if (!t)
      throw new UsageError("agent_token_missing", "output.token names neither a file nor an environment variable", {
        hint: "create a token with `sigil tokens create` and set output.token.file or output.token.env",
      });
    if (!/^[\x21-\x7e]{8,4096}$/.test(t)) throw new UsageError("agent_token_invalid", "the agent token must be 8 to 4096 printable characters without spaces");
    return t;
  }

  /** Re-reads the token (after ingest refused it: it may have been rotated on disk). */
  reloadToken(): boolean {
    try {
      const t = this.readToken();
      const changed = t !== this.token;
      this.token = t;
      if (changed) this.log.info({}, "agent token changed on disk; using the new one");
      return changed;
    } catch (err) {
      this.log.error({ err: String(err) }, "cannot read the agent token");
      return false;
    }
  }

  private stamp(): string {
    const t = this.cfg.tls;
    return [t.ca_file, t.cert_file, t.key_file].map((f) => (f ? `${f}:${safeMtime(f)}` : "-")).join("|");
  }

  private reloadTlsIfChanged(): void {
    const s = this.stamp();
    if (s === this.tlsStamp) return;
    try {
      const next = this.makeAgent();
      this.agent.destroy();
      this.agent = next;
      this.tlsStamp = s;
      this.log.info({}, "TLS certificates changed on disk; reloaded");
    } catch (err) {
      this.log.error({ err: String(err) }, "cannot reload TLS certificates; keeping the previous ones");
    }
  }

  private makeAgent(): http.Agent {
    const opts = { keepAlive: true, maxSockets: this.cfg.max_in_flight + 1, maxFreeSockets: this.cfg.max_in_flight + 1 };
    if (!this.secure) return new http.Agent(opts);
    const t = this.cfg.tls;
    const read = (f: string, what: string) => {
      try {
        return fs.readFileSync(f);
      } catch (err) {
        throw new UsageError("agent_tls_file_unreadable", `cannot read ${what} ${f}: ${(err as Error).message}`, { location: { file: f }, hint: `check output.tls.${what}` });
      }
    };
    return new https.Agent({
      ...opts,
      minVersion: t.min_version,
      rejectUnauthorized: t.verify,
      ca: t.ca_file ? read(t.ca_file, "ca_file") : undefined,
      cert: t.cert_file ? read(t.cert_file, "cert_file") : undefined,
      key: t.key_file ? read(t.key_file, "key_file") : undefined,
      servername: t.server_name ?? undefined,
    });
  }

  /** Sends one batch; never throws: every failure is classified. */
  send(body: Buffer, batchId: string, lines: number, encoding: "gzip" | "identity"): Promise<SendOutcome> {
    const u = this.url;
    return new Promise((resolve) => {
      let settled = false;
      const done = (o: SendOutcome) => {
        if (settled) return;
        settled = true;
        resolve(o);
      };
      const headers: http.OutgoingHttpHeaders = {
        "content-type": "application/x-ndjson",
        "content-length": body.length,
        authorization: `Bearer ${this.token}`,
        "x-sigil-batch-id": batchId,
        "x-sigil-batch-time": String(Date.now()),
        "x-sigil-batch-lines": String(lines),
        "user-agent": `${USER_AGENT}/${this.version}`,
      };
      if (encoding === "gzip") headers["content-encoding"] = "gzip";
      const req = (this.secure ? https : http).request(
        {
          protocol: u.protocol,
          hostname: u.hostname.replace(/^\[|\]$/g, ""),
          port: u.port || (this.secure ? 443 : 80),
          path: u.pathname + u.search,
          method: "POST",
          agent: this.agent,
          headers,
          timeout: this.cfg.timeout_ms,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            if (size < MAX_RESPONSE) chunks.push(c);
            size += c.length;
          });
          res.on("error", (err) => done(classifyError(err)));
          res.on("end", () => done(classifyResponse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).subarray(0, MAX_RESPONSE).toString("utf8"))));
        },
      );
      req.on("timeout", () => {
        req.destroy();
        done({ ok: false, kind: "timeout", code: "agent_ingest_timeout", message: `ingest did not answer within ${this.cfg.timeout_ms} ms` });
      });
      req.on("error", (err) => done(classifyError(err)));
      req.end(body);
    });
  }

  get endpoint(): string {
    return this.url.origin + this.url.pathname;
  }

  close(): void {
    if (this.tlsTimer) clearInterval(this.tlsTimer);
    this.agent.destroy();
  }
}

function safeMtime(f: string): number {
  try {
    return fs.statSync(f).mtimeMs;
  } catch {
    return 0;
  }
}

function errorDetail(text: string): { code?: string; message?: string } {
  if (!text) return {};
  try {
    const j = safeJsonParse(text) as { error?: { code?: unknown; message?: unknown } | string; code?: unknown; message?: unknown };
    const e = typeof j?.error === "object" && j.error ? j.error : j;
    const code = typeof e?.code === "string" ? e.code : undefined;
    const message = typeof e?.message === "string" ? e.message : typeof j?.error === "string" ? j.error : undefined;
    return { code, message: message?.slice(0, 500) };
  } catch {
    return { message: text.slice(0, 200).replace(/[^\x20-\x7e]/g, "?") };
  }
}

export function classifyResponse(status: number, headers: http.IncomingHttpHeaders, text: string): SendOutcome {
  if (status >= 200 && status < 300) return { ok: true, status, duplicate: false };
  const d = errorDetail(text);
  const why = d.message ? `: ${d.message}` : "";
  const retryAfter = parseRetryAfter(headers["retry-after"] as string | undefined);
  // 409: ingest already has this batch id (a retry of a batch whose answer we lost): it is delivered.
  if (status === 409) return { ok: true, status, duplicate: true };
  if (status === 401 || status === 403)
    return { ok: false, kind: "auth", status, code: "agent_token_rejected", message: `ingest refused the agent token (HTTP ${status}${d.code ? ` ${d.code}` : ""})${why}` };
  if (status === 429 || status === 503)
    return { ok: false, kind: "throttled", status, code: "agent_ingest_push_back", message: `ingest asked to slow down (HTTP ${status})${why}`, retryAfterMs: retryAfter };
  if (status === 413) return { ok: false, kind: "too_large", status, code: "agent_batch_too_large", message: `ingest refused the batch as too large${why}` };
  if (status === 408) return { ok: false, kind: "timeout", status, code: "agent_ingest_timeout", message: `ingest timed out reading the batch${why}` };
  if (status >= 500) return { ok: false, kind: "server", status, code: "agent_ingest_error", message: `ingest failed (HTTP ${status})${why}`, retryAfterMs: retryAfter };
  return { ok: false, kind: "rejected", status, code: "agent_batch_rejected", message: `ingest rejected the batch (HTTP ${status}${d.code ? ` ${d.code}` : ""})${why}` };
}

export function classifyError(err: unknown): SendOutcome {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = e?.code ?? "";
  if (TLS_VERIFY_CODES.has(code))
    return { ok: false, kind: "tls", code: "agent_tls_verify_failed", message: `ingest's certificate did not verify (${code}): ${e.message}` };
  if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || /ssl|tls|certificate/i.test(e?.message ?? ""))
    return { ok: false, kind: "tls", code: "agent_tls_failed", message: `TLS handshake with ingest failed (${code || "tls"}): ${e.message}` };
  return { ok: false, kind: "network", code: "agent_ingest_unreachable", message: `cannot reach ingest (${code || "error"}): ${e?.message ?? String(err)}` };
}
