// The chain side of the alert lifecycle: one alert per chain, created when the chain crosses the
// alert threshold and updated in place as it grows (never a second alert), with analysts' triage
// fields kept (platform/alerts/triage.ts preserveTriage) and every change audited. Idempotent under
// redelivery: an alert whose chain content is unchanged is not rewritten.

import { createHash } from "node:crypto";
import { derivedId } from "../../schema/event-id.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import type { Alert, AuditRecord, Chain } from "../../schema/signal.ts";
import { preserveTriage } from "../../platform/alerts/triage.ts";
import { levelForScore } from "./risk.ts";

/** A digest of what the analyst sees of a chain: its steps, their counts and the score. */
export function chainDigest(chain: Chain): string {
  const h = createHash("sha256");
  h.update(String(chain.score));
  for (const s of chain.steps) {
    h.update(s.signal_id);
    h.update("\u0000");
    h.update(String(s["count"] ?? 1));
  }
  h.update(String(chain["duplicate_count"] ?? 0));
  return h.digest("hex").slice(0, 32);
}

function titleFor(chain: Chain): string {
  const places = [...chain.entities.hosts, ...chain.entities.services];
  const who = places[0] ?? chain.entities.users[0] ?? chain.entities.ips[0] ?? "unknown entity";
  const extra = places.length > 1 ? ` (+${places.length - 1} more)` : "";
  const path = chain.tactics.length ? chain.tactics.join(" → ") : (chain.steps[0]?.rule.title ?? "signals");
  return `Attack chain on ${who}${extra}: ${path}`.slice(0, 300);
}

function auditRecord(alertId: string, version: number, action: string, at: string, details: JsonObject): AuditRecord {
  return { id: derivedId("audit", alertId, String(version), action), "@timestamp": at, actor: "system", action, target: alertId, outcome: "success", details };
}

export interface AlertUpdate {
  alert: Alert;
  audit: AuditRecord[];
}

/**
 * The alert for `chain` given the stored one (or null). Returns null when the stored alert already
 * shows this chain content. A closed alert whose chain gained steps is reopened ("new"): new evidence
 * deserves a new look; the audit says so.
 */
export function alertForChain(chain: Chain, stored: Alert | null, now: string): AlertUpdate | null {
  const digest = chainDigest(chain);
  if (stored && stored["chain_digest"] === digest) return null;
  const steps = chain.steps.length;
  const signalCount = typeof chain["signal_count"] === "number" ? (chain["signal_count"] as number) : steps;
  const incoming: Alert = {
    id: chain.id,
    "@timestamp": now,
    updated: now,
    version: 1,
    title: titleFor(chain),
    level: levelForScore(chain.score),
    risk_score: chain.score,
    status: "new",
    close_reason: null,
    assignee: null,
    notes: [],
    chain_id: chain.id,
    rule_ids: [...new Set(chain.steps.map((s) => s.rule.id))],
    tactics: chain.tactics,
    techniques: chain.techniques,
    entities: { users: chain.entities.users, hosts: chain.entities.hosts, ips: chain.entities.ips, services: chain.entities.services },
    first_seen: chain.first_seen,
    last_seen: chain.last_seen,
    signal_count: signalCount,
    duplicate_count: typeof chain["duplicate_count"] === "number" ? (chain["duplicate_count"] as number) : 0,
    step_count: steps,
    chain_digest: digest,
  };
  if (!stored) {
    return { alert: incoming, audit: [auditRecord(incoming.id, 1, "alert.create", now, { risk_score: chain.score, steps, signals: signalCount })] };
  }
  const alert = preserveTriage(incoming, stored);
  const audit: AuditRecord[] = [
    auditRecord(alert.id, alert.version, "alert.chain_update", now, { risk_score: chain.score, steps, signals: signalCount, previous_steps: (stored["step_count"] as number | undefined) ?? null }),
  ];
  const prevSteps = typeof stored["step_count"] === "number" ? (stored["step_count"] as number) : 0;
  if (stored.status === "closed" && steps > prevSteps) {
    alert.status = "new";
    alert.close_reason = null;
    audit.push(auditRecord(alert.id, alert.version, "alert.reopen", now, { reason: "the chain gained new steps after the alert was closed", previous_close_reason: stored.close_reason ?? null }));
  }
  return { alert, audit };
}

/** The alert of a chain that was merged into another: closed as a duplicate, pointing at the survivor. */
export function alertMergedInto(stored: Alert, intoChainId: string, now: string): AlertUpdate | null {
  if (stored["merged_into"] === intoChainId) return null;
  const version = (stored.version ?? 0) + 1;
  const alert: Alert = { ...stored, status: "closed", close_reason: "duplicate", merged_into: intoChainId, updated: now, version };
  return { alert, audit: [auditRecord(alert.id, version, "alert.merge", now, { into: intoChainId })] };
}

/**
 * The alert to store for a chain whose alert was published before any write (decision 0023) and not
 * stored yet: that very update when the chain is unchanged (so the caller can tell it went out already),
 * else the next version computed from the published one, audited as both changes.
 */
export function alertAfterEarly(chain: Chain, published: AlertUpdate, now: string): AlertUpdate {
  const next = alertForChain(chain, published.alert, now);
  return next ? { alert: next.alert, audit: [...published.audit, ...next.audit] } : published;
}

/** The alert of a chain merged away (alertMergedInto) whose alert was published but never stored: stored closed, both changes audited. */
export function mergedAfterEarly(published: AlertUpdate, intoChainId: string, now: string): AlertUpdate | null {
  const m = alertMergedInto(published.alert, intoChainId, now);
  return m ? { alert: m.alert, audit: [...published.audit, ...m.audit] } : null;
}
