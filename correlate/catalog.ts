// The rule catalog the correlate role writes on every plan build (schema/rule-catalog.ts): every
// detection, correlation and anomaly rule of the running plan with its lint problems, so the console's
// Rules page and Health page show what runs without reaching into correlate.

import path from "node:path";
import type { Problem } from "../platform/errors.ts";
import { SigilError } from "../platform/errors.ts";
import type { Store } from "../platform/store/types.ts";
import { catalogDocs, type CatalogProblem, type CatalogRuleInput, type RuleCatalogHeader } from "../schema/rule-catalog.ts";
import type { Engine } from "./engine.ts";

/** Problems kept per rule and in the header (a broken rule set can have thousands). */
const MAX_PROBLEMS_PER_RULE = 50;
const MAX_HEADER_PROBLEMS = 500;
const MAX_MESSAGE = 1000;

function shownFile(file: string | undefined, cwd: string): string | undefined {
  if (file === undefined) return undefined;
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

export function catalogProblem(p: Problem, cwd: string): CatalogProblem {
  const out: CatalogProblem = { code: p.code, message: p.message.slice(0, MAX_MESSAGE), severity: p.severity === "error" ? "error" : "warning" };
  const file = shownFile(p.location?.file, cwd);
  if (file !== undefined) out.file = file;
  if (p.location?.line !== undefined) out.line = p.location.line;
  if (p.location?.column !== undefined) out.column = p.location.column;
  return out;
}

interface Located extends CatalogRuleInput {
  absFile?: string;
  line?: number;
}

/**
 * The catalog rows of an engine: one per rule of the plan, each with the loader's problems located in
 * its document (same file, the last rule starting at or before the problem's line); the problems of
 * files without a loaded rule go to the header.
 */
export function catalogRules(e: Engine, cwd: string): { rules: CatalogRuleInput[]; problems: CatalogProblem[] } {
  const rows: Located[] = [];
  for (const r of e.sigma.rules) {
    const i = r.info;
    const row: Located = { id: i.id, title: i.title, type: "detection", level: i.level, tags: [...i.tags], enabled: !r.inactive, absFile: i.file, line: i.line, problems: [] };
    if (i.status !== undefined) row.status = i.status;
    if (i.author !== undefined) row.author = i.author;
    if (r.inactive) row.problems!.push({ code: "rule_inactive", message: `loaded but not evaluated: ${r.inactive}`.slice(0, MAX_MESSAGE), severity: "warning", file: shownFile(i.file, cwd) ?? "", line: i.line });
    rows.push(row);
  }
  for (const c of e.correlationPlan.correlations) {
    const m = c.rule.meta;
    const row: Located = { id: c.id, title: m.title, type: "correlation", level: m.level, tags: [...(m.tags ?? [])], enabled: true, absFile: m.file, line: m.line, problems: [] };
    if (m.status !== undefined) row.status = m.status;
    if (m.author !== undefined) row.author = m.author;
    rows.push(row);
  }
  for (const a of e.baselines.anomalies) {
    const r = a.rule;
    const row: Located = { id: r.id, title: r.title, type: "anomaly", level: r.level, tags: [...r.tags], enabled: true, absFile: r.file, line: r.line, problems: [] };
    if (r.status !== undefined) row.status = r.status;
    if (r.author !== undefined) row.author = r.author;
    rows.push(row);
  }
  const byFile = new Map<string, Located[]>();
  for (const r of rows) {
    if (r.absFile === undefined) continue;
    const key = path.resolve(r.absFile);
    let list = byFile.get(key);
    if (!list) byFile.set(key, (list = []));
    list.push(r);
  }
  for (const list of byFile.values()) list.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const header: CatalogProblem[] = [];
  for (const p of e.problems) {
    const f = p.location?.file;
    const list = f !== undefined ? byFile.get(path.resolve(f.replace(/#.*$/, ""))) : undefined;
    let owner: Located | undefined;
    if (list) {
      const line = p.location?.line ?? 0;
      owner = list[0];
      for (const r of list) if ((r.line ?? 0) <= line) owner = r;
    }
    if (owner) {
      if (owner.problems!.length < MAX_PROBLEMS_PER_RULE) owner.problems!.push(catalogProblem(p, cwd));
    } else if (header.length < MAX_HEADER_PROBLEMS) header.push(catalogProblem(p, cwd));
  }
  const rules: CatalogRuleInput[] = rows.map(({ absFile, line: _line, ...r }) => {
    const file = shownFile(absFile, cwd);
    return file === undefined ? r : { ...r, file };
  });
  return { rules, problems: header };
}

/** Writes the catalog of the running plan and removes the entries of rules it no longer has. */
export class CatalogWriter {
  private written = new Set<string>();
  private header: RuleCatalogHeader | null = null;

  constructor(
    private readonly store: Store,
    private readonly opts: { cwd: string; node?: string; now?: () => Date },
  ) {}

  /** After every plan build: entries first, then the header (a reader never sees a header without its entries). */
  async write(e: Engine, planVersion: string): Promise<void> {
    const { rules, problems } = catalogRules(e, this.opts.cwd);
    const [header, ...entries] = catalogDocs({ planVersion, builtAt: (this.opts.now ?? (() => new Date()))(), node: this.opts.node, rules, problems });
    for (let i = 0; i < entries.length; i += 1000) await this.store.put("state", entries.slice(i, i + 1000));
    await this.store.put("state", [header]);
    const ids = new Set(entries.map((x) => x.id));
    const gone = [...this.written].filter((id) => !ids.has(id));
    if (gone.length) await this.store.delete("state", gone);
    this.written = ids;
    this.header = header;
  }

  /**
   * A rule change that does not compile: the running plan stays, and the header says why the change
   * was not taken (the error first, then the running plan's own problems).
   */
  async rejected(err: unknown): Promise<void> {
    if (!this.header) return;
    const p: Problem =
      err instanceof SigilError
        ? { code: err.code, message: `rules changed but do not compile; the running plan (${this.header.plan_version}) is kept: ${err.message}`, severity: "error", location: err.location }
        : { code: "rules_invalid", message: `rules changed but do not compile; the running plan (${this.header.plan_version}) is kept: ${String(err)}`, severity: "error" };
    const header: RuleCatalogHeader = { ...this.header, problems: [catalogProblem(p, this.opts.cwd), ...this.header.problems.filter((x) => !x.message.startsWith("rules changed but do not compile")).slice(0, MAX_HEADER_PROBLEMS - 1)] };
    await this.store.put("state", [header]);
  }
}

