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

/**
 * Normalizes records as they arrive, one Normalizer per format (or, in auto mode, per source, whose
 * decided format is remembered in the cache): nothing is held beyond what a parser needs (detection
 * samples, multi-line records). `finish` flushes every Normalizer, so multi-line records end with the batch.
 */
export class GroupNormalizer {
  private readonly groups = new Map<string, { n: Normalizer | null; sourceKey?: string; format: string }>();
  private lastFormat = "";
  private lastSource = "";
  private last: { n: Normalizer | null; sourceKey?: string; format: string } | null = null;
  readonly rejections: Rejection[] = [];

  constructor(
    private readonly ctx: ParseContext,
    private readonly cache: FormatCache,
    private readonly emit: Emit,
  ) {}

  /** Normalizes one record of `format` (a registry name or "auto") from the source `sourceKey`. */
  push(rec: RawRecord, format: string, sourceKey: string): void {
    let g = this.last;
    if (g === null || format !== this.lastFormat || sourceKey !== this.lastSource) {
      const key = format === "auto" ? `auto\u0000${sourceKey}` : format;
      g = this.groups.get(key) ?? null;
      if (g === null) {
        let f = format;
        if (f === "auto") f = this.cache.get(sourceKey) ?? "auto";
        g = { n: f === "auto" || getParser(f) ? new Normalizer({ format: f, ctx: this.ctx, pathHint: rec.path }) : null, sourceKey: format === "auto" ? sourceKey : undefined, format: f };
        this.groups.set(key, g);
      }
      this.last = g;
      this.lastFormat = format;
      this.lastSource = sourceKey;
    }
    if (g.n === null) this.rejections.push({ code: "unknown_format", reason: `format ${JSON.stringify(g.format)} is not one Sigil knows (see sigil normalize --list-formats)`, record: rec });
    else g.n.push(rec, this.emit);
  }

  /** Flushes every Normalizer and remembers the formats decided for auto sources. */
  finish(): void {
    for (const g of this.groups.values()) {
      if (g.n === null) continue;
      g.n.flush(this.emit);
      const decided = g.n.format;
      if (g.format === "auto" && g.sourceKey !== undefined && decided && getParser(decided)) this.cache.set(g.sourceKey, decided);
    }
  }
}

/**
 * Normalizes every group; the Normalizer of each is flushed, so multi-line records end with the batch.
 * With `onEvent`, events go there as they are made (and `events` stays empty).
 */
export function normalizeGroups(groups: Iterable<Group>, ctx: ParseContext, cache: FormatCache, onEvent?: (e: EcsEvent) => void): BatchResult {
  const out: BatchResult = { events: [], rejections: [] };
  const gn = new GroupNormalizer(ctx, cache, { event: onEvent ?? ((e) => out.events.push(e)), reject: (r) => out.rejections.push(r) });
  for (const g of groups) for (const r of g.records) gn.push(r, g.format, g.sourceKey ?? "");
  gn.finish();
  out.rejections.push(...gn.rejections);
  return out;
}
