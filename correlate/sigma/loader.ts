// Loads Sigma rule files from files and directories: every .yml/.yaml file except rule sample files
// (`*.tests.yml`), classified per document, with all problems collected (lint mode) in one pass.

import fs from "node:fs";
import path from "node:path";
import type { Problem } from "../../platform/errors.ts";
import { DEFAULT_LIMITS, parseRuleText, registerDocKind } from "./parse.ts";

// Pipeline files (rules/pipelines/*.yml) may sit among rule folders; they are kept, not rejected.
registerDocKind({ kind: "pipeline", matches: (keys) => keys.includes("name") && (keys.includes("routes") || keys.includes("fields")) });
import type { LoadedRules, LoadOptions } from "./types.ts";

/** Sample events beside a rule: `<rule-stem>.tests.yml` (docs/decisions/0003). */
export const TESTS_SUFFIX = ".tests.yml";

export function isRuleFile(name: string): boolean {
  return (name.endsWith(".yml") || name.endsWith(".yaml")) && !name.endsWith(TESTS_SUFFIX) && !name.endsWith(".tests.yaml");
}

/** Rule files under the given files/directories, sorted for deterministic order. Throws for missing paths. */
export function listRuleFiles(paths: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        if (e.name.startsWith(".") || e.name === "node_modules") continue;
        const full = path.join(p, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.isFile() && isRuleFile(e.name)) add(full);
      }
    } else add(p);
  };
  const add = (f: string) => {
    const r = path.resolve(f);
    if (!seen.has(r)) {
      seen.add(r);
      out.push(f);
    }
  };
  for (const p of paths) walk(p);
  return out;
}

/** Loads and parses every rule file under `paths`. Never throws for bad rules; unreadable paths are problems. */
export function loadRules(paths: string[], opts: LoadOptions = {}): LoadedRules {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const placeholders = opts.placeholders ?? {};
  const result: LoadedRules = { rules: [], correlations: [], filters: [], others: [], problems: [], files: [], failedFiles: new Set() };
  let files: string[] = [];
  for (const p of paths) {
    try {
      files.push(...listRuleFiles([p]));
    } catch (err) {
      result.problems.push({ code: "rule_path_unreadable", message: `cannot read ${p}: ${(err as Error).message}`, severity: "error", location: { file: p } });
      result.failedFiles.add(p);
    }
  }
  files = [...new Set(files)];
  for (const file of files) {
    let text: string;
    try {
      const st = fs.statSync(file);
      if (st.size > limits.maxFileBytes) {
        result.problems.push({ code: "rule_file_too_large", message: `file is ${st.size} bytes; the limit is ${limits.maxFileBytes}`, severity: "error", location: { file, line: 1, column: 1 } });
        result.failedFiles.add(file);
        continue;
      }
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      result.problems.push({ code: "rule_file_unreadable", message: `cannot read: ${(err as Error).message}`, severity: "error", location: { file } });
      result.failedFiles.add(file);
      continue;
    }
    result.files.push(file);
    addParsed(result, file, text, placeholders, limits);
  }
  checkUnique(result);
  return result;
}

/** Loads rules from in-memory texts (tests, the console's rule editor). */
export function loadRuleTexts(texts: { file: string; text: string }[], opts: LoadOptions = {}): LoadedRules {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const result: LoadedRules = { rules: [], correlations: [], filters: [], others: [], problems: [], files: [], failedFiles: new Set() };
  for (const t of texts) {
    result.files.push(t.file);
    addParsed(result, t.file, t.text, opts.placeholders ?? {}, limits);
  }
  checkUnique(result);
  return result;
}

function addParsed(result: LoadedRules, file: string, text: string, placeholders: Record<string, string[]>, limits: typeof DEFAULT_LIMITS) {
  const parsed = parseRuleText(text, { file, placeholders, limits });
  result.problems.push(...parsed.problems);
  if (parsed.problems.some((p) => p.severity === "error")) result.failedFiles.add(file);
  for (const d of parsed.documents) {
    if (d.kind === "detection") result.rules.push(d);
    else if (d.kind === "correlation") result.correlations.push(d);
    else if (d.kind === "filter") result.filters.push(d);
    else result.others.push(d);
  }
}

function checkUnique(result: LoadedRules) {
  const ids = new Map<string, string>();
  const names = new Map<string, string>();
  const docs = [...result.rules.map((r) => ({ id: r.meta.id, name: r.meta.name, file: r.file, line: r.line })), ...result.correlations, ...result.filters];
  for (const d of docs) {
    const where = `${d.file}:${d.line}`;
    if (d.id) {
      const prev = ids.get(d.id);
      if (prev) result.problems.push(dup("rule_duplicate_id", `id ${d.id} is also used at ${prev}`, d.file, d.line));
      else ids.set(d.id, where);
    }
    if (d.name) {
      const prev = names.get(d.name);
      if (prev) result.problems.push(dup("rule_duplicate_name", `name ${d.name} is also used at ${prev}`, d.file, d.line));
      else names.set(d.name, where);
    }
  }
}

function dup(code: string, message: string, file: string, line: number): Problem {
  return { code, message, severity: "error", location: { file, line, column: 1 } };
}
