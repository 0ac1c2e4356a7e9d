// What a parser is: a named format that turns raw records into normalized ECS events, or rejects
// them with a reason. Parsers never throw; sessions carry state for multi-line formats
// (auditd records joined by serial, Zeek TSV #fields headers).

import type { EcsEvent } from "../../schema/ecs.ts";

/** One raw record as a receiver or file reader saw it. */
export interface RawRecord {
  /** The record's text: one line, one JSON document, one syslog message. */
  data: string;
  /** Where it came from, e.g. a file path, "syslog-udp 10.0.0.4:514", "http 10.0.0.9". */
  source: string;
  /** Path of the file the record was read from (sets log.file.path), when there is one. */
  path?: string;
  /** 1-based line number in the source file, when there is one. */
  line?: number;
  /** Byte offset in the source stream, when there is one. */
  offset?: number;
  /** The record's bytes when they are not valid UTF-8 (`data` then holds them decoded as Latin-1). */
  bytes?: Uint8Array;
  /** A stable id from the shipper (the agent's file identity + offset); part of event.id when present. */
  origin?: string;
  /** Host name the shipper reported, used when the record itself names none. */
  host?: string;
  /** Address of the peer that sent it (syslog, HTTP), used as a fallback for log.source / observer. */
  peer?: string;
}

/** Why a record could not become an event; goes to sigil.dlq with the raw bytes. */
export interface Rejection {
  /** Stable snake_case reason code, e.g. "syslog_bad_header", "json_invalid", "line_too_long". */
  code: string;
  reason: string;
  record: RawRecord;
}

export interface Emit {
  /**
   * An event, with the record it came from when the session knows it (receivers read the shipper's
   * envelope and the record's position from it; `recordOfEvent` answers for events emitted without it).
   */
  event(e: EcsEvent, rec?: RawRecord): void;
  reject(r: Rejection): void;
}

export interface ParseContext {
  /** The clock parsers use for year-less timestamps and event.ingested; pinned in tests. */
  now(): Date;
  /** IANA time zone (or "+hh:mm") assumed for timestamps that carry none; default UTC. */
  timezone: string;
  /** Bounds on JSON records (nesting depth, total keys); defaults in DEFAULT_JSON_LIMITS. */
  jsonLimits?: JsonLimits;
  /**
   * Offline readers (replay) only: how many records a parser may hold back to calibrate a source's
   * clock before emitting them (Windows exports whose TimeCreated is skewed; see windows-events-json).
   * Live ingest leaves it unset: nothing is held.
   */
  clockLookahead?: number;
}

export interface JsonLimits {
  maxDepth: number;
  maxFields: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxFields: 4096 };

export interface ParserSession {
  /** Parses one record, emitting zero or more events or a rejection. Never throws. */
  push(rec: RawRecord, emit: Emit): void;
  /** Emits what is still buffered (e.g. an incomplete auditd event) at the end of the input. */
  flush(emit: Emit): void;
}

export interface Parser {
  /** Folder name = registry key = config type = metric label = docs heading. */
  name: string;
  description: string;
  /** 0..1: how sure the parser is that a sample line/document is its format (for --format auto). */
  detect(sample: string): number;
  open(ctx: ParseContext): ParserSession;
  /**
   * True for lines that configure the session instead of carrying a record (Zeek "#fields ..."):
   * they produce neither an event nor a rejection. Parsers without such lines leave this out.
   */
  isHeader?(line: string): boolean;
}

/** The real clock of defaultParseContext: a session that sees it may read Date.now() instead of making a Date per record. */
export const systemNow = (): Date => new Date();

/** A context with the real clock and UTC. */
export function defaultParseContext(overrides: Partial<ParseContext> = {}): ParseContext {
  return { now: systemNow, timezone: "UTC", ...overrides };
}
