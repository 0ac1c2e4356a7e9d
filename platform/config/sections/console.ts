// Config of the console role: the HTTP(S) server for the web app, its API and WebSocket.
import { z } from "zod";
import { hostSchema, portSchema, tlsSchema } from "./common.ts";

export const consoleSchema = z
  .strictObject({
    host: hostSchema.default("127.0.0.1"),
    port: portSchema.default(8080),
    tls: tlsSchema,
    /** Plain HTTP on a non-loopback address is refused unless this is set. */
    allow_insecure_http: z.boolean().default(false),
    session_ttl_ms: z.number().int().positive().default(12 * 3600_000),
    max_ws_clients: z.number().int().positive().default(500),
  })
  .prefault({});
export type ConsoleConfig = z.infer<typeof consoleSchema>;
