// The telemetry listener every role process serves: /metrics (Prometheus), /healthz (alive),
// /readyz (ready for work). Loopback by default; an optional bearer token guards /metrics and the
// details of /readyz; TLS from config.

import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { timingSafeEqual } from "node:crypto";
import { registry } from "./metrics.ts";
import { health as defaultHealth, type Health } from "./health.ts";
import { serverTlsOptions, watchCertificates } from "../security/tls.ts";
import { jsonProtocolErrors } from "../security/client-error.ts";
import type { TlsConfig } from "../config/sections/common.ts";
import type { Logger } from "./log.ts";

export interface TelemetryServerOptions {
  host: string;
  port: number;
  tls?: TlsConfig;
  /** When set, /metrics and the check details of /readyz need `Authorization: Bearer <token>`. */
  token?: string | null;
  health?: Health;
  log?: Logger;
}

export interface TelemetryServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

function authorized(req: http.IncomingMessage, token: string | null | undefined): boolean {
  if (!token) return true;
  const h = req.headers.authorization ?? "";
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(h);
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function startTelemetryServer(opts: TelemetryServerOptions): Promise<TelemetryServer> {
  const h = opts.health ?? defaultHealth;
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.setHeader("cache-control", "no-store");
    res.setHeader("x-content-type-options", "nosniff");
    const url = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "application/json" }).end('{"error":"method_not_allowed","message":"use GET"}\n');
      return;
    }
    try {
      if (url === "/healthz") {
        res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}\n');
      } else if (url === "/readyz") {
        const r = await h.readiness();
        const body = authorized(req, opts.token) ? { ready: r.ready, checks: r.checks } : { ready: r.ready };
        res.writeHead(r.ready ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(body) + "\n");
      } else if (url === "/metrics") {
        if (!authorized(req, opts.token)) {
          res.writeHead(401, { "www-authenticate": "Bearer", "content-type": "application/json" }).end('{"error":"unauthenticated","message":"send Authorization: Bearer <telemetry token>"}\n');
          return;
        }
        res.writeHead(200, { "content-type": registry.contentType }).end(await registry.metrics());
      } else {
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not_found"}\n');
      }
    } catch (err) {
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: "internal", detail: (err as Error).message }) + "\n");
    }
  };
  const useTls = !!opts.tls?.enabled;
  const server = useTls
    ? https.createServer(serverTlsOptions(opts.tls!, "telemetry listener"), (q, s) => void handler(q, s))
    : http.createServer((q, s) => void handler(q, s));
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  jsonProtocolErrors(server, "flat");
  const stopWatch = useTls ? watchCertificates(server as https.Server, opts.tls!, "telemetry listener", opts.log) : () => {};
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `${useTls ? "https" : "http"}://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        stopWatch();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
