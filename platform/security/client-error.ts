// Requests Node's HTTP parser refuses before any handler sees them (bad framing, oversized request line
// or headers, a timeout, an Expect other than 100-continue) answered like every other refusal: a status
// and a JSON error code, then the connection closed. Node's own answers carry no body.

import http from "node:http";
import type { Duplex } from "node:stream";

/** The JSON body every Sigil listener uses for errors: `{ error: { code, message } }` or `{ error: code, message }`. */
export type ErrorShape = "nested" | "flat";

function body(shape: ErrorShape, code: string, message: string): string {
  return JSON.stringify(shape === "nested" ? { error: { code, message } } : { error: code, message }) + "\n";
}

/** Handler for a server's `clientError` event. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, shape: ErrorShape = "nested"): void {
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "headers_too_large", "the request line or headers are too large"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "request_timeout", "the request was not received in time"]
        : [400, "bad_http_request", "the request is not valid HTTP/1.1"];
  const text = body(shape, code, message);
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

/** Installs the JSON answers for parser refusals and unsupported Expect headers on a server. */
export function jsonProtocolErrors(server: http.Server, shape: ErrorShape = "nested"): void {
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, shape));
  server.on("checkExpectation", (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const text = body(shape, "expectation_failed", "only Expect: 100-continue is supported");
    res.writeHead(417, { "content-type": "application/json", "content-length": Buffer.byteLength(text), connection: "close" });
    res.end(text);
  });
}
