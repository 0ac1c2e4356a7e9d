// The console listener: HTTPS (and WSS) when TLS is configured, with certificate reload; plain HTTP only
// on loopback unless allowed. WebSocket upgrades on /api/live are authorized like API requests (session
// cookie, permission, Origin) before the handshake completes.

import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import { WebSocketServer } from "ws";
import { UsageError } from "../../platform/errors.ts";
import { serverTlsOptions, watchCertificates } from "../../platform/security/tls.ts";
import { jsonProtocolErrors } from "../../platform/security/client-error.ts";
import type { ConsoleConfig } from "../../platform/config/sections/console.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { can } from "./auth/permissions.ts";
import { clientIp, createApp, LIVE_ACCESS, LIVE_PATH } from "./app.ts";
import type { ConsoleDeps } from "./deps.ts";
import { LiveClient } from "./live/hub.ts";
import { COOKIE_NAME } from "./routes/auth.ts";

export interface ConsoleServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith("127.");
}

/** Refuses a plain-HTTP listener on a non-loopback address unless explicitly allowed. */
export function checkListenerSecurity(cfg: ConsoleConfig): void {
  if (!cfg.tls.enabled && !isLoopback(cfg.host) && !cfg.allow_insecure_http) {
    throw new UsageError("console_insecure_listener", `the console would serve plain HTTP on ${cfg.host}, which is not a loopback address`, {
      location: { key: "console.host" },
      hint: "enable console.tls (sigil certs dev makes development certificates), listen on 127.0.0.1, or set console.allow_insecure_http behind a TLS-terminating proxy",
    });
  }
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

export async function startConsoleServer(d: ConsoleDeps, log: Logger): Promise<ConsoleServer> {
  const cfg = d.config;
  checkListenerSecurity(cfg);
  const app = createApp(d);
  const listener = getRequestListener(app.fetch, {
    errorHandler: (err) => {
      log.error({ err: (err as Error).message }, "console response failed");
    },
  });
  const server = cfg.tls.enabled ? https.createServer(serverTlsOptions(cfg.tls, "console listener"), listener) : http.createServer(listener);
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;
  // requests the HTTP parser refuses (an oversized URL, bad framing) still get a JSON error code
  jsonProtocolErrors(server, "flat");
  const stopWatch = cfg.tls.enabled ? watchCertificates(server as https.Server, cfg.tls, "console listener", log) : () => {};

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024, perMessageDeflate: false });
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? "/", "http://x");
        if (url.pathname !== LIVE_PATH) return refuse(socket, 404, "not found");
        if (!d.origins.allows(req.headers.origin, req.headers.host)) return refuse(socket, 403, "csrf_failed: the WebSocket must be opened from the console's origin");
        const token = cookieValue(req.headers.cookie, `__Host-${COOKIE_NAME}`);
        const session = await d.sessions.lookup(token);
        if (!session || !token) return refuse(socket, 401, "unauthenticated: sign in first");
        if (!can(session.role, LIVE_ACCESS)) return refuse(socket, 403, `forbidden: your role (${session.role}) does not allow ${LIVE_ACCESS}`);
        if (d.hub.clients.size >= cfg.max_ws_clients) return refuse(socket, 503, "too many consoles connected; try again later");
        wss.handleUpgrade(req, socket, head, (ws) => {
          const ip = clientIp((socket as Socket).remoteAddress, req.headers["x-forwarded-for"] as string | undefined, cfg.trust_proxy);
          d.hub.add(new LiveClient(ws, session, token, ip));
        });
      } catch (err) {
        log.warn({ err: (err as Error).message }, "WebSocket upgrade failed");
        refuse(socket, 500, "internal error");
      }
    })();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = cfg.host.includes(":") ? `[${cfg.host}]` : cfg.host;
  const url = `${cfg.tls.enabled ? "https" : "http"}://${host}:${port}`;
  log.info({ url, tls: cfg.tls.enabled }, "console listening");
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        stopWatch();
        d.hub.close();
        wss.close();
        server.close(() => resolve());
        server.closeIdleConnections?.();
        setTimeout(() => server.closeAllConnections?.(), 2_000).unref();
      }),
  };
}
