// `sigil normalize --input <file|->... [--format <name>|auto]`: raw logs in, ECS events out (one JSON
// object per line on stdout); rejected records on stderr with file, line and reason; a summary at the end.

import type { Writable } from "node:stream";
import { EXIT, type Command } from "../command.ts";
import { UsageError, SigilError } from "../../platform/errors.ts";
import { PARSERS, PARSER_NAMES } from "../../ingest/parsers/registry.ts";
import { defaultParseContext, type Emit, type Rejection } from "../../ingest/parsers/types.ts";
import { Normalizer, checkFormat, checkTimezone, type NormalizeStats } from "../../ingest/normalize.ts";
import { DEFAULT_MAX_LINE_BYTES, openInput, readRecords } from "../../ingest/input.ts";

function write(out: Writable, text: string): Promise<void> | void {
  if (text.length === 0) return;
  if (!out.write(text)) return new Promise((resolve) => out.once("drain", () => resolve()));
}

function describeRejection(r: Rejection): string {
  const where = `${r.record.path ?? r.record.source}${r.record.line !== undefined ? `:${r.record.line}` : ""}`;
  const snippet = r.record.data.length > 120 ? `${r.record.data.slice(0, 120)}…` : r.record.data;
  return `${where}: rejected ${r.code}: ${r.reason}\n  ${JSON.stringify(snippet)}\n`;
}

interface Totals {
  lines: number;
  records: number;
  events: number;
  rejected: number;
  byCode: Record<string, number>;
  formats: Record<string, string>;
}

function addStats(t: Totals, s: NormalizeStats): void {
  t.records += s.records;
  t.events += s.events;
  t.rejected += s.rejected;
  for (const [k, v] of Object.entries(s.rejectedByCode)) t.byCode[k] = (t.byCode[k] ?? 0) + v;
}

export const command: Command = {
  name: "normalize",
  summary: "parse raw logs into ECS events (one JSON object per line)",
  usage: "normalize --input <file|->... [--format <name>|auto] [--timezone <tz>] [--now <time>]",
  description: `
Reads each input (a file, a gzip file, or - for stdin), detects its format from the first lines
(or uses --format), and prints one normalized ECS event per line on stdout. Records that cannot be
normalized are reported on stderr with their file, line and reason; nothing is dropped silently.
A summary (lines, events, rejected by reason, lines per second) ends the run on stderr.

Formats: ${PARSER_NAMES.join(", ")}.
Exit codes: 0 done (rejections are reported, not fatal; use --strict to fail on them),
1 an input could not be read, 2 bad usage, or every record of the input was rejected.`,
  options: {
    input: { type: "string", short: "i", multiple: true, valueName: "<file|->", description: "input file(s); - reads stdin; gzip is detected" },
    format: { type: "string", short: "f", valueName: "<name>", default: "auto", description: "input format, or auto to detect it per input" },
    timezone: { type: "string", valueName: "<tz>", default: "UTC", description: "time zone of timestamps that carry none (IANA name or +hh:mm)" },
    now: { type: "string", valueName: "<time>", description: "pin the clock (ISO 8601) that year-less syslog stamps are resolved against" },
    "max-line-bytes": { type: "string", valueName: "<n>", description: `longer lines are rejected as line_too_long (default ${DEFAULT_MAX_LINE_BYTES})` },
    quiet: { type: "boolean", short: "q", description: "do not list rejected records, only count them in the summary" },
    strict: { type: "boolean", description: "exit 2 when any record was rejected" },
    "summary-json": { type: "boolean", description: "print the summary as one JSON object on stderr" },
    "list-formats": { type: "boolean", description: "list the formats and exit" },
  },
  async run(args, ctx) {
    if (args.values["list-formats"]) {
      const width = Math.max(...PARSER_NAMES.map((n) => n.length)) + 2;
      await write(ctx.stdout, PARSER_NAMES.map((n) => `${n.padEnd(width)}${PARSERS[n].description}`).join("\n") + "\n");
      return EXIT.ok;
    }
    const inputs = (args.values.input as string[] | undefined) ?? [];
    if (inputs.length === 0) throw new UsageError("missing_input", "give at least one --input <file|->", { hint: "sigil normalize --input /var/log/auth.log" });
    const format = checkFormat(args.values.format as string | undefined);
    const timezone = checkTimezone(args.values.timezone as string | undefined);
    let now: (() => Date) | undefined;
    if (args.values.now !== undefined) {
      const t = Date.parse(args.values.now as string);
      if (Number.isNaN(t)) throw new UsageError("bad_time", `--now ${JSON.stringify(args.values.now)} is not an ISO 8601 time`, { hint: "e.g. --now 2024-11-01T00:00:00Z" });
      now = () => new Date(t);
    }
    let maxLine = DEFAULT_MAX_LINE_BYTES;
    if (args.values["max-line-bytes"] !== undefined) {
      maxLine = Number(args.values["max-line-bytes"]);
      if (!Number.isInteger(maxLine) || maxLine < 64) throw new UsageError("bad_option", "--max-line-bytes must be an integer >= 64");
    }
    const quiet = args.values.quiet === true;
    const parseCtx = defaultParseContext({ timezone, ...(now ? { now } : {}) });
    const totals: Totals = { lines: 0, records: 0, events: 0, rejected: 0, byCode: {}, formats: {} };
    const started = process.hrtime.bigint();
    let lastProgress = Date.now();
    const progress = (ctx.stderr as NodeJS.WriteStream).isTTY === true;
    let allRejected = false;

    for (const file of inputs) {
      if (ctx.signal.aborted) break;
      let stream;
      try {
        stream = await openInput(file, ctx.stdin);
      } catch (err) {
        throw new SigilError("input_unreadable", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { location: { file }, hint: "check the path and permissions" });
      }
      const source = file === "-" ? "stdin" : file;
      const n = new Normalizer({ format, ctx: parseCtx, pathHint: file === "-" ? undefined : file });
      let out = "";
      let err = "";
      const emit: Emit = {
        event(e) {
          out += JSON.stringify(e) + "\n";
        },
        reject(r) {
          if (!quiet) err += describeRejection(r);
        },
      };
      try {
        for await (const batch of readRecords(stream, { source, path: file === "-" ? undefined : file, maxLineBytes: maxLine })) {
          for (const rec of batch.records) n.push(rec, emit);
          for (const o of batch.overlong) {
            n.stats.records++;
            n.stats.rejected++;
            n.stats.rejectedByCode.line_too_long = (n.stats.rejectedByCode.line_too_long ?? 0) + 1;
            if (!quiet) err += describeRejection({ code: "line_too_long", reason: `line is ${o.bytes} bytes, longer than the ${maxLine}-byte limit (--max-line-bytes)`, record: o.record });
          }
          if (batch.documentTooLarge) {
            n.stats.records++;
            n.stats.rejected++;
            n.stats.rejectedByCode.document_too_large = (n.stats.rejectedByCode.document_too_large ?? 0) + 1;
            err += describeRejection({ code: "document_too_large", reason: `the JSON document is ${batch.documentTooLarge.bytes} bytes, more than the document limit`, record: batch.documentTooLarge.record });
          }
          await write(ctx.stdout, out);
          await write(ctx.stderr, err);
          out = "";
          err = "";
          if (progress && Date.now() - lastProgress > 2000) {
            lastProgress = Date.now();
            ctx.stderr.write(`sigil normalize: ${source}: ${n.stats.records} records, ${n.stats.events} events, ${n.stats.rejected} rejected\n`);
          }
          if (ctx.signal.aborted) break;
        }
      } catch (e) {
        await write(ctx.stdout, out);
        throw new SigilError("input_unreadable", `reading ${file} failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { location: { file }, hint: "a gzip file may be truncated or corrupt" });
      }
      n.flush(emit);
      await write(ctx.stdout, out);
      await write(ctx.stderr, err);
      addStats(totals, n.stats);
      totals.formats[source] = n.format ?? "unknown";
      if (n.stats.records > 0 && n.stats.rejected === n.stats.records) allRejected = true;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const summary = {
      inputs: totals.formats,
      records: totals.records,
      normalized: totals.events,
      rejected: totals.rejected,
      rejected_by_reason: totals.byCode,
      seconds: Math.round(seconds * 1000) / 1000,
      records_per_second: seconds > 0 ? Math.round(totals.records / seconds) : totals.records,
    };
    if (args.values["summary-json"]) ctx.stderr.write(JSON.stringify(summary) + "\n");
    else {
      const reasons = Object.entries(totals.byCode).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(" ");
      const fmts = Object.entries(totals.formats).map(([f, p]) => `${f} (${p})`).join(", ");
      ctx.stderr.write(`sigil normalize: ${fmts}: ${totals.records} records read, ${totals.events} events, ${totals.rejected} rejected${reasons ? ` [${reasons}]` : ""}, ${summary.records_per_second} records/s\n`);
    }
    if (allRejected) return EXIT.usage;
    if (args.values.strict && totals.rejected > 0) return EXIT.usage;
    return EXIT.ok;
  },
};
