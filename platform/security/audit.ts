// The audit log: append-only records of sign-ins, triage, rule, token, user and config changes,
// written to the store's `audit` collection. Sigil has no code path that edits or deletes them. Config
// changes are recorded when a role starts with a config that differs from the one it last ran with.

import { createHash, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { AuditRecord } from "../../schema/signal.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import { safeJsonParse } from "../../schema/fields.ts";
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

const MAX_CHANGED_KEYS = 200;
const MAX_VALUE_CHARS = 300;

/** The config as flat `dotted.key → JSON value` pairs (arrays as one value). Config holds secret references, never secrets. */
export function flattenConfig(value: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const k of Object.keys(value as Record<string, unknown>).sort()) flattenConfig((value as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = JSON.stringify(value) ?? "null";
  return out;
}

/**
 * Records a `config.change` audit record when the effective config a role starts with differs from the one
 * it last started with on this host (the first start records it too, with no previous fingerprint). Config
 * files change outside Sigil, so the change is seen, and attributed to this host, when it takes effect.
 * Returns the record, or null when nothing changed.
 */
export async function auditConfigChange(store: Store, role: string, config: unknown, opts: { host?: string; now?: () => Date } = {}): Promise<AuditRecord | null> {
  const host = (opts.host ?? hostname()).slice(0, 128);
  const flat = flattenConfig(config);
  const fingerprint = createHash("sha256").update(JSON.stringify(flat)).digest("hex");
  const id = `config-fingerprint:${role}:${host}`;
  const prev = (await store.get("state", id)) as { fingerprint?: string; values_json?: string } | null;
  if (prev?.fingerprint === fingerprint) return null;
  let before: Record<string, string> = {};
  try {
    before = prev?.values_json ? (safeJsonParse(prev.values_json) as Record<string, string>) : {};
  } catch {
    before = {};
  }
  const keys = [...new Set([...Object.keys(before), ...Object.keys(flat)])].filter((k) => before[k] !== flat[k]).sort();
  const clip = (v: string | undefined) => (v === undefined ? null : v.length > MAX_VALUE_CHARS ? `${v.slice(0, MAX_VALUE_CHARS)}…` : v);
  // a list (not an object keyed by setting): the audit index keeps a fixed set of fields
  const changes = keys.slice(0, MAX_CHANGED_KEYS).map((k) => ({ key: k, from: prev ? clip(before[k]) : null, to: clip(flat[k]) }));
  const rec = await new AuditLog(store, opts.now).record({
    actor: `${role}@${host}`,
    action: "config.change",
    target: role,
    details: { host, fingerprint, previous_fingerprint: prev?.fingerprint ?? null, first_start: !prev, changed_keys: keys.length, changes },
  });
  await store.put("state", [{ id, kind: "config_fingerprint", role, host, fingerprint, values_json: JSON.stringify(flat), "@timestamp": rec["@timestamp"] }]);
  return rec;
}
