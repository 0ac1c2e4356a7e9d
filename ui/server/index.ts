// The console role: the web app, its API and the live WebSocket hub over the store and the `alerts`
// topic, started as named steps (platform/lifecycle.ts) so `sigil console` and `sigil start` run it
// the same way. It reads the store and the bus only, never another role's memory.

import os from "node:os";
import { randomBytes } from "node:crypto";
import type { Bus, Consumer, Producer } from "../../platform/bus/types.ts";
import type { Store } from "../../platform/store/types.ts";
import type { SigilConfig } from "../../platform/config/schema.ts";
import { readSecret } from "../../platform/config/secret.ts";
import { Lifecycle } from "../../platform/lifecycle.ts";
import { AuditLog } from "../../platform/security/audit.ts";
import { health } from "../../platform/telemetry/health.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { LoginThrottle } from "./auth/throttle.ts";
import { publishAuditEvent } from "./auth/audit-events.ts";
import { SessionStore } from "./auth/sessions.ts";
import { UserStore } from "./auth/users.ts";
import type { ConsoleDeps } from "./deps.ts";
import { HealthReader } from "./health/reader.ts";
import { LiveHub } from "./live/hub.ts";
import { StorePoller, startTopicFeed } from "./live/feed.ts";
import { OriginPolicy } from "./origin.ts";
import { queueCounts, queueSnapshotPages } from "./queue.ts";
import { isLoopback, startConsoleServer, type ConsoleServer } from "./server.ts";
import { StaticFiles } from "./static.ts";
import { ensureWebBuild, WEB_DIST } from "./web-build.ts";

export interface ConsoleRoleOptions {
  config: SigilConfig;
  store: Store;
  /** The bus for live updates; null runs on store polling alone. */
  bus: Bus | null;
  log: Logger;
}

export interface ConsoleRole {
  lifecycle: Lifecycle;
  /** The listener's URL once started. */
  url(): string;
  deps(): ConsoleDeps;
}

export function consoleRole(opts: ConsoleRoleOptions): ConsoleRole {
  const cfg = opts.config.console;
  const log = opts.log;
  const { store, bus } = opts;
  const lifecycle = new Lifecycle("console", log);
  const users = new UserStore(store);
  const sessions = new SessionStore(store, users, { ttlMs: cfg.session_ttl_ms, idleMs: cfg.session_idle_ms });
  const audit = new AuditLog(store);
  let producer: Producer | null = null;
  let consumer: Consumer | null = null;
  let server: ConsoleServer | null = null;
  let web: StaticFiles | null = null;

  const hub = new LiveHub(
    {
      snapshot: (filter, me) => queueSnapshotPages(store, filter, me, cfg.live.max_snapshot_alerts),
      counts: (filter, me) => queueCounts(store, filter, me),
      sessionAlive: async (client) => (await sessions.lookup(client.token, { touch: false })) !== null,
    },
    { replayBuffer: cfg.live.replay_buffer, replayBufferBytes: cfg.live.replay_buffer_bytes, maxClientBufferBytes: cfg.live.max_client_buffer_bytes, heartbeatMs: cfg.live.heartbeat_ms, log },
  );
  const poller = new StorePoller(store, hub, { intervalMs: cfg.live.poll_interval_ms, log });
  const reader = new HealthReader({
    urls: cfg.health.metrics_urls,
    token: cfg.health.metrics_urls.length ? readSecret(cfg.health.metrics_token, "console.health.metrics_token") : null,
    store,
    bus,
    liveStats: () => ({ clients: hub.clients.size, sequence: hub.sequence }),
    ownLag: async () => (consumer ? await consumer.lag() : []),
    log,
  });
  let sweepTimer: NodeJS.Timeout | null = null;
  /** host.name of the sign-in events this console publishes. */
  const auditNode = (opts.config.node_name ?? os.hostname()).slice(0, 128);

  const deps: ConsoleDeps = {
    config: cfg,
    store,
    publishAlerts: async (messages) => {
      if (producer) await producer.send("alerts", messages);
    },
    publishAudit: (rec) =>
      publishAuditEvent(
        producer ? (events) => producer!.send("events", events.map((e) => ({ key: e.host?.name ?? null, value: JSON.stringify(e), timestamp: Date.parse(e["@timestamp"]) || undefined }))) : undefined,
        rec,
        auditNode,
        log,
      ),
    hub,
    users,
    sessions,
    throttle: new LoginThrottle({ maxFailures: cfg.login.max_failures, windowMs: cfg.login.window_ms, maxLockoutMs: cfg.login.max_lockout_ms }),
    audit,
    origins: new OriginPolicy({ publicOrigin: cfg.public_origin, tls: cfg.tls.enabled, loopbackOnly: isLoopback(cfg.host) }),
    get web() {
      return web;
    },
    health: reader,
    log,
    tls: cfg.tls.enabled,
  };

  lifecycle
    .add({
      name: "web app",
      async start() {
        const dir = cfg.web.dir ?? (cfg.web.auto_build ? await ensureWebBuild({ log }) : WEB_DIST);
        try {
          web = new StaticFiles(dir);
        } catch (err) {
          log.warn({ dir, err: (err as Error).message }, "the web app is not built; the API runs, the pages answer 503 until it is (npm run build:web)");
        }
      },
    })
    .add({
      name: "live hub",
      start: () => hub.start(),
      stop: () => hub.close(),
    })
    .add({
      name: "alerts topic",
      async start() {
        if (!bus) return;
        producer = await bus.producer();
        const node = (opts.config.node_name ?? os.hostname()).replace(/[^\w.-]/g, "_").slice(0, 64);
        consumer = await startTopicFeed(bus, hub, { groupId: `sigil-console-${node}-${randomBytes(4).toString("hex")}`, log });
        health.register("console.bus", async () => {
          const h = await bus.health();
          return { ok: h.ok, detail: h.detail };
        });
      },
      async stop() {
        health.unregister("console.bus");
        await consumer?.close();
        await producer?.close();
      },
    })
    .add({
      name: "store poller",
      start: () => poller.start(),
      stop: () => poller.stop(),
    })
    .add({
      name: "health sampler",
      start: () => reader.start(),
      stop: () => reader.stop(),
    })
    .add({
      name: "session sweeper",
      start() {
        sweepTimer = setInterval(() => void sessions.sweep().catch(() => undefined), 10 * 60_000);
        sweepTimer.unref();
        health.register("console.store", async () => {
          const h = await store.health();
          return { ok: h.ok, detail: h.detail };
        });
      },
      stop() {
        if (sweepTimer) clearInterval(sweepTimer);
        health.unregister("console.store");
      },
    })
    .add({
      name: "listener",
      async start() {
        server = await startConsoleServer(deps, log);
      },
      async stop() {
        await server?.close();
      },
    });

  return {
    lifecycle,
    url: () => server?.url ?? "",
    deps: () => deps,
  };
}
