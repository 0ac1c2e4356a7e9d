// Loads a YAML config file plus SIGIL_* environment overrides into a typed, validated config.
// Every problem names the file, line, column and key (or the environment variable), with a hint.

import fs from "node:fs";
import { LineCounter, parseDocument, isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode } from "yaml";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { UsageError, formatProblem, type Location, type Problem } from "../errors.ts";
import { configSchema, type SigilConfig } from "./schema.ts";

export interface LoadOptions {
  /** Config file path; null or undefined means defaults plus environment only. */
  file?: string | null;
  /** Environment to read overrides from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Environment prefix (default "SIGIL_"). */
  envPrefix?: string;
}

export interface LoadResult<T> {
  config: T | null;
  problems: Problem[];
}

/** Loads Sigil's main config; throws a UsageError listing every problem. */
export function loadConfig(opts: LoadOptions = {}): SigilConfig {
  return unwrap(loadWithSchema(configSchema, opts), opts.file ?? undefined);
}

/** Validates without throwing: the config (or null) and every problem found. */
export function checkConfig(opts: LoadOptions = {}): LoadResult<SigilConfig> {
  return loadWithSchema(configSchema, opts);
}

export function unwrap<T>(r: LoadResult<T>, file?: string): T {
  const errors = r.problems.filter((p) => p.severity === "error");
  if (errors.length > 0 || r.config === null) {
    const first = errors[0];
    const text = errors.map(formatProblem).join("\n");
    throw new UsageError(first?.code ?? "config_invalid", `invalid config${file ? ` in ${file}` : ""}:\n${text}`, {
      location: first?.location,
      hint: "fix the keys above, or run `sigil check-config <file>` to see every problem",
    });
  }
  return r.config;
}

/** Loads any strict zod schema (the main config, the agent config, ...) from YAML and environment. */
export function loadWithSchema<S extends z.ZodType>(schema: S, opts: LoadOptions = {}): LoadResult<z.infer<S>> {
  const problems: Problem[] = [];
  const env = opts.env ?? process.env;
  const prefix = opts.envPrefix ?? "SIGIL_";
  const file = opts.file ?? undefined;
  let raw: Record<string, unknown> = {};
  let doc: Document | undefined;
  const lines = new LineCounter();

  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      problems.push({
        code: "config_file_unreadable",
        severity: "error",
        message: `cannot read config file: ${e.code ?? ""} ${e.message}`.trim(),
        location: { file },
        hint: "check the path given with --config (or SIGIL_CONFIG)",
      });
      return { config: null, problems };
    }
    doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
    for (const err of [...doc.errors, ...doc.warnings]) {
      const pos = lines.linePos(err.pos[0]);
      problems.push({
        code: err.code === "DUPLICATE_KEY" ? "config_duplicate_key" : "config_yaml_syntax",
        severity: doc.errors.includes(err) ? "error" : "warning",
        message: err.message.split("\n")[0],
        location: { file, line: pos.line, column: pos.col },
      });
    }
    if (doc.errors.length > 0) return { config: null, problems };
    const js = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (js === null || js === undefined) raw = {};
    else if (typeof js !== "object" || Array.isArray(js)) {
      problems.push({ code: "config_not_a_map", severity: "error", message: "the config file must be a YAML map of sections", location: { file, line: 1, column: 1 } });
      return { config: null, problems };
    } else raw = js as Record<string, unknown>;
  }

  const envSources = applyEnv(schema, raw, env, prefix, problems);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String);
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          const full = [...path, key];
          const known = knownKeys(schema, path);
          const guess = closest(key, known);
          problems.push({
            code: "config_unknown_key",
            severity: "error",
            message: `unknown key "${full.join(".")}"`,
            location: locate(full, { doc, lines, file, envSources, keyNode: true }),
            hint: guess ? `did you mean "${[...path, guess].join(".")}"?` : known.length ? `allowed here: ${known.join(", ")}` : undefined,
          });
        }
      } else {
        problems.push({
          code: "config_bad_value",
          severity: "error",
          message: `${path.join(".") || "(root)"}: ${issue.message}`,
          location: locate(path, { doc, lines, file, envSources, keyNode: false }),
        });
      }
    }
    return { config: null, problems };
  }
  return { config: parsed.data as z.infer<S>, problems };
}

interface LocateCtx {
  doc?: Document;
  lines: LineCounter;
  file?: string;
  envSources: Map<string, string>;
  keyNode: boolean;
}

function locate(path: string[], ctx: LocateCtx): Location {
  const dotted = path.join(".");
  for (let i = path.length; i > 0; i--) {
    const envName = ctx.envSources.get(path.slice(0, i).join("."));
    if (envName) return { source: `environment ${envName}`, key: dotted };
  }
  if (!ctx.doc || !ctx.file) return { key: dotted };
  // Walk down as far as the document goes; point at the deepest node found.
  let node: unknown = ctx.doc.contents;
  let offset: number | undefined = (node as YamlNode | null)?.range?.[0];
  for (let i = 0; i < path.length; i++) {
    if (isSeq(node) && /^\d+$/.test(path[i])) {
      // A list item (e.g. the agent's inputs[0]): step into it.
      const item = node.items[Number(path[i])] as YamlNode | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
      continue;
    }
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === path[i]);
    if (!pair) break;
    const last = i === path.length - 1;
    const keyRange = (pair.key as YamlNode).range;
    const valRange = (pair.value as YamlNode | null)?.range;
    offset = last && !ctx.keyNode && valRange ? valRange[0] : keyRange?.[0] ?? offset;
    node = pair.value;
  }
  if (offset === undefined) return { file: ctx.file, key: dotted };
  const pos = ctx.lines.linePos(offset);
  return { file: ctx.file, line: pos.line, column: pos.col, key: dotted };
}

/**
 * Applies SIGIL_<SECTION>__<KEY>__... environment variables onto the raw config. The first segment
 * must name a top-level key (SIGIL_DATA_DIR, SIGIL_BUS__TYPE); variables like SIGIL_SHARED_DATA that
 * name no section and have no "__" are not config and are ignored. Values are YAML scalars; a plain
 * string for a list-typed key is split on commas.
 */
function applyEnv(schema: z.ZodType, raw: Record<string, unknown>, env: NodeJS.ProcessEnv, prefix: string, problems: Problem[]): Map<string, string> {
  const sources = new Map<string, string>();
  const roots = new Set(knownKeys(schema, []));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(prefix) || value === undefined) continue;
    const rest = name.slice(prefix.length);
    const path = rest.split("__").map((s) => s.toLowerCase());
    if (!roots.has(path[0])) {
      if (rest.includes("__")) {
        problems.push({ code: "config_unknown_key", severity: "error", message: `environment variable ${name} names unknown section "${path[0]}"`, location: { source: `environment ${name}` }, hint: `sections: ${[...roots].join(", ")}` });
      }
      continue;
    }
    let parsed: unknown;
    try {
      parsed = value === "" ? "" : parseYaml(value);
    } catch {
      parsed = value;
    }
    const target = schemaAt(schema, path);
    if (target && typeName(target) === "array" && typeof parsed === "string") parsed = parsed.split(",").map((s) => s.trim()).filter(Boolean);
    if (target && typeName(target) === "string" && parsed !== null && typeof parsed !== "string") parsed = value;
    let cur: Record<string, unknown> = raw;
    for (let i = 0; i < path.length - 1; i++) {
      const k = path[i];
      if (k === "__proto__" || k === "constructor" || k === "prototype") return sources;
      const next = cur[k];
      if (next === null || typeof next !== "object" || Array.isArray(next)) cur[k] = {};
      cur = cur[k] as Record<string, unknown>;
    }
    cur[path[path.length - 1]] = parsed;
    sources.set(path.join("."), name);
  }
  return sources;
}

type AnySchema = z.ZodType & { _zod: { def: Record<string, unknown> } };

function typeName(s: z.ZodType): string {
  return String((unwrapSchema(s) as AnySchema)._zod.def.type);
}

/** Strips default/prefault/optional/nullable wrappers. */
function unwrapSchema(s: z.ZodType): z.ZodType {
  let cur = s as AnySchema;
  for (let i = 0; i < 10; i++) {
    const def = cur._zod.def;
    if (["default", "prefault", "optional", "nullable", "readonly", "catch"].includes(String(def.type)) && def.innerType) cur = def.innerType as AnySchema;
    else if (def.type === "pipe" && def.in) cur = def.in as AnySchema;
    else break;
  }
  return cur;
}

function schemaAt(schema: z.ZodType, path: string[]): z.ZodType | undefined {
  let cur: z.ZodType | undefined = schema;
  for (const k of path) {
    if (!cur) return undefined;
    const u = unwrapSchema(cur) as AnySchema;
    const def = u._zod.def;
    if (def.type === "object") cur = (def.shape as Record<string, z.ZodType>)[k];
    else if (def.type === "record") cur = def.valueType as z.ZodType;
    else if (def.type === "array" && /^\d+$/.test(k)) cur = def.element as z.ZodType;
    else return undefined;
    // A union of objects (e.g. input types): look the next key up in the first option that has it.
    const next = cur ? (unwrapSchema(cur) as AnySchema)._zod.def : undefined;
    if (next?.type === "union" && Array.isArray(next.options)) cur = (next.options as z.ZodType[])[0];
  }
  return cur;
}

/** Keys an object schema allows at a path (for "did you mean" hints). */
export function knownKeys(schema: z.ZodType, path: string[]): string[] {
  const s = schemaAt(schema, path);
  if (!s) return [];
  const u = unwrapSchema(s) as AnySchema;
  return u._zod.def.type === "object" ? Object.keys(u._zod.def.shape as object) : [];
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** The config file to use: --config, else SIGIL_CONFIG, else none (defaults). */
export function configPathFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  return flag ?? env.SIGIL_CONFIG ?? null;
}
