// Console sign-in audit records as ECS events on the `events` topic (dataset sigil.audit), so detection
// rules see them like any other authentication log: the rule pack's console brute-force rules
// (rules/sigma/sigil/, rules/correlation/sigil/) fire on repeated failures followed by a success.

import type { EcsEvent } from "../../../schema/ecs.ts";
import { eventId } from "../../../schema/event-id.ts";
import type { AuditRecord } from "../../../schema/signal.ts";
import { validateEvent } from "../../../schema/validate.ts";
import { describeError } from "../../../platform/errors.ts";
import type { Logger } from "../../../platform/telemetry/log.ts";

export const AUDIT_DATASET = "sigil.audit";

/** Audit actions published as events, with their ECS event.type. */
const PUBLISHED: Record<string, string> = {
  "auth.sign_in": "start",
  "auth.sign_in_failed": "start",
  "auth.sign_out": "end",
};

/**
 * The ECS event of an audit record, or null for actions that are not sign-in events. The id is derived
 * from the record (its own unique id included), so a retried publish deduplicates downstream.
 */
export function auditEvent(rec: AuditRecord, node: string): EcsEvent | null {
  const type = PUBLISHED[rec.action];
  if (type === undefined) return null;
  const e: Record<string, unknown> = {
    "@timestamp": rec["@timestamp"],
    event: {
      id: eventId(AUDIT_DATASET, JSON.stringify([rec.id, rec["@timestamp"], rec.action, rec.actor, rec.outcome, rec.source_ip ?? null])),
      kind: "event",
      category: ["authentication"],
      type: [type],
      dataset: AUDIT_DATASET,
      module: "sigil",
      provider: "sigil-console",
      action: rec.action,
      outcome: rec.outcome,
    },
    user: { name: rec.actor },
    host: { name: node },
    service: { name: "sigil-console", type: "sigil" },
    labels: { audit_id: rec.id },
  };
  if (rec.source_ip) e["source"] = { ip: rec.source_ip };
  if (typeof rec.details?.["reason"] === "string") e["message"] = `${rec.action}: ${rec.details["reason"]}`;
  return e as unknown as EcsEvent;
}

/**
 * Publishes the event of an audit record on the `events` topic. A bus that cannot take it does not fail
 * the sign-in (the audit record is already durable in the store): the failure is logged with the
 * record's id.
 */
export async function publishAuditEvent(publish: ((events: EcsEvent[]) => Promise<void>) | undefined, rec: AuditRecord, node: string, log: Logger): Promise<void> {
  if (!publish) return;
  const e = auditEvent(rec, node);
  if (!e) return;
  const problems = validateEvent(e);
  if (problems.length) {
    log.error({ audit_id: rec.id, problems: problems.map((p) => p.code) }, "audit event does not validate; not published");
    return;
  }
  try {
    await publish([e]);
  } catch (err) {
    log.warn({ audit_id: rec.id, action: rec.action, event_id: e.event.id, err: describeError(err) }, "could not publish the sign-in audit event on the events topic; the audit record is stored");
  }
}
