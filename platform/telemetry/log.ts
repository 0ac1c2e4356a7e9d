// Structured JSON logs (pino). Log lines are sentences with key/value fields; follow one event from
// ingest to alert by its event_id and trace_id fields.
import { pino, type Logger } from "pino";

export type { Logger } from "pino";

let root: Logger | null = null;

/** The process-wide logger; `sigil` commands write logs to stderr so stdout stays data. */
export function rootLogger(level: string = process.env.SIGIL_LOG_LEVEL ?? "info"): Logger {
  if (!root) root = pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: false }));
  return root;
}

/** A child logger for one role or component: every line carries `role`. */
export function logger(role: string, fields: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ role, ...fields });
}

/** Sets the level of the process-wide logger (from config). */
export function setLogLevel(level: string): void {
  rootLogger().level = level;
}
