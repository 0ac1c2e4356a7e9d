// Flattens an event to dotted field paths for the expandable field view. Keys from attacker-written
// logs stay data: entries are (path, value) pairs, never properties set on an object.

export interface FieldRow {
  path: string;
  value: string;
  kind: "string" | "number" | "boolean" | "null" | "array";
}

const MAX_ROWS = 2000;
const MAX_VALUE = 20_000;

export function flattenEvent(doc: unknown, prefix = "", out: FieldRow[] = []): FieldRow[] {
  if (out.length >= MAX_ROWS) return out;
  if (doc !== null && typeof doc === "object" && !Array.isArray(doc)) {
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
      flattenEvent(v, prefix ? `${prefix}.${k}` : k, out);
      if (out.length >= MAX_ROWS) break;
    }
    return out;
  }
  let value: string;
  let kind: FieldRow["kind"];
  if (Array.isArray(doc)) {
    kind = "array";
    value = doc.every((x) => typeof x !== "object" || x === null) ? doc.map((x) => String(x)).join(", ") : JSON.stringify(doc);
  } else if (doc === null) {
    kind = "null";
    value = "null";
  } else {
    kind = typeof doc === "number" ? "number" : typeof doc === "boolean" ? "boolean" : "string";
    value = String(doc);
  }
  out.push({ path: prefix || "(value)", value: value.length > MAX_VALUE ? value.slice(0, MAX_VALUE) + "…" : value, kind });
  return out;
}
