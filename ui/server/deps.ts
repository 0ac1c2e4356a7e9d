// What the console's routes and WebSocket hub work with; built once by the role (index.ts), passed to
// every handler, and replaced by doubles in unit tests.

import type { Store } from "../../platform/store/types.ts";
import type { OutgoingMessage } from "../../platform/bus/types.ts";
import type { AuditRecord } from "../../schema/signal.ts";
import type { AuditLog } from "../../platform/security/audit.ts";
import type { ConsoleConfig } from "../../platform/config/sections/console.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import type { LiveHub } from "./live/hub.ts";
import type { UserStore } from "./auth/users.ts";
import type { SessionStore } from "./auth/sessions.ts";
import type { LoginThrottle } from "./auth/throttle.ts";
import type { OriginPolicy } from "./origin.ts";
import type { StaticFiles } from "./static.ts";
import type { HealthReader } from "./health/reader.ts";

export interface ConsoleDeps {
  config: ConsoleConfig;
  store: Store;
  /** Publishes on the alerts topic (so every console process sees a triage change); resolves when durable. */
  publishAlerts(messages: OutgoingMessage[]): Promise<void>;
  /** Publishes a sign-in audit record as an ECS event on the events topic (auth/audit-events.ts); absent without a bus. */
  publishAudit?(rec: AuditRecord): Promise<void>;
  hub: LiveHub;
  users: UserStore;
  sessions: SessionStore;
  throttle: LoginThrottle;
  audit: AuditLog;
  origins: OriginPolicy;
  web: StaticFiles | null;
  health: HealthReader;
  log: Logger;
  /** Whether the listener is HTTPS. */
  tls: boolean;
}
