// File globs for the agent's inputs: compiled once into a walk plan (a fixed base folder plus one
// matcher per path segment), then expanded on every scan without re-parsing the pattern.

import fs from "node:fs/promises";
import path from "node:path";

type Segment = { kind: "literal"; name: string } | { kind: "pattern"; re: RegExp } | { kind: "globstar" };

export interface CompiledGlob {
  pattern: string;
  /** The longest folder without wildcards, where the walk starts. */
  base: string;
  segments: Segment[];
  /** Matches a whole absolute path (used for excludes and tests). */
  re: RegExp;
}

const MAX_DEPTH = 32;
/** Bound on paths one scan returns, so a pattern like /** cannot exhaust memory. */
export const MAX_GLOB_RESULTS = 100_000;

function hasMagic(s: string): boolean {
  return /[*?[{]/.test(s);
}

/** Translates one path segment (no "/") to a regular expression source. */
function segmentSource(seg: string): string {
  let out = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = seg.indexOf("]", i + 2);
      if (end < 0) out += "\\[";
      else {
        let body = seg.slice(i + 1, end);
        const negate = body.startsWith("!") || body.startsWith("^");
        if (negate) body = body.slice(1);
        out += `[${negate ? "^" : ""}${body.replace(/[\\\]]/g, "\\$&")}]`;
        i = end;
      }
    } else if (c === "{") {
      const end = seg.indexOf("}", i);
      if (end < 0) out += "\\{";
      else {
        out += `(?:${seg.slice(i + 1, end).split(",").map(segmentSource).join("|")})`;
        i = end;
      }
    } else if (c === "\\" && i + 1 < seg.length) {
      out += seg[++i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return out;
}

/** Compiles an absolute (or cwd-relative) glob pattern. */
export function compileGlob(pattern: string, cwd = process.cwd()): CompiledGlob {
  const abs = path.resolve(cwd, pattern);
  const parts = abs.split("/").filter((p) => p.length > 0);
  const baseParts: string[] = [];
  let i = 0;
  for (; i < parts.length - 1 && !hasMagic(parts[i]); i++) baseParts.push(parts[i]);
  const rest = parts.slice(i);
  const segments: Segment[] = rest.map((p) => (p === "**" ? { kind: "globstar" } : hasMagic(p) ? { kind: "pattern", re: new RegExp(`^${segmentSource(p)}$`) } : { kind: "literal", name: p }));
  const reSrc = rest.map((p) => (p === "**" ? "(?:[^/]+/)*" : segmentSource(p) + "/")).join("");
  const base = "/" + baseParts.join("/");
  const re = new RegExp(`^${base === "/" ? "/" : base.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&") + "/"}${reSrc.slice(0, -1)}$`);
  return { pattern, base, segments, re };
}

/** A matcher for exclude patterns: patterns without "/" match the file name, others the whole path. */
export function compileExcludes(patterns: string[], cwd = process.cwd()): (file: string) => boolean {
  const byName = patterns.filter((p) => !p.includes("/")).map((p) => new RegExp(`^${segmentSource(p)}$`));
  const byPath = patterns.filter((p) => p.includes("/")).map((p) => compileGlob(p, cwd).re);
  return (file) => {
    const name = path.basename(file);
    for (const re of byName) if (re.test(name)) return true;
    for (const re of byPath) if (re.test(file)) return true;
    return false;
  };
}

/** Regular files that match the glob now (symbolic links are followed). Missing folders yield nothing. */
export async function expandGlob(g: CompiledGlob, limit = MAX_GLOB_RESULTS): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string, si: number, depth: number): Promise<void> => {
    if (out.length >= limit || depth > MAX_DEPTH) return;
    if (si >= g.segments.length) return;
    const seg = g.segments[si];
    const last = si === g.segments.length - 1;
    if (seg.kind === "literal") {
      const p = path.join(dir, seg.name);
      if (last) {
        if (await isFile(p)) add(p);
      } else await walk(p, si + 1, depth + 1);
      return;
    }
    let entries: import("node:fs").Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (seg.kind === "globstar") {
      // "**" matches zero folders (continue with the next segment here) or one more (descend, stay on "**").
      if (last) {
        for (const e of entries) {
          const p = path.join(dir, e.name);
          if (await isFileEntry(e, p)) add(p);
          else if (await isDirEntry(e, p)) await walk(p, si, depth + 1);
        }
        return;
      }
      await walk(dir, si + 1, depth);
      for (const e of entries) {
        if (e.name.startsWith(".")) continue;
        const p = path.join(dir, e.name);
        if (await isDirEntry(e, p)) await walk(p, si, depth + 1);
      }
      return;
    }
    for (const e of entries) {
      if (!seg.re.test(e.name)) continue;
      const p = path.join(dir, e.name);
      if (last) {
        if (await isFileEntry(e, p)) add(p);
      } else if (await isDirEntry(e, p)) await walk(p, si + 1, depth + 1);
    }
  };
  const add = (p: string) => {
    if (!seen.has(p) && out.length < limit) {
      seen.add(p);
      out.push(p);
    }
  };
  if (g.segments.length === 0) {
    if (await isFile(g.base)) add(g.base);
    return out;
  }
  await walk(g.base, 0, 0);
  return out;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isFile();
  } catch {
    return false;
  }
}

async function isFileEntry(e: import("node:fs").Dirent, p: string): Promise<boolean> {
  if (e.isFile()) return true;
  return e.isSymbolicLink() ? isFile(p) : false;
}

async function isDirEntry(e: import("node:fs").Dirent, p: string): Promise<boolean> {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}
