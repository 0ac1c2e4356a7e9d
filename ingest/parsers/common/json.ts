// Hostile JSON for parsers: parse with safeJsonParse (no prototype keys), then bound nesting depth and
// the number of keys so one crafted record cannot blow the stack or the heap further down the pipeline.

import type { JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { safeJsonParse } from "../../../schema/fields.ts";
import { DEFAULT_JSON_LIMITS, type JsonLimits } from "../types.ts";

export type JsonResult = { ok: true; value: JsonValue } | { ok: false; code: string; reason: string };

/**
 * Parses `text` as JSON within limits; never throws. A `document` (a file of many records such as
 * {"Records": [...]}) is only depth-checked here: its parser checks each record with checkLimits.
 */
export function parseJson(text: string, limits: JsonLimits = DEFAULT_JSON_LIMITS, document = false): JsonResult {
  let value: JsonValue;
  try {
    value = safeJsonParse(text);
  } catch (err) {
    return { ok: false, code: "json_invalid", reason: `not valid JSON: ${(err as Error).message.slice(0, 160)}` };
  }
  const problem = checkLimits(value, document ? { maxDepth: limits.maxDepth, maxFields: Number.MAX_SAFE_INTEGER } : limits);
  if (problem) return { ok: false, code: problem.code, reason: problem.reason };
  return { ok: true, value };
}

/** Parses `text` as one JSON object (not an array or scalar). */
export function parseJsonObject(text: string, limits?: JsonLimits): { ok: true; value: JsonObject } | { ok: false; code: string; reason: string } {
  const r = parseJson(text, limits);
  if (!r.ok) return r;
  if (r.value === null || typeof r.value !== "object" || Array.isArray(r.value)) {
    return { ok: false, code: "json_not_object", reason: `expected a JSON object, got ${r.value === null ? "null" : Array.isArray(r.value) ? "an array" : typeof r.value}` };
  }
  return { ok: true, value: r.value };
}

/** The first limit a parsed value breaks, or null. Iterative, so depth itself cannot overflow the stack. */
export function checkLimits(value: JsonValue, limits: JsonLimits): { code: string; reason: string } | null {
  if (value === null || typeof value !== "object") return null;
  let fields = 0;
  const stack: Array<[JsonValue, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > limits.maxDepth) return { code: "json_too_deep", reason: `JSON nested deeper than ${limits.maxDepth} levels` };
    if (Array.isArray(v)) {
      fields += v.length;
      for (const x of v) if (x !== null && typeof x === "object") stack.push([x, depth + 1]);
    } else if (v !== null && typeof v === "object") {
      for (const k in v) {
        fields++;
        const x = (v as JsonObject)[k];
        if (x !== null && typeof x === "object") stack.push([x as JsonValue, depth + 1]);
      }
    }
    if (fields > limits.maxFields) return { code: "json_too_many_fields", reason: `JSON has more than ${limits.maxFields} keys and elements` };
  }
  return null;
}

/** `v` as a plain object, else undefined. */
export function asObject(v: unknown): JsonObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined;
}
