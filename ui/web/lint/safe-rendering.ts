// The console's safe-rendering lint: log content is text, never HTML. Fails on `{@html}` in any
// component, on DOM sinks that parse HTML or run code (innerHTML, outerHTML, insertAdjacentHTML,
// document.write, srcdoc, eval, new Function, string timers), and on URL attributes (href, src, action,
// ...) whose value is not a static same-origin path or a call to safeHref(). Parses components with
// the Svelte compiler, so formatting tricks cannot hide a tag. Run by `npm run lint:web` and by its test.

import fs from "node:fs";
import path from "node:path";
import { parse } from "svelte/compiler";

export interface LintProblem {
  code: "svelte_html_tag" | "dangerous_sink" | "unsafe_url_attribute" | "svelte_parse_error";
  file: string;
  line: number;
  column: number;
  message: string;
}

const URL_ATTRS = new Set(["href", "src", "action", "formaction", "xlink:href", "srcdoc", "data", "poster", "background"]);
const SINKS: { re: RegExp; what: string }[] = [
  { re: /\.\s*(innerHTML|outerHTML)\s*[+]?=/, what: "assigning innerHTML/outerHTML parses HTML" },
  { re: /\binsertAdjacentHTML\s*\(/, what: "insertAdjacentHTML parses HTML" },
  { re: /\bdocument\s*\.\s*(write|writeln)\s*\(/, what: "document.write parses HTML" },
  { re: /\bcreateContextualFragment\s*\(/, what: "createContextualFragment parses HTML" },
  { re: /\bsrcdoc\b/, what: "srcdoc renders HTML" },
  { re: /(?<![.\w])eval\s*\(/, what: "eval runs code" },
  { re: /\bnew\s+Function\s*\(/, what: "new Function runs code" },
  { re: /\bset(Timeout|Interval)\s*\(\s*["'`]/, what: "a string timer runs code" },
  { re: /\bDOMParser\b/, what: "DOMParser parses HTML" },
];

function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** Removes comments (keeps offsets: replaced by spaces) so a commented-out sink is not reported. */
function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (m) => m.replace(/[^\n]/g, " "));
}

function scanCode(code: string, file: string, base: number, whole: string, out: LintProblem[]): void {
  const clean = stripComments(code);
  for (const { re, what } of SINKS) {
    const g = new RegExp(re.source, re.flags.includes("g") ? re.flags : re.flags + "g");
    for (const m of clean.matchAll(g)) {
      const at = lineCol(whole, base + (m.index ?? 0));
      out.push({ code: "dangerous_sink", file, ...at, message: `${what}: render log content as text` });
    }
  }
}

interface Node {
  type: string;
  start: number;
  end: number;
  name?: string;
  value?: unknown;
  expression?: { type: string; callee?: { type: string; name?: string } };
  [k: string]: unknown;
}

function isSafeUrlValue(value: unknown): boolean {
  if (value === true) return true;
  const parts = (Array.isArray(value) ? value : [value]) as Node[];
  if (parts.length === 0) return true;
  const first = parts[0];
  if (first.type === "Text") {
    const t = String((first as { data?: string }).data ?? "");
    // a static start that fixes the scheme and origin: a same-origin path, a fragment, or a data: image
    return /^(\/(?!\/)|#|data:image\/)/.test(t) || (parts.length === 1 && !/^\s*javascript:/i.test(t));
  }
  if (first.type === "ExpressionTag" && parts.length === 1) {
    const e = first.expression;
    return e?.type === "CallExpression" && e.callee?.type === "Identifier" && e.callee.name === "safeHref";
  }
  return false;
}

function walk(node: unknown, visit: (n: Node) => void): void {
  if (!node || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const x of node) walk(x, visit);
    return;
  }
  const n = node as Node;
  if (typeof n.type === "string") visit(n);
  for (const [k, v] of Object.entries(n)) {
    if (k === "parent" || k === "metadata") continue;
    if (v && typeof v === "object") walk(v, visit);
  }
}

export function lintComponent(file: string, text: string): LintProblem[] {
  const out: LintProblem[] = [];
  let ast: Node;
  try {
    ast = parse(text, { modern: true, filename: file }) as unknown as Node;
  } catch (err) {
    const e = err as { start?: { line: number; column: number }; message: string };
    return [{ code: "svelte_parse_error", file, line: e.start?.line ?? 1, column: (e.start?.column ?? 0) + 1, message: e.message }];
  }
  walk(ast["fragment"], (n) => {
    if (n.type === "HtmlTag") {
      out.push({ code: "svelte_html_tag", file, ...lineCol(text, n.start), message: "{@html} renders a string as HTML; render log content as text" });
    }
    if (n.type === "Attribute" && n.name && URL_ATTRS.has(n.name.toLowerCase()) && !isSafeUrlValue(n.value)) {
      out.push({ code: "unsafe_url_attribute", file, ...lineCol(text, n.start), message: `${n.name} takes a URL: start it with a static "/" path or wrap it in safeHref()` });
    }
    if (n.type === "ExpressionTag" || n.type === "Attribute" || n.type === "OnDirective") {
      scanCode(text.slice(n.start, n.end), file, n.start, text, out);
    }
  });
  for (const key of ["instance", "module"]) {
    const s = ast[key] as Node | null | undefined;
    if (s) scanCode(text.slice(s.start, s.end), file, s.start, text, out);
  }
  return byPosition(out);
}

function byPosition(out: LintProblem[]): LintProblem[] {
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

export function lintScript(file: string, text: string): LintProblem[] {
  const out: LintProblem[] = [];
  scanCode(text, file, 0, text, out);
  return byPosition(out);
}

function files(dir: string, out: string[] = []): string[] {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    if (ent.name === "node_modules" || ent.name === "dist" || ent.name.startsWith(".")) continue;
    const full = path.join(dir, ent.name);
    if (ent.isDirectory()) files(full, out);
    else if (/\.(svelte|ts|js)$/.test(ent.name) && !/\.test\.ts$/.test(ent.name) && !full.includes(`${path.sep}lint${path.sep}`)) out.push(full);
  }
  return out;
}

/** Lints every component and script under `dir` (the web app's src). */
export function lintSafeRendering(dir: string): LintProblem[] {
  const out: LintProblem[] = [];
  for (const f of files(dir)) {
    const text = fs.readFileSync(f, "utf8");
    out.push(...(f.endsWith(".svelte") ? lintComponent(f, text) : lintScript(f, text)));
  }
  return out;
}

// `node --import tsx ui/web/lint/safe-rendering.ts [dir]`: prints problems as file:line:col and exits 1 on any
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const dir = process.argv[2] ?? path.join(path.dirname(new URL(import.meta.url).pathname), "..", "src");
  const problems = lintSafeRendering(dir);
  for (const p of problems) process.stderr.write(`${path.relative(process.cwd(), p.file)}:${p.line}:${p.column}: error ${p.code}: ${p.message}\n`);
  if (problems.length === 0) process.stdout.write(`safe rendering: ${files(dir).length} files clean\n`);
  process.exitCode = problems.length ? 1 : 0;
}
