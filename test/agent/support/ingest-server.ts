// A small real HTTPS server speaking ingest's agent wire format (docs/decisions/0009-agent-wire-format.md):
// TLS (optionally requiring a client certificate), bearer tokens that can be revoked, gzip NDJSON,
// batch-id replay answers (409), and switches to go down or push back. It records every record by
// origin so tests can check "every line exactly once by id".

import https from "node:https";
import type { AddressInfo } from "node:net";
import zlib from "node:zlib";
import fs from "node:fs";
import type { TLSSocket } from "node:tls";

export interface Received {
  message: string;
  origin: string;
  path?: string;
  offset: number;
  truncated: boolean;
  host: string;
  agentId: string;
}

export interface IngestServerOptions {
  cert: string;
  key: string;
  ca?: string;
  requireClientCert?: boolean;
  tokens: string[];
  port?: number;
}

export class TestIngestServer {
  private server: https.Server | null = null;
  port = 0;
  /** First copy of each record by origin: what the store holds after deduplication. */
  readonly byOrigin = new Map<string, Received>();
  /** Records received in total, including redeliveries. */
  received = 0;
  batches = 0;
  readonly batchIds = new Set<string>();
  readonly tokens: Set<string>;
  /** "ok", or an HTTP status to answer with (e.g. 503 push back). */
  answer: "ok" | number = "ok";
  retryAfter: string | null = null;
  readonly clientNames: string[] = [];
  readonly statuses: number[] = [];

  constructor(private readonly o: IngestServerOptions) {
    this.tokens = new Set(o.tokens);
    this.port = o.port ?? 0;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}/v1/ingest`;
  }

  /** Starts listening (again on the same port after stop()). */
  async start(): Promise<void> {
    const server = https.createServer(
      {
        cert: fs.readFileSync(this.o.cert),
        key: fs.readFileSync(this.o.key),
        ca: this.o.ca ? fs.readFileSync(this.o.ca) : undefined,
        requestCert: this.o.requireClientCert ?? false,
        rejectUnauthorized: this.o.requireClientCert ?? false,
        minVersion: "TLSv1.3",
      },
      (req, res) => {
        const reply = (status: number, body: object, headers: Record<string, string> = {}) => {
          this.statuses.push(status);
          res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
        };
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          if (req.method !== "POST" || req.url !== "/v1/ingest") return reply(404, { error: { code: "not_found", message: "no such route" } });
          const auth = req.headers.authorization ?? "";
          const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
          if (!this.tokens.has(token)) return reply(401, { error: { code: "token_invalid", message: "unknown or revoked token" } });
          const peer = (req.socket as TLSSocket).getPeerCertificate?.();
          if (peer?.subject?.CN) this.clientNames.push(String(peer.subject.CN));
          if (this.answer !== "ok") return reply(this.answer, { error: { code: "push_back", message: "busy" } }, this.retryAfter ? { "retry-after": this.retryAfter } : {});
          const id = String(req.headers["x-sigil-batch-id"] ?? "");
          const t = Number(req.headers["x-sigil-batch-time"]);
          if (!/^[0-9a-f]{32}$/.test(id) || !Number.isFinite(t) || Math.abs(Date.now() - t) > 300_000) return reply(400, { error: { code: "bad_batch_headers", message: "batch id or time missing or out of window" } });
          if (this.batchIds.has(id)) return reply(409, { error: { code: "batch_duplicate", message: "already accepted" } });
          let raw: Buffer;
          try {
            raw = req.headers["content-encoding"] === "gzip" ? zlib.gunzipSync(Buffer.concat(chunks)) : Buffer.concat(chunks);
          } catch {
            return reply(400, { error: { code: "bad_gzip", message: "body is not gzip" } });
          }
          let n = 0;
          for (const line of raw.toString("utf8").split("\n")) {
            if (!line) continue;
            const r = JSON.parse(line);
            n++;
            this.received++;
            const origin = r.sigil.origin as string;
            if (!this.byOrigin.has(origin))
              this.byOrigin.set(origin, { message: r.message, origin, path: r.log?.file?.path, offset: r.log.offset, truncated: r.sigil.truncated === true, host: r.host.name, agentId: r.agent.id });
          }
          if (String(n) !== req.headers["x-sigil-batch-lines"]) return reply(400, { error: { code: "bad_line_count", message: "line count header mismatch" } });
          this.batchIds.add(id);
          this.batches++;
          reply(200, { accepted: n });
        });
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and drops open connections: the agent sees ingest as unreachable. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  /** Messages the "store" holds (deduplicated by origin). */
  messages(): string[] {
    return [...this.byOrigin.values()].map((r) => r.message);
  }
}
