// The session of a parser whose records are independent (one line or one JSON document in, events or
// one rejection out): most formats. Catches what a parse function throws, so a bug in one parser
// becomes a rejection with a reason instead of a crash.

import type { EcsEvent } from "../../../schema/ecs.ts";
import type { Emit, ParseContext, Parser, ParserSession, RawRecord, Rejection } from "../types.ts";
import { compileZone, type ZoneOffset } from "./time.ts";

/** A part of a multi-record document that could not become an event; `data` is that part's own text. */
export interface PartRejection {
  code: string;
  reason: string;
  data?: string;
}

/** A document that yielded events and rejected some of its parts. */
export interface Mixed {
  events: EcsEvent[];
  rejected: PartRejection[];
}

/** What a parse function returns: one event, several, a rejection (the record is added here), or both. */
export type ParseResult = EcsEvent | EcsEvent[] | { code: string; reason: string } | Mixed;

export interface LineParserSpec {
  name: string;
  description: string;
  detect(sample: string): number;
  /** Parses one record; `env` is built once per session. */
  parse(rec: RawRecord, env: ParseEnv): ParseResult;
}

/** Per-session state handed to parse functions: the context and its compiled time zone. */
export interface ParseEnv {
  ctx: ParseContext;
  zone: ZoneOffset;
}

function isRejection(r: ParseResult): r is { code: string; reason: string } {
  return !Array.isArray(r) && typeof (r as { code?: unknown }).code === "string" && (r as { event?: unknown }).event === undefined;
}

function isMixed(r: ParseResult): r is Mixed {
  return !Array.isArray(r) && Array.isArray((r as Mixed).events) && Array.isArray((r as Mixed).rejected);
}

export function lineParser(spec: LineParserSpec): Parser {
  return {
    name: spec.name,
    description: spec.description,
    detect: spec.detect,
    open(ctx: ParseContext): ParserSession {
      const env: ParseEnv = { ctx, zone: compileZone(ctx.timezone) };
      return {
        push(rec: RawRecord, emit: Emit) {
          let r: ParseResult;
          try {
            r = spec.parse(rec, env);
          } catch (err) {
            const rej: Rejection = { code: `${spec.name.replace(/-/g, "_")}_parse_error`, reason: `could not parse the record: ${(err as Error).message}`.slice(0, 300), record: rec };
            emit.reject(rej);
            return;
          }
          if (Array.isArray(r)) for (const e of r) emit.event(e, rec);
          else if (isMixed(r)) {
            for (const e of r.events) emit.event(e, rec);
            for (const p of r.rejected) emit.reject({ code: p.code, reason: p.reason, record: p.data === undefined ? rec : { ...rec, data: p.data, bytes: undefined } });
          } else if (isRejection(r)) emit.reject({ code: r.code, reason: r.reason, record: rec });
          else emit.event(r, rec);
        },
        flush() {
          // records are independent: nothing is buffered
        },
      };
    },
  };
}
