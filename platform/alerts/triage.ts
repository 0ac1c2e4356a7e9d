// Alert triage shared by the console (analysts' changes) and the chain builder's alert lifecycle:
// validating a change, merging it field by field against the version the analyst started from, and
// keeping analysts' fields when the chain builder rewrites an alert. Pure functions plus one store helper.

import { randomUUID } from "node:crypto";
import { SigilError, UsageError } from "../errors.ts";
import type { Store } from "../store/types.ts";
import type { AuditLog } from "../security/audit.ts";
import type { JsonObject, JsonValue } from "../../schema/ecs.ts";
import { ALERT_STATUSES, type Alert, type AlertNote, type AlertStatus } from "../../schema/signal.ts";

/** Why an alert was closed. */
export const CLOSE_REASONS = ["true_positive", "benign_positive", "false_positive", "duplicate"] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** The fields analysts own; the chain builder never overwrites them (see `preserveTriage`). */
export const TRIAGE_FIELDS = ["status", "close_reason", "assignee", "notes"] as const;

export const NOTE_MAX_CHARS = 4000;
export const NOTES_MAX = 500;
const ASSIGNEE_RE = /^[\w.@-]{1,64}$/;

/** What an analyst asks for. Absent fields are left alone; `note` appends one note. */
export interface TriageChange {
  status?: AlertStatus;
  close_reason?: CloseReason | null;
  assignee?: string | null;
  note?: string;
}

/** The values of the changed fields as the analyst saw them (at `base_version`). */
export interface TriageBase {
  status?: AlertStatus;
  close_reason?: CloseReason | null;
  assignee?: string | null;
}

/** A field group that two analysts changed differently: the newer stored value was kept. */
export interface TriageConflict extends JsonObject {
  field: "status" | "assignee";
  base: JsonValue;
  yours: JsonValue;
  theirs: JsonValue;
}

export interface TriageOutcome {
  /** The alert after the merge (unchanged object when nothing applied). */
  alert: Alert;
  /** Field groups written: "status", "assignee", "note". */
  applied: string[];
  conflicts: TriageConflict[];
  /** from → to per written field, for the audit record. */
  changes: JsonObject;
}

/** Checks a change's shape and values; throws a UsageError (`triage_invalid`) naming the field. */
export function validateTriageChange(change: TriageChange): void {
  const bad = (key: string, msg: string, hint?: string) => {
    throw new UsageError("triage_invalid", `${key}: ${msg}`, { location: { key }, hint });
  };
  const keys = Object.keys(change);
  if (keys.length === 0) bad("change", "nothing to change", "send status, close_reason, assignee or note");
  for (const k of keys) {
    if (!["status", "close_reason", "assignee", "note"].includes(k)) bad(k, "unknown field", "triage fields are status, close_reason, assignee and note");
  }
  if (change.status !== undefined && !ALERT_STATUSES.includes(change.status)) bad("status", `must be one of ${ALERT_STATUSES.join(", ")}`);
  if (change.close_reason !== undefined && change.close_reason !== null && !(CLOSE_REASONS as readonly string[]).includes(change.close_reason)) {
    bad("close_reason", `must be one of ${CLOSE_REASONS.join(", ")}`);
  }
  if (change.status === "closed" && !change.close_reason) bad("close_reason", "closing an alert needs a reason", `one of ${CLOSE_REASONS.join(", ")}`);
  if (change.status !== undefined && change.status !== "closed" && change.close_reason) bad("close_reason", "only a closed alert has a close reason");
  if (change.status === undefined && change.close_reason !== undefined) bad("close_reason", "change the close reason together with status closed");
  if (change.assignee !== undefined && change.assignee !== null && (typeof change.assignee !== "string" || !ASSIGNEE_RE.test(change.assignee))) {
    bad("assignee", "must be a user name (1-64 of letters, digits, . _ @ -) or null");
  }
  if (change.note !== undefined) {
    if (typeof change.note !== "string" || change.note.trim().length === 0) bad("note", "must be non-empty text");
    if (change.note.length > NOTE_MAX_CHARS) bad("note", `is longer than ${NOTE_MAX_CHARS} characters`);
  }
}

function same(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return (a ?? null) === (b ?? null);
}

/**
 * Merges an analyst's change into the current alert. A field group (status with its close reason,
 * assignee) is written when the stored value is still the one the analyst started from (or already
 * equals the new value); when someone else changed it meanwhile, the stored value stays and the group
 * is reported as a conflict. Notes are appended and never conflict. `force` writes over conflicts
 * (the analyst saw the other change and chose theirs).
 */
export function mergeTriage(
  current: Alert,
  change: TriageChange,
  opts: { base?: TriageBase; baseVersion?: number; actor: string; now: Date; force?: boolean; noteId?: string },
): TriageOutcome {
  const unchangedSinceBase = opts.baseVersion !== undefined && opts.baseVersion === current.version;
  const base = opts.base ?? {};
  const next: Alert = { ...current };
  const applied: string[] = [];
  const conflicts: TriageConflict[] = [];
  const changes: JsonObject = {};

  if (change.status !== undefined) {
    const theirs = { status: current.status, close_reason: current.close_reason ?? null };
    const yours = { status: change.status, close_reason: change.status === "closed" ? (change.close_reason ?? null) : null };
    const baseVal = { status: base.status, close_reason: base.close_reason ?? null };
    const already = theirs.status === yours.status && same(theirs.close_reason, yours.close_reason);
    const baseKnown = base.status !== undefined;
    const untouched = unchangedSinceBase || (baseKnown && theirs.status === baseVal.status && same(theirs.close_reason, baseVal.close_reason));
    if (!already && (untouched || opts.force)) {
      next.status = yours.status;
      next.close_reason = yours.close_reason;
      applied.push("status");
      changes["status"] = { from: theirs.status, to: yours.status };
      if (!same(theirs.close_reason, yours.close_reason)) changes["close_reason"] = { from: theirs.close_reason, to: yours.close_reason };
    } else if (!already) {
      conflicts.push({
        field: "status",
        base: baseKnown ? fmtStatus(baseVal.status!, baseVal.close_reason) : null,
        yours: fmtStatus(yours.status, yours.close_reason),
        theirs: fmtStatus(theirs.status, theirs.close_reason),
      });
    }
  } else if (change.close_reason !== undefined && current.status === "closed" && change.close_reason) {
    if (!same(current.close_reason, change.close_reason)) {
      const untouched = unchangedSinceBase || same(current.close_reason, base.close_reason ?? null) || opts.force;
      if (untouched) {
        changes["close_reason"] = { from: current.close_reason ?? null, to: change.close_reason };
        next.close_reason = change.close_reason;
        applied.push("status");
      } else {
        conflicts.push({ field: "status", base: base.close_reason ?? null, yours: change.close_reason, theirs: current.close_reason ?? null });
      }
    }
  }

  if (change.assignee !== undefined) {
    const theirs = current.assignee ?? null;
    const yours = change.assignee ?? null;
    const untouched = unchangedSinceBase || ("assignee" in base && same(theirs, base.assignee ?? null));
    if (!same(theirs, yours)) {
      if (untouched || opts.force) {
        next.assignee = yours;
        applied.push("assignee");
        changes["assignee"] = { from: theirs, to: yours };
      } else {
        conflicts.push({ field: "assignee", base: "assignee" in base ? (base.assignee ?? null) : null, yours, theirs });
      }
    }
  }

  if (change.note !== undefined) {
    const notes = Array.isArray(current.notes) ? current.notes : [];
    if (notes.length >= NOTES_MAX) {
      throw new UsageError("alert_notes_full", `alert ${current.id} already has ${NOTES_MAX} notes`, { hint: "summarize the investigation in one note and close the alert" });
    }
    const note: AlertNote = { id: opts.noteId ?? randomUUID(), author: opts.actor, at: opts.now.toISOString(), text: change.note };
    next.notes = [...notes, note];
    applied.push("note");
    changes["note"] = { id: note.id, chars: note.text.length };
  }

  if (applied.length === 0) return { alert: current, applied, conflicts, changes };
  next.updated = opts.now.toISOString();
  next.version = (current.version ?? 0) + 1;
  return { alert: next, applied, conflicts, changes };
}

function fmtStatus(status: string, reason: JsonValue | undefined): string {
  return status === "closed" && reason ? `closed (${String(reason)})` : status;
}

/**
 * For the chain builder: the alert it is about to write, with the analysts' fields (status, close
 * reason, assignee, notes) taken from the stored alert, so a chain update never undoes triage. The
 * version continues from the stored one.
 */
export function preserveTriage(incoming: Alert, stored: Alert | null): Alert {
  if (!stored) return incoming;
  return {
    ...incoming,
    status: stored.status,
    close_reason: stored.close_reason ?? null,
    assignee: stored.assignee ?? null,
    notes: Array.isArray(stored.notes) ? stored.notes : [],
    "@timestamp": stored["@timestamp"] ?? incoming["@timestamp"],
    version: Math.max(stored.version ?? 0, incoming.version ?? 0) + 1,
  };
}

export interface TriageRequest {
  id: string;
  change: TriageChange;
  base?: TriageBase;
  baseVersion?: number;
  force?: boolean;
  actor: string;
  sourceIp?: string;
  now?: () => Date;
}

/**
 * Applies an analyst's change to a stored alert atomically (the store's read-modify-write, retried on
 * a version race) and appends one audit record per applied change. Throws `alert_not_found` for an
 * unknown id. Conflicting field groups are left as stored and returned.
 */
export async function triageAlert(store: Store, audit: AuditLog | null, req: TriageRequest): Promise<TriageOutcome> {
  validateTriageChange(req.change);
  const now = req.now ?? (() => new Date());
  const noteId = req.change.note !== undefined ? randomUUID() : undefined;
  let outcome: TriageOutcome | null = null;
  for (let attempt = 0; ; attempt++) {
    try {
      const at = now();
      const written = await store.update("alerts", req.id, (cur) => {
        if (!cur) return null;
        outcome = mergeTriage(cur as Alert, req.change, { base: req.base, baseVersion: req.baseVersion, actor: req.actor, now: at, force: req.force, noteId });
        return outcome.applied.length ? outcome.alert : null;
      });
      if (!outcome) throw new SigilError("alert_not_found", `no alert with id ${req.id}`, { exitCode: 2, hint: "it may have been deleted by retention; reload the queue" });
      const result = outcome as TriageOutcome;
      if (written) result.alert = written as Alert;
      break;
    } catch (err) {
      if (err instanceof SigilError && err.code === "store_conflict" && attempt < 5) {
        outcome = null;
        continue;
      }
      throw err;
    }
  }
  const result = outcome as TriageOutcome;
  if (audit && (result.applied.length || result.conflicts.length)) {
    await audit.record({
      actor: req.actor,
      action: "alert.update",
      target: req.id,
      outcome: result.applied.length ? "success" : "failure",
      details: { version: result.alert.version, applied: result.applied, changes: result.changes, conflicts: result.conflicts },
      source_ip: req.sourceIp,
    });
  }
  return result;
}
