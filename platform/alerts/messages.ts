// What travels on the `alerts` topic: alert and chain updates, keyed by chain id. Producers (the chain
// builder, the console after triage) encode with `encodeAlertsMessage`; consumers decode with
// `decodeAlertsMessage`, which also accepts a bare Alert or Chain document.

import { safeJsonParse } from "../../schema/fields.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import type { Alert, Chain } from "../../schema/signal.ts";
import type { OutgoingMessage } from "../bus/types.ts";

export type AlertsMessage =
  | { kind: "alert"; alert: Alert; source?: "chains" | "triage" }
  | { kind: "chain"; chain: Chain; source?: "chains" };

/** The bus message for an alert or chain update: key = chain id (alert id when it has no chain). */
export function encodeAlertsMessage(msg: AlertsMessage): OutgoingMessage {
  const key = msg.kind === "alert" ? (msg.alert.chain_id ?? msg.alert.id) : msg.chain.id;
  return { key, value: JSON.stringify(msg), headers: { kind: msg.kind } };
}

function isObj(v: unknown): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function looksLikeChain(v: JsonObject): boolean {
  return typeof v["id"] === "string" && Array.isArray(v["steps"]) && typeof v["version"] === "number";
}

function looksLikeAlert(v: JsonObject): boolean {
  return typeof v["id"] === "string" && typeof v["status"] === "string" && typeof v["version"] === "number";
}

/** Decodes one message value; null when it is neither an alert nor a chain (the caller counts it). */
export function decodeAlertsMessage(value: Buffer | string): AlertsMessage | null {
  let v: unknown;
  try {
    v = safeJsonParse(typeof value === "string" ? value : value.toString("utf8"));
  } catch {
    return null;
  }
  if (!isObj(v)) return null;
  if (v["kind"] === "alert" && isObj(v["alert"]) && looksLikeAlert(v["alert"])) {
    const source = v["source"] === "triage" || v["source"] === "chains" ? v["source"] : undefined;
    return { kind: "alert", alert: v["alert"] as Alert, source };
  }
  if (v["kind"] === "chain" && isObj(v["chain"]) && looksLikeChain(v["chain"])) return { kind: "chain", chain: v["chain"] as Chain };
  if (looksLikeChain(v)) return { kind: "chain", chain: v as Chain };
  if (looksLikeAlert(v)) return { kind: "alert", alert: v as Alert };
  return null;
}
