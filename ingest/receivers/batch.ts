// Normalizing what a receiver took in one request or one flush: records grouped by format (a forced
// format, the agent's per-record hint, or detection per source whose result is remembered in a bounded
// cache), each group run through a Normalizer and flushed, rejections collected for the dead-letter topic.

import type { EcsEvent } from "../../schema/ecs.ts";
import { Normalizer } from "../normalize.ts";
import { getParser } from "../parsers/registry.ts";
import type { Emit, ParseContext, RawRecord, Rejection } from "../parsers/types.ts";

/** Formats decided per source (host + file), so later batches of a source skip detection. Bounded LRU. */
export class FormatCache {
  private readonly map = new Map<string, string>();
  constructor(private readonly max = 4096) {}
  get(key: string): string | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, format: string): void {
    this.map.delete(key);
    this.map.set(key, format);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}

export interface Group {
  /** A registry name, or "auto". */
  format: string;
  /** Source identity for the format cache (auto groups). */
  sourceKey?: string;
  records: RawRecord[];
}

export interface BatchResult {
  events: EcsEvent[];
  rejections: Rejection[];
}

/** Adds a record to the group for its format/source, and returns that group. */
export function addToGroup(groups: Map<string, Group>, rec: RawRecord, format: string, sourceKey: string): Group {
  const key = format === "auto" ? `auto\u0000${sourceKey}` : format;
  let g = groups.get(key);
  if (!g) {
    g = { format, sourceKey: format === "auto" ? sourceKey : undefined, records: [] };
    groups.set(key, g);
  }
  g.records.push(rec);
  return g;
}

/** Normalizes every group; the Normalizer of each is flushed, so multi-line records end with the batch. */
export function normalizeGroups(groups: Iterable<Group>, ctx: ParseContext, cache: FormatCache): BatchResult {
  const out: BatchResult = { events: [], rejections: [] };
  const emit: Emit = { event: (e) => out.events.push(e), reject: (r) => out.rejections.push(r) };
  for (const g of groups) {
    let format = g.format;
    if (format === "auto" && g.sourceKey !== undefined) format = cache.get(g.sourceKey) ?? "auto";
    if (format !== "auto" && !getParser(format)) {
      for (const r of g.records) out.rejections.push({ code: "unknown_format", reason: `format ${JSON.stringify(format)} is not one Sigil knows (see sigil normalize --list-formats)`, record: r });
      continue;
    }
    const n = new Normalizer({ format, ctx, pathHint: g.records[0]?.path });
    for (const r of g.records) n.push(r, emit);
    n.flush(emit);
    const decided = n.format;
    if (format === "auto" && g.sourceKey !== undefined && decided && getParser(decided)) cache.set(g.sourceKey, decided);
  }
  return out;
}
