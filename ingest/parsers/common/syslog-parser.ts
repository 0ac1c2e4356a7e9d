// The session the three syslog-framed parsers share: parse the header, join indented continuation lines
// (macOS multi-line records) onto the record before them, enrich authentication programs, finish.

import type { EcsEvent } from "../../../schema/ecs.ts";
import { systemNow, type Emit, type ParseContext, type Parser, type ParserSession, type RawRecord } from "../types.ts";
import { enrichAuth } from "./auth.ts";
import { finish, reject } from "./event.ts";
import { parseSyslog, syslogEvent, type SyslogHeader } from "./syslog.ts";
import { compileZone } from "./time.ts";

/** Continuation lines joined onto one record at most, and its largest joined size. */
const MAX_CONTINUATION_LINES = 1000;
const MAX_JOINED_CHARS = 256 * 1024;

interface Pending {
  rec: RawRecord;
  header: SyslogHeader;
  raw: string;
  lines: number;
}

export interface SyslogParserSpec {
  name: string;
  description: string;
  /** Dataset of lines from programs that are not authentication programs. */
  dataset: "system.syslog" | "system.auth";
  detect(sample: string): number;
}

export function syslogParser(spec: SyslogParserSpec): Parser {
  return {
    name: spec.name,
    description: spec.description,
    detect: spec.detect,
    open(ctx: ParseContext): ParserSession {
      const zone = compileZone(ctx.timezone);
      const nowMs = ctx.now === systemNow ? Date.now : () => ctx.now().getTime();
      let pending: Pending | null = null;

      const emitPending = (emit: Emit) => {
        const p = pending;
        if (!p) return;
        pending = null;
        const h = p.header;
        if (p.lines > 1) h.msg = joinContinuation(h.msg, p.raw);
        const ev = syslogEvent(h, spec.dataset);
        if (!ev) {
          emit.reject(reject("syslog_bad_timestamp", "the syslog timestamp is outside the years 1970..2199", p.rec));
          return;
        }
        if (enrichAuth(ev, (ev.process?.name as string | undefined), h.msg)) ev.event.dataset = "system.auth";
        if (p.lines > 1) (ev.log as Record<string, unknown>).flags = ["multiline"];
        emit.event(finish(ev as EcsEvent, p.rec, p.raw), p.rec);
      };

      return {
        push(rec, emit) {
          const line = rec.data;
          const c = line.charCodeAt(0);
          if ((c === 32 || c === 9) && line.trim().length > 0) {
            if (pending && pending.lines < MAX_CONTINUATION_LINES && pending.raw.length + line.length < MAX_JOINED_CHARS) {
              pending.raw += "\n" + line;
              pending.lines++;
              return;
            }
            if (!pending) {
              emit.reject(reject("syslog_orphan_continuation", "indented continuation line with no syslog record before it", rec));
              return;
            }
          }
          emitPending(emit);
          const h = parseSyslog(line, zone, nowMs());
          if (!h) {
            emit.reject(reject("syslog_bad_header", "no syslog header: expected <PRI>, an RFC 5424 header or a 'Mmm dd HH:MM:SS' / ISO 8601 stamp at the start of the line", rec));
            return;
          }
          pending = { rec, header: h, raw: line, lines: 1 };
        },
        flush(emit) {
          emitPending(emit);
        },
      };
    },
  };
}

/** The message of a joined record: the first line's message plus the continuation lines. */
function joinContinuation(firstMsg: string, raw: string): string {
  const nl = raw.indexOf("\n");
  return firstMsg + raw.slice(nl);
}
