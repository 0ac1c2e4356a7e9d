// A small YAML node model shared by two readers: a fast one (js-yaml, no positions) used for the
// common single-document rule file, and an exact one (`yaml`, with positions) used for multi-document
// files and whenever a file has a problem to report. Both apply the same scalar typing.

import jsyaml from "js-yaml";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Document, type Node, type Pair } from "yaml";

export type YNode =
  | { k: "map"; pos: number; entries: YEntry[] }
  | { k: "seq"; pos: number; items: YNode[] }
  | { k: "scalar"; pos: number; value: string | number | boolean | null; quoted: boolean };

export interface YEntry {
  key: string;
  keyPos: number;
  value: YNode;
}

export interface YDoc {
  root: YNode | null;
}

export interface YamlIssue {
  /** Problem code when it is not plain yaml_syntax / yaml_warning. */
  code?: string;
  message: string;
  pos: number;
  severity: "error" | "warning";
}

/** Plain decimal numbers only; hex, octal, exponents and `.inf` stay the strings the author wrote. */
const DECIMAL = /^[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;

const decimalInt = new jsyaml.Type("tag:yaml.org,2002:int", {
  kind: "scalar",
  resolve: (d: string | null) => d !== null && /^[-+]?(?:0|[1-9][0-9]*)$/.test(d),
  construct: (d: string) => Number(d),
  predicate: (o: unknown) => typeof o === "number" && Number.isInteger(o),
});
const decimalFloat = new jsyaml.Type("tag:yaml.org,2002:float", {
  kind: "scalar",
  resolve: (d: string | null) => d !== null && /^[-+]?(?:0|[1-9][0-9]*)\.[0-9]+$/.test(d),
  construct: (d: string) => Number(d),
  predicate: (o: unknown) => typeof o === "number" && !Number.isInteger(o),
});
// @types/js-yaml does not declare the `types` export that js-yaml 4 has.
const builtin = (jsyaml as unknown as { types: Record<"null" | "bool", InstanceType<typeof jsyaml.Type>> }).types;
const SCHEMA = jsyaml.FAILSAFE_SCHEMA.extend({ implicit: [builtin.null, builtin.bool, decimalInt, decimalFloat] });

/** Fast path: one document via js-yaml, or null when the text needs the exact reader. */
export function readFast(text: string): YDoc | null {
  // Multi-document files and meta documents go to the exact reader, which keeps positions for them.
  if (/^(?:---|\.\.\.)|^(?:correlation|filter|action)\s*:/m.test(text)) return null;
  let v: unknown;
  try {
    v = jsyaml.load(text, { schema: SCHEMA, json: false });
  } catch {
    return null;
  }
  try {
    return { root: v === undefined ? null : fromJs(v) };
  } catch (err) {
    if (err instanceof SharedCollection) return null;
    throw err;
  }
}

/** A list or map reached twice: a YAML alias of a collection, which the exact reader reports. */
class SharedCollection extends Error {}

function fromJs(v: unknown, seen = new Set<object>()): YNode {
  if (v !== null && typeof v === "object") {
    // js-yaml resolves `*alias` to the same object; expanding shared collections could be exponential
    if (seen.has(v)) throw new SharedCollection();
    seen.add(v);
  }
  if (Array.isArray(v)) return { k: "seq", pos: -1, items: v.map((x) => fromJs(x, seen)) };
  if (v !== null && typeof v === "object") {
    return { k: "map", pos: -1, entries: Object.entries(v as Record<string, unknown>).map(([key, val]) => ({ key, keyPos: -1, value: fromJs(val, seen) })) };
  }
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return { k: "scalar", pos: -1, value: v, quoted: false };
  return { k: "scalar", pos: -1, value: String(v), quoted: false };
}

/** Exact path: all documents with positions (offsets), plus YAML errors and warnings. */
export function readExact(text: string): { docs: YDoc[]; issues: YamlIssue[]; lc: LineCounter } {
  const lc = new LineCounter();
  const issues: YamlIssue[] = [];
  const docs: YDoc[] = [];
  let parsed;
  try {
    parsed = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true });
  } catch (err) {
    issues.push({ message: (err as Error).message, pos: 0, severity: "error" });
    return { docs, issues, lc };
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  for (const d of list) {
    for (const e of d.errors) issues.push({ message: e.message.split("\n")[0], pos: e.pos[0], severity: "error" });
    for (const w of d.warnings) issues.push({ message: w.message.split("\n")[0], pos: w.pos[0], severity: "warning" });
    if (d.errors.length) continue;
    // Aliases of lists and maps are refused: Sigma rules do not need them, and expanding nested ones
    // (a "billion laughs" file of a few hundred bytes) would stall the loader.
    let collectionAlias = false;
    visit(d, {
      Alias(_, a) {
        if (isScalar(a.resolve(d))) return;
        issues.push({ code: "yaml_alias_unsupported", message: `the alias *${a.source} names a list or map; rule files may alias only single values (write the list out)`, pos: a.range?.[0] ?? 0, severity: "error" });
        collectionAlias = true;
        return visit.BREAK;
      },
    });
    if (collectionAlias) continue;
    docs.push({ root: d.contents ? fromYaml(d.contents as Node, d) : null });
  }
  return { docs, issues, lc };
}

function fromYaml(n: Node | null | undefined, doc: Document): YNode {
  if (n === null || n === undefined) return { k: "scalar", pos: -1, value: null, quoted: false };
  // an alias of a single value (aliases of collections were refused above) reads as that value
  if (isAlias(n)) return fromYaml(n.resolve(doc) as Node | undefined, doc);
  const pos = n.range ? n.range[0] : -1;
  if (isMap(n)) {
    return {
      k: "map",
      pos,
      entries: n.items.map((p) => {
        const pair = p as Pair;
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyPos = (pair.key as Node | null)?.range?.[0] ?? pos;
        const value = pair.value === null || pair.value === undefined ? { k: "scalar" as const, pos: keyPos, value: null, quoted: false } : fromYaml(pair.value as Node, doc);
        return { key, keyPos, value };
      }),
    };
  }
  if (isSeq(n)) return { k: "seq", pos, items: n.items.map((x) => fromYaml(x as Node, doc)) };
  if (isScalar(n)) {
    const quoted = n.type === "QUOTE_SINGLE" || n.type === "QUOTE_DOUBLE" || n.type === "BLOCK_LITERAL" || n.type === "BLOCK_FOLDED";
    let v = n.value as unknown;
    if (typeof v === "number" && !quoted) {
      const src = typeof n.source === "string" ? n.source : String(v);
      if (!DECIMAL.test(src)) v = src;
    }
    if (typeof v === "bigint") v = String(v);
    if (!(v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean")) v = String(v);
    return { k: "scalar", pos, value: v as string | number | boolean | null, quoted };
  }
  return { k: "scalar", pos, value: String((n as { toJSON?: () => unknown }).toJSON?.() ?? ""), quoted: false };
}

/** Plain JS value of a node. */
export function toJs(n: YNode | null): unknown {
  if (!n) return null;
  if (n.k === "scalar") return n.value;
  if (n.k === "seq") return n.items.map(toJs);
  const o: Record<string, unknown> = {};
  for (const e of n.entries) Object.defineProperty(o, e.key, { value: toJs(e.value), enumerable: true, writable: true, configurable: true });
  return o;
}
