// What every parser does last: the deterministic event.id, event.original, the shipper's host and file
// position, and related.* de-duplicated. Kept small because it runs once per event.

import type { EcsEvent, JsonObject } from "../../../schema/ecs.ts";
import { eventId } from "../../../schema/event-id.ts";
import type { RawRecord, Rejection } from "../types.ts";

/**
 * The record of an event a parser holds before emitting it (windows-events-json's clock calibration):
 * weak, so it never leaks. Events emitted as they are made carry their record in `Emit.event(e, rec)`
 * instead, which costs nothing per event (a WeakMap entry per event cost about a microsecond with its
 * garbage-collection work, on the ingest hot path).
 */
export const recordOfEvent = new WeakMap<object, RawRecord>();

/**
 * Completes an event a parser built: event.id from (dataset, raw text, the record's origin), the raw
 * text in event.original, host.name from the shipper when the record names none, log.file.path and
 * log.offset from where the record was read.
 */
export function finish(ev: EcsEvent, rec: RawRecord, raw: string, keepOriginal = true): EcsEvent {
  const e = ev.event;
  e.id = eventId(e.dataset, raw, rec.origin);
  if (keepOriginal) e.original = raw;
  if (rec.host !== undefined && (ev.host === undefined || ev.host.name === undefined)) {
    if (ev.host === undefined) ev.host = { name: rec.host };
    else ev.host.name = rec.host;
  }
  if (rec.path !== undefined || rec.offset !== undefined) {
    const log = (ev.log ??= {}) as JsonObject;
    if (rec.path !== undefined) log.file = { path: rec.path };
    if (rec.offset !== undefined) log.offset = rec.offset;
  }
  return ev;
}

/** Adds `value` to related.<kind> once. */
export function relate(ev: EcsEvent, kind: "ip" | "user" | "hosts" | "hash", value: string | undefined): void {
  if (value === undefined || value === "") return;
  const rel = (ev.related ??= {});
  const list = rel[kind];
  if (list === undefined) rel[kind] = [value];
  else if (!list.includes(value)) list.push(value);
}

/** A rejection with the stable code, a reason sentence and the record it is about. */
export function reject(code: string, reason: string, record: RawRecord): Rejection {
  return { code, reason, record };
}

/** host.name and host.hostname from a host string the record itself carries. */
export function setHost(ev: EcsEvent, host: string | undefined): void {
  if (host === undefined || host === "" || host === "-") return;
  ev.host = { name: host, hostname: host };
  relate(ev, "hosts", host);
}
