// Turning raw input into ECS events: format auto-detection per file or stream (sniff the first lines,
// or force a format), a Normalizer that runs parser sessions and counts what it emits and rejects, and
// the line-by-line entry point `sigil detect` and `sigil replay` use for raw or already-ECS input.

import type { EcsEvent } from "../schema/ecs.ts";
import { UsageError } from "../platform/errors.ts";
import { JSON_FORMATS, PARSERS, PARSER_NAMES, getParser } from "./parsers/registry.ts";
import { defaultParseContext, type Emit, type ParseContext, type Parser, type ParserSession, type RawRecord, type Rejection } from "./parsers/types.ts";
import { isValidTimezone } from "./parsers/common/time.ts";
import { recordOfEvent } from "./parsers/common/event.ts";

/** Lines sampled before the format of an auto-detected stream is decided. */
export const DETECT_SAMPLE_LINES = 32;
/** Smallest average detect score that counts as a match. */
const MIN_SCORE = 0.3;

export interface DetectResult {
  format: string;
  score: number;
  /** Every parser's average score, best first (for --explain style diagnostics). */
  ranking: Array<{ format: string; score: number }>;
}

/**
 * Picks the parser that best explains the sample lines: each parser's detect() averaged over the
 * non-blank lines; the file name breaks ties between formats that look alike (nginx vs apache access).
 * Null when nothing scores at least MIN_SCORE.
 */
export function detectFormat(sample: readonly string[], pathHint?: string): DetectResult | null {
  // indented lines continue the record before them (multi-line syslog, stack traces): not samples
  const lines = sample.filter((l) => l.trim().length > 0 && !/^[ \t]/.test(l)).slice(0, DETECT_SAMPLE_LINES);
  if (lines.length === 0) return null;
  const hint = (pathHint ?? "").toLowerCase();
  const ranking: Array<{ format: string; score: number }> = [];
  for (const name of PARSER_NAMES) {
    const p = PARSERS[name];
    let sum = 0;
    for (const l of lines) {
      // a header line the parser declares (Zeek's #separator, #fields, #types ...) is full evidence for it
      if (p.isHeader && safeIsHeader(p, l)) {
        sum += 1;
        continue;
      }
      let s = 0;
      try {
        s = p.detect(l.length > 65_536 ? l.slice(0, 65_536) : l);
      } catch {
        s = 0;
      }
      sum += Number.isFinite(s) ? Math.max(0, Math.min(1, s)) : 0;
    }
    let score = sum / lines.length;
    // a file that opens with the parser's header (a self-describing log) is that parser's, however its
    // data lines score on their own
    if (p.isHeader && safeIsHeader(p, lines[0]) && safeDetect(p, lines[0]) >= 0.9) score = Math.max(score, 0.95);
    if (score > 0 && hint && nameHints(name).some((h) => hint.includes(h))) score = Math.min(1, score + 0.05);
    ranking.push({ format: name, score });
  }
  ranking.sort((a, b) => b.score - a.score || PARSER_NAMES.indexOf(a.format) - PARSER_NAMES.indexOf(b.format));
  const best = ranking[0];
  return best.score >= MIN_SCORE ? { format: best.format, score: best.score, ranking } : null;
}

/** Words in a file name that point at a format (access.log under nginx/ is nginx-access). */
function nameHints(format: string): string[] {
  switch (format) {
    case "nginx-access":
    case "nginx-error":
      return ["nginx"];
    case "apache-access":
    case "apache-error":
      return ["apache", "httpd"];
    case "sshd-auth":
      return ["auth", "secure"];
    case "zeek":
      return ["zeek", "bro"];
    case "suricata-eve":
      return ["eve", "suricata"];
    case "linux-auditd":
      return ["audit"];
    default:
      return [format];
  }
}

/** Validates a --format value: a registry name or "auto". */
export function checkFormat(format: string | undefined): string {
  const f = format ?? "auto";
  if (f !== "auto" && !getParser(f)) {
    throw new UsageError("unknown_format", `unknown format "${f}"`, { hint: `use one of: auto, ${PARSER_NAMES.join(", ")}` });
  }
  return f;
}

/** Validates a --timezone value. */
export function checkTimezone(tz: string | undefined): string {
  const t = tz ?? "UTC";
  if (!isValidTimezone(t)) throw new UsageError("unknown_timezone", `unknown time zone "${t}"`, { hint: 'use an IANA name such as "Europe/Berlin", "UTC", or an offset such as "+02:00"' });
  return t;
}

export interface NormalizerOptions {
  /** A registry name, or "auto" (default) to detect from the first lines. */
  format?: string;
  /** File name used as a detection hint. */
  pathHint?: string;
  ctx?: ParseContext;
}

/** What a Normalizer did so far. */
export interface NormalizeStats {
  records: number;
  events: number;
  rejected: number;
  rejectedByCode: Record<string, number>;
  /** Format per parser that handled records (auto mode may use several for mixed JSON). */
  formats: Record<string, number>;
}

/**
 * Runs parser sessions over a stream of records. In auto mode the first records are held until the
 * format is decided (DETECT_SAMPLE_LINES or flush). When the stream is JSON, each line is routed to
 * the JSON parser that recognizes it (mixed Windows, CloudTrail, ECS... lines in one file work).
 */
export class Normalizer {
  readonly stats: NormalizeStats = { records: 0, events: 0, rejected: 0, rejectedByCode: {}, formats: {} };
  private readonly ctx: ParseContext;
  private readonly forced: Parser | null;
  private readonly pathHint?: string;
  private chosen: Parser | null = null;
  private jsonRouting = false;
  private lastJson: Parser | null = null;
  private held: RawRecord[] = [];
  private readonly sessions = new Map<string, ParserSession>();

  constructor(opts: NormalizerOptions = {}) {
    this.ctx = opts.ctx ?? defaultParseContext();
    const f = checkFormat(opts.format);
    this.forced = f === "auto" ? null : getParser(f)!;
    this.chosen = this.forced;
    this.pathHint = opts.pathHint;
  }

  /** The format decided so far (null while still sampling in auto mode). */
  get format(): string | null {
    if (this.jsonRouting) return "json (per line)";
    return this.chosen?.name ?? null;
  }

  push(rec: RawRecord, emit: Emit): void {
    this.stats.records++;
    if (this.chosen === null && !this.jsonRouting) {
      this.held.push(rec);
      if (this.held.length >= DETECT_SAMPLE_LINES) this.decide(emit);
      return;
    }
    this.route(rec, emit);
  }

  flush(emit: Emit): void {
    if (this.chosen === null && !this.jsonRouting && this.held.length > 0) this.decide(emit);
    const counted = this.counting(emit);
    for (const s of this.sessions.values()) {
      try {
        s.flush(counted);
      } catch (err) {
        // parsers never throw; if one does, nothing buffered may vanish silently
        counted.reject({ code: "parser_crashed", reason: `parser failed while flushing: ${(err as Error).message}`, record: { data: "", source: this.pathHint ?? "input" } });
      }
    }
  }

  private decide(emit: Emit): void {
    const held = this.held;
    this.held = [];
    const d = detectFormat(held.map((r) => r.data), this.pathHint ?? held[0]?.path);
    const allJson = held.every((r) => /^\s*[[{]/.test(r.data) || r.data.trim().length === 0);
    if (d && JSON_FORMATS.has(d.format) && allJson) this.jsonRouting = true;
    else if (d) this.chosen = getParser(d.format)!;
    const counted = this.counting(emit);
    for (const r of held) {
      if (!d) {
        counted.reject({ code: "format_unknown", reason: `no parser recognizes this input (tried ${PARSER_NAMES.length} formats); force one with --format`, record: r });
        continue;
      }
      this.route(r, emit);
    }
  }

  private route(rec: RawRecord, emit: Emit): void {
    let p = this.chosen;
    if (this.jsonRouting) p = this.pickJson(rec.data);
    if (!p) {
      this.counting(emit).reject({ code: "format_unknown", reason: "no JSON parser recognizes this record", record: rec });
      return;
    }
    let s = this.sessions.get(p.name);
    if (!s) {
      s = p.open(this.ctx);
      this.sessions.set(p.name, s);
    }
    this.stats.formats[p.name] = (this.stats.formats[p.name] ?? 0) + 1;
    this.current = rec;
    try {
      s.push(rec, this.counting(emit));
    } catch (err) {
      this.counting(emit).reject({ code: "parser_crashed", reason: `parser ${p.name} failed: ${(err as Error).message}`, record: rec });
    }
  }

  /** The JSON parser for one line: the last one used when it still recognizes it, else the best. */
  private pickJson(data: string): Parser | null {
    const sample = data.length > 65_536 ? data.slice(0, 65_536) : data;
    if (this.lastJson && safeDetect(this.lastJson, sample) >= 0.5) return this.lastJson;
    let best: Parser | null = null;
    let bestScore = MIN_SCORE - 1e-9;
    for (const name of JSON_FORMATS) {
      const p = PARSERS[name];
      const s = safeDetect(p, sample);
      if (s > bestScore) {
        best = p;
        bestScore = s;
      }
    }
    if (best) this.lastJson = best;
    return best;
  }

  /** The record being pushed: events a parser emits without a position get its file and offset. */
  private current: RawRecord | null = null;
  private emitWrapper: Emit | null = null;
  private wrappedFor: Emit | null = null;

  /** Wraps an Emit so stats count what passes through (one wrapper per downstream Emit). */
  private counting(emit: Emit): Emit {
    if (this.wrappedFor === emit && this.emitWrapper) return this.emitWrapper;
    const st = this.stats;
    this.wrappedFor = emit;
    const currentRecord = () => this.current;
    this.emitWrapper = {
      event(e: EcsEvent, from?: RawRecord) {
        st.events++;
        const known = from ?? recordOfEvent.get(e);
        if (e.log?.offset === undefined && (e.log?.file as { path?: string } | undefined)?.path === undefined) {
          const rec = known ?? currentRecord();
          if (rec && (rec.path !== undefined || rec.offset !== undefined)) {
            const log = (e.log ??= {});
            if (rec.path !== undefined) log.file = { path: rec.path };
            if (rec.offset !== undefined) log.offset = rec.offset;
          }
        }
        emit.event(e, known);
      },
      reject(r: Rejection) {
        st.rejected++;
        st.rejectedByCode[r.code] = (st.rejectedByCode[r.code] ?? 0) + 1;
        emit.reject(r);
      },
    };
    return this.emitWrapper;
  }
}

function safeIsHeader(p: Parser, line: string): boolean {
  try {
    return p.isHeader?.(line.length > 65_536 ? line.slice(0, 65_536) : line) === true;
  } catch {
    return false;
  }
}

function safeDetect(p: Parser, sample: string): number {
  try {
    const s = p.detect(sample);
    return Number.isFinite(s) ? s : 0;
  } catch {
    return 0;
  }
}

/**
 * Turns input lines (raw source shapes or already-normalized ECS, one record per line) into events for
 * `sigil detect` and `sigil replay`: auto-detects the format from the first lines, routes JSON lines
 * per line. Push lines in order, then call `end()`; rejected lines come back through `onReject`.
 */
export function createLineNormalizer(opts: {
  format?: string;
  source?: string;
  timezone?: string;
  now?: () => Date;
  onEvent: (e: EcsEvent, line: number | undefined) => void;
  onReject: (r: Rejection) => void;
}): { push(line: string, lineNo: number): void; end(): void; stats: NormalizeStats } {
  const ctx = defaultParseContext({ timezone: checkTimezone(opts.timezone), ...(opts.now ? { now: opts.now } : {}) });
  const n = new Normalizer({ format: opts.format, ctx, pathHint: opts.source });
  const source = opts.source ?? "input";
  let current: number | undefined;
  const emit: Emit = {
    event: (e, rec) => opts.onEvent(e, (rec ?? recordOfEvent.get(e))?.line ?? current),
    reject: (r) => opts.onReject(r),
  };
  return {
    push(line, lineNo) {
      if (line.trim().length === 0) return;
      current = lineNo;
      n.push({ data: line.endsWith("\r") ? line.slice(0, -1) : line, source, line: lineNo, origin: `${source}@${lineNo}` }, emit);
    },
    end() {
      n.flush(emit);
    },
    stats: n.stats,
  };
}
