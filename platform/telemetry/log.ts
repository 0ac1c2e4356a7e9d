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

/**
 * The fields that let one event be followed from ingest to alert in the logs: `event_id` and, when the
 * event carries one, `trace_id`. Log them at debug level at each stage and on every error path.
 */
export function traceFields(e: { event?: { id?: unknown } | null; trace?: { id?: unknown } | null } | null | undefined): { event_id?: string; trace_id?: string } {
  const out: { event_id?: string; trace_id?: string } = {};
  const id = e?.event?.id;
  if (typeof id === "string") out.event_id = id;
  const t = e?.trace?.id;
  if (typeof t === "string" && t) out.trace_id = t;
  return out;
}

/** The event ids (and trace ids) of a batch for an error line: at most `max` of each, so the line stays short. */
export function batchTraceFields(events: ReadonlyArray<{ event?: { id?: unknown } | null; trace?: { id?: unknown } | null }>, max = 20): { event_ids: string[]; trace_ids?: string[]; events: number } {
  const ids: string[] = [];
  const traces = new Set<string>();
  for (const e of events) {
    const f = traceFields(e);
    if (f.event_id && ids.length < max) ids.push(f.event_id);
    if (f.trace_id && traces.size < max) traces.add(f.trace_id);
    if (ids.length >= max && traces.size >= max) break;
  }
  return traces.size ? { event_ids: ids, trace_ids: [...traces], events: events.length } : { event_ids: ids, events: events.length };
}
