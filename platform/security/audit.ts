// The audit log: append-only records of sign-ins, triage, rule, token, user and config changes,
// written to the store's `audit` collection. Sigil has no code path that edits or deletes them.

import { randomUUID } from "node:crypto";
import type { AuditRecord } from "../../schema/signal.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import type { Store } from "../store/types.ts";

export interface AuditInput {
  actor: string;
  action: string;
  target?: string;
  outcome?: "success" | "failure";
  details?: JsonObject;
  source_ip?: string;
}

export class AuditLog {
  constructor(private readonly store: Store, private readonly now = () => new Date()) {}

  /** Appends one record and resolves once it is durable. */
  async record(input: AuditInput): Promise<AuditRecord> {
    const rec: AuditRecord = {
      id: randomUUID(),
      "@timestamp": this.now().toISOString(),
      actor: input.actor,
      action: input.action,
      outcome: input.outcome ?? "success",
    };
    if (input.target !== undefined) rec.target = input.target;
    if (input.details !== undefined) rec.details = input.details;
    if (input.source_ip !== undefined) rec.source_ip = input.source_ip;
    await this.store.put("audit", [rec]);
    return rec;
  }
}
