// The alert lifecycle as pure functions shared by the chain builder (correlate) and the console's
// triage API (ui/server): an alert from a chain, triage changes (status, assignee, notes), and the
// audit record of every change. Both sides write the result with the store's optimistic `version`.

import { SigilError } from "../platform/errors.ts";
import { derivedId } from "./event-id.ts";
import type { JsonObject } from "./ecs.ts";
import { ALERT_STATUSES, type Alert, type AlertNote, type AlertStatus, type AuditRecord, type Chain, type Level } from "./signal.ts";

/** Suggested close reasons (any short reason is accepted; these are what the console offers). */
export const CLOSE_REASONS = ["true_positive", "false_positive", "benign_positive", "duplicate", "merged", "other"] as const;
export const MAX_NOTE_LENGTH = 10_000;
export const MAX_NOTES = 500;
export const MAX_CLOSE_REASON_LENGTH = 200;
export const MAX_ASSIGNEE_LENGTH = 128;

/** A change an analyst asks for. Absent fields are left as they are; `assignee: null` unassigns. */
export interface TriageChange {
  status?: AlertStatus;
  close_reason?: string;
  assignee?: string | null;
  note?: string;
}

export interface LifecycleResult {
  alert: Alert;
  audit: AuditRecord[];
}

function levelFor(score: number): Level {
  if (score >= 90) return "critical";
  if (score >= 70) return "high";
  if (score >= 47) return "medium";
  if (score >= 21) return "low";
  return "informational";
}

function titleFor(chain: Chain): string {
  const who = chain.entities.hosts[0] ?? chain.entities.services[0] ?? chain.entities.users[0] ?? chain.entities.ips[0] ?? "unknown entity";
  const path = chain.tactics.length ? chain.tactics.join(" → ") : (chain.steps[0]?.rule.title ?? "signals");
  const extra = chain.entities.hosts.length + chain.entities.services.length > 1 ? ` (+${chain.entities.hosts.length + chain.entities.services.length - 1} more)` : "";
  return `Attack chain on ${who}${extra}: ${path}`.slice(0, 300);
}

function audit(alertId: string, version: number, actor: string, action: string, at: string, details: JsonObject, sourceIp?: string): AuditRecord {
  const rec: AuditRecord = {
    id: derivedId("audit", alertId, String(version), actor, action),
    "@timestamp": at,
    actor,
    action,
    target: `alert:${alertId}`,
    outcome: "success",
    details,
  };
  if (sourceIp) rec.source_ip = sourceIp;
  return rec;
}

/**
 * The alert for a chain: created on first promotion, updated in place as the chain grows (never a
 * second alert). Triage fields (status, assignee, notes) are kept; a closed alert whose chain gained
 * new steps is reopened (status "new"), because new evidence deserves a new look. Returns null when
 * nothing changed (redelivery of the same chain version).
 */
export function alertFromChain(chain: Chain, current: Alert | null, now: string): LifecycleResult | null {
  const signalCount = typeof chain["signal_count"] === "number" ? (chain["signal_count"] as number) : chain.steps.length;
  const duplicates = typeof chain["duplicate_count"] === "number" ? (chain["duplicate_count"] as number) : 0;
  const ruleIds = [...new Set(chain.steps.map((s) => s.rule.id))];
  const base = {
    title: titleFor(chain),
    level: levelFor(chain.score),
    risk_score: chain.score,
    chain_id: chain.id,
    rule_ids: ruleIds,
    tactics: chain.tactics,
    techniques: chain.techniques,
    entities: { users: chain.entities.users, hosts: chain.entities.hosts, ips: chain.entities.ips, services: chain.entities.services },
    first_seen: chain.first_seen,
    last_seen: chain.last_seen,
    signal_count: signalCount,
    duplicate_count: duplicates,
    chain_version: chain.version,
  };
  if (!current) {
    const alert: Alert = { id: chain.id, "@timestamp": now, updated: now, version: 1, status: "new", close_reason: null, assignee: null, notes: [], ...base };
    return { alert, audit: [audit(alert.id, 1, "system", "alert.create", now, { chain_version: chain.version, risk_score: chain.score, steps: chain.steps.length })] };
  }
  const prevVersion = typeof current["chain_version"] === "number" ? (current["chain_version"] as number) : -1;
  if (prevVersion >= chain.version) return null;
  const prevSteps = typeof current["step_count"] === "number" ? (current["step_count"] as number) : current.signal_count - current.duplicate_count;
  const grew = chain.steps.length > prevSteps;
  const version = current.version + 1;
  const alert: Alert = { ...current, ...base, updated: now, version, step_count: chain.steps.length };
  const records: AuditRecord[] = [audit(alert.id, version, "system", "alert.chain_update", now, { chain_version: chain.version, risk_score: chain.score, steps: chain.steps.length, signals: signalCount })];
  if (grew && current.status === "closed") {
    alert.status = "new";
    alert.close_reason = null;
    records.push(audit(alert.id, version, "system", "alert.reopen", now, { reason: "chain gained new steps after the alert was closed", previous_close_reason: current.close_reason ?? null }));
  }
  return { alert, audit: records };
}

/** Marks the alert of a chain that was merged into another chain as closed, pointing at the survivor. */
export function closeAsMerged(current: Alert, intoChainId: string, now: string): LifecycleResult {
  const version = current.version + 1;
  const alert: Alert = { ...current, status: "closed", close_reason: "merged", merged_into: intoChainId, updated: now, version };
  return { alert, audit: [audit(alert.id, version, "system", "alert.merge", now, { into: intoChainId })] };
}

/**
 * Applies an analyst's change. Throws SigilError (exit 2 codes) for invalid changes:
 * alert_bad_status, alert_close_reason_required, alert_field_too_long, alert_too_many_notes,
 * alert_version_conflict (when `expectedVersion` is given and differs), alert_no_change.
 */
export function applyTriage(
  current: Alert,
  change: TriageChange,
  actor: string,
  now: string,
  opts: { expectedVersion?: number; sourceIp?: string; noteId?: string } = {},
): LifecycleResult {
  if (opts.expectedVersion !== undefined && opts.expectedVersion !== current.version) {
    throw new SigilError("alert_version_conflict", `alert ${current.id} is at version ${current.version}, not ${opts.expectedVersion}`, {
      hint: "reload the alert and apply the change again",
      exitCode: 2,
    });
  }
  const version = current.version + 1;
  const alert: Alert = { ...current, notes: [...(current.notes ?? [])], updated: now, version };
  const records: AuditRecord[] = [];
  let changed = false;
  if (change.status !== undefined && change.status !== current.status) {
    if (!(ALERT_STATUSES as readonly string[]).includes(change.status)) {
      throw new SigilError("alert_bad_status", `status must be one of ${ALERT_STATUSES.join(", ")}`, { exitCode: 2 });
    }
    if (change.status === "closed") {
      const reason = (change.close_reason ?? "").trim();
      if (!reason) throw new SigilError("alert_close_reason_required", "closing an alert needs a reason", { hint: `e.g. ${CLOSE_REASONS.join(", ")}`, exitCode: 2 });
      if (reason.length > MAX_CLOSE_REASON_LENGTH) throw new SigilError("alert_field_too_long", `close reason is longer than ${MAX_CLOSE_REASON_LENGTH} characters`, { exitCode: 2 });
      alert.close_reason = reason;
    } else {
      alert.close_reason = null;
    }
    alert.status = change.status;
    records.push(audit(current.id, version, actor, "alert.status", now, { from: current.status, to: change.status, close_reason: alert.close_reason ?? null }, opts.sourceIp));
    changed = true;
  } else if (change.status === undefined && change.close_reason !== undefined && current.status === "closed") {
    const reason = change.close_reason.trim();
    if (!reason) throw new SigilError("alert_close_reason_required", "a closed alert keeps a reason", { exitCode: 2 });
    if (reason.length > MAX_CLOSE_REASON_LENGTH) throw new SigilError("alert_field_too_long", `close reason is longer than ${MAX_CLOSE_REASON_LENGTH} characters`, { exitCode: 2 });
    if (reason !== current.close_reason) {
      alert.close_reason = reason;
      records.push(audit(current.id, version, actor, "alert.close_reason", now, { from: current.close_reason ?? null, to: reason }, opts.sourceIp));
      changed = true;
    }
  }
  if (change.assignee !== undefined) {
    const next = change.assignee === null ? null : change.assignee.trim() || null;
    if (next && next.length > MAX_ASSIGNEE_LENGTH) throw new SigilError("alert_field_too_long", `assignee is longer than ${MAX_ASSIGNEE_LENGTH} characters`, { exitCode: 2 });
    if (next !== (current.assignee ?? null)) {
      alert.assignee = next;
      records.push(audit(current.id, version, actor, "alert.assign", now, { from: current.assignee ?? null, to: next }, opts.sourceIp));
      changed = true;
    }
  }
  if (change.note !== undefined) {
    const text = change.note.trim();
    if (text.length > MAX_NOTE_LENGTH) throw new SigilError("alert_field_too_long", `note is longer than ${MAX_NOTE_LENGTH} characters`, { exitCode: 2 });
    if (alert.notes.length >= MAX_NOTES) throw new SigilError("alert_too_many_notes", `alert already has ${MAX_NOTES} notes`, { exitCode: 2 });
    if (text) {
      const note: AlertNote = { id: opts.noteId ?? derivedId("note", current.id, String(version), actor, text), author: actor, at: now, text };
      alert.notes.push(note);
      records.push(audit(current.id, version, actor, "alert.note", now, { note_id: note.id, length: text.length }, opts.sourceIp));
      changed = true;
    }
  }
  if (!changed) throw new SigilError("alert_no_change", "the change leaves the alert as it is", { exitCode: 2 });
  return { alert, audit: records };
}
