// Config of the console role: the HTTP(S) server for the web app, its API and WebSocket, sessions,
// sign-in throttling, the live queue and where the health page reads the pipeline's metrics.
import { z } from "zod";
import { hostSchema, portSchema, secretSchema, tlsSchema } from "./common.ts";

export const consoleSchema = z
  .strictObject({
    host: hostSchema.default("127.0.0.1"),
    port: portSchema.default(8080),
    tls: tlsSchema,
    /** Plain HTTP on a non-loopback address is refused unless this is set. */
    allow_insecure_http: z.boolean().default(false),
    /**
     * The origin browsers use to reach the console (e.g. https://soc.example.com behind a proxy). Requests
     * that change something must come from it (CSRF). Default: the console's own scheme, host and port.
     */
    public_origin: z.string().url().nullable().default(null),
    /** Take the client address from X-Forwarded-For (only behind a proxy you run). */
    trust_proxy: z.boolean().default(false),
    /** A session ends this long after sign-in, whatever the activity (absolute timeout). */
    session_ttl_ms: z.number().int().positive().default(12 * 3600_000),
    /** A session ends after this long without a request (idle timeout). */
    session_idle_ms: z.number().int().positive().default(30 * 60_000),
    max_ws_clients: z.number().int().positive().default(500),
    login: z
      .strictObject({
        /** Failed sign-ins for one user name (or 4x this for one address) before sign-in is locked. */
        max_failures: z.number().int().positive().default(5),
        window_ms: z.number().int().positive().default(15 * 60_000),
        /** Longest lockout; each further failure doubles it up to this. */
        max_lockout_ms: z.number().int().positive().default(15 * 60_000),
      })
      .prefault({}),
    live: z
      .strictObject({
        /** Updates kept for clients resuming after a disconnect; older gaps get a fresh snapshot. */
        replay_buffer: z.number().int().min(100).max(1_000_000).default(20_000),
        /** And at most this much message text (bytes): the hub's memory stays flat however large alerts are. */
        replay_buffer_bytes: z.number().int().min(64 * 1024).default(4 * 1024 * 1024),
        /** Most alerts in one queue snapshot (the virtualized list handles this many). */
        max_snapshot_alerts: z.number().int().positive().max(50_000).default(10_000),
        /** A client whose unsent data grows past this is disconnected as too slow (it resumes on reconnect). */
        max_client_buffer_bytes: z.number().int().positive().default(8 * 1024 * 1024),
        /** Also poll the store for alert and chain updates written by processes that do not publish them. */
        poll_interval_ms: z.number().int().min(0).default(2_000),
        heartbeat_ms: z.number().int().positive().default(30_000),
      })
      .prefault({}),
    health: z
      .strictObject({
        /**
         * Prometheus endpoints of the pipeline's role processes, e.g. http://ingest-1:9464/metrics. Empty: the
         * metrics of this process (all roles when run by `sigil start`).
         */
        metrics_urls: z.array(z.string().url()).default([]),
        /** Bearer token the telemetry listeners expect, if they require one. */
        metrics_token: secretSchema,
      })
      .prefault({}),
    web: z
      .strictObject({
        /** Built web app to serve; default ui/web/dist of this installation. */
        dir: z.string().nullable().default(null),
        /** Build the web app at start when it is missing or older than its sources. */
        auto_build: z.boolean().default(true),
      })
      .prefault({}),
  })
  .prefault({});
export type ConsoleConfig = z.infer<typeof consoleSchema>;
