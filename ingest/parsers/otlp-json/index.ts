// OpenTelemetry OTLP/JSON files and lines: ExportLogsServiceRequest and ExportTraceServiceRequest
// documents (one per line, or one pretty-printed document per file); every log record and span
// becomes an event. Metrics documents are rejected with a reason (Sigil ingests logs and traces).
import type { EcsEvent } from "../../../schema/ecs.ts";
import type { Parser } from "../types.ts";
import { DEFAULT_JSON_LIMITS } from "../types.ts";
import { lineParser } from "../common/line-parser.ts";
import { parseJsonObject } from "../common/json.ts";
import { logsToEvents, otlpSignal, tracesToEvents } from "./convert.ts";

export const parser: Parser = lineParser({
  name: "otlp-json",
  description: "OpenTelemetry OTLP/JSON logs and traces (ExportLogsServiceRequest, ExportTraceServiceRequest)",
  detect(sample) {
    if (!/^\s*\{/.test(sample)) return 0;
    return /"resource(Logs|Spans|Metrics)"\s*:/.test(sample) ? 0.99 : 0;
  },
  parse(rec, env) {
    const limits = env.ctx.jsonLimits ?? DEFAULT_JSON_LIMITS;
    const r = parseJsonObject(rec.data, { maxDepth: limits.maxDepth, maxFields: Number.MAX_SAFE_INTEGER });
    if (!r.ok) return r;
    const signal = otlpSignal(r.value);
    if (signal === "metrics") return { code: "otlp_metrics_unsupported", reason: "OTLP metrics are not ingested (Sigil takes OTLP logs and traces); send metrics to a metrics backend" };
    if (signal === null) return { code: "otlp_unknown_document", reason: "JSON has no resourceLogs or resourceSpans: not an OTLP/JSON export request" };
    const res = signal === "logs" ? logsToEvents(r.value, env.ctx.now().getTime(), rec.origin) : tracesToEvents(r.value);
    const events: EcsEvent[] = res.events;
    if (rec.host !== undefined) for (const e of events) if (!e.host?.name) e.host = { ...(e.host ?? {}), name: rec.host };
    if (events.length === 0 && res.rejected.length === 0) return { code: "otlp_empty", reason: `the OTLP ${signal} request holds no ${signal === "logs" ? "log records" : "spans"}` };
    return { events, rejected: res.rejected.map((x) => ({ code: x.code, reason: x.reason, data: x.data || undefined })) };
  },
});
