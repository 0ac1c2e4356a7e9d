// `sigil search`: the console's query language from the command line, against the configured store
// (embedded or Elasticsearch). Prints matching documents as JSON lines, or a count, a histogram or
// top values; pages with the store's cursor so --all streams any number of hits in bounded memory.

import path from "node:path";
import { loadConfig } from "../../platform/config/load.ts";
import { UsageError } from "../../platform/errors.ts";
import { openStore } from "../../platform/store/create.ts";
import { parseDateBound } from "../../platform/store/fields.ts";
import { parseQuery, queryLimitsFromConfig } from "../../platform/store/query.ts";
import { COLLECTIONS, type Collection, type SearchRequest, type SortSpec } from "../../platform/store/types.ts";
import { EXIT, configOption, writeLine, type Command } from "../command.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "5m", "1h", "250ms" or plain milliseconds. */
export function parseInterval(v: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new UsageError("bad_interval", `--histogram ${v}: give an interval such as 30s, 5m, 1h, 1d or milliseconds`);
  return Number(m[1]) * UNITS[m[2] ?? "ms"];
}

function timeArg(v: string | undefined, name: string, now: number): number | undefined {
  if (v === undefined) return undefined;
  const t = parseDateBound(v, now);
  if (t === null) throw new UsageError("bad_time", `--${name} ${v}: give an ISO 8601 time, epoch milliseconds or now-15m`);
  return t;
}

function sortArg(values: string[]): SortSpec[] | undefined {
  if (!values.length) return undefined;
  return values.map((s) => {
    const m = /^(.+?)(?::(asc|desc))?$/.exec(s);
    if (!m) throw new UsageError("bad_sort", `--sort ${s}: give field or field:asc|desc`);
    return { field: m[1], order: (m[2] ?? "asc") as "asc" | "desc" };
  });
}

export const command: Command = {
  name: "search",
  summary: "search the store with the console's query language",
  usage: 'search [<query>...] [--collection events] [--from now-1h] [--to now] [--size 100|--all] [--sort field:desc] [--count | --histogram 5m | --terms field]',
  description: [
    "Query syntax: field:value, field:\"phrase\", wildcards (process.name:power*), bare words and \"phrases\" as free text,",
    "AND / OR / NOT / -term, parentheses, _exists_:field, ranges (port:>=1024, x:[1 TO 5], @timestamp:>=now-15m), CIDR (source.ip:10.0.0.0/8).",
    "Field values match ignoring the case of ASCII letters; free text ignores case in every script. See docs/decisions/0007-query-language-and-semantics.md.",
    "Documents are printed as one JSON object per line, newest first unless --sort says otherwise.",
  ].join("\n"),
  positionals: true,
  options: {
    config: configOption,
    collection: { type: "string", valueName: "<name>", default: "events", description: `what to search: ${COLLECTIONS.join(", ")}` },
    from: { type: "string", valueName: "<time>", description: "inclusive start (ISO 8601, epoch ms or now-1h)" },
    to: { type: "string", valueName: "<time>", description: "exclusive end (ISO 8601, epoch ms or now)" },
    "time-field": { type: "string", valueName: "<field>", description: "the date field --from/--to apply to (default @timestamp)" },
    size: { type: "string", valueName: "<n>", default: "100", description: "documents to print (at most 10000), or top values for --terms" },
    all: { type: "boolean", description: "print every match, paging through the store" },
    sort: { type: "string", multiple: true, valueName: "<field[:asc|desc]>", description: "sort order (repeatable)" },
    count: { type: "boolean", description: "print only the number of matches" },
    histogram: { type: "string", valueName: "<interval>", description: "print match counts per time bucket (30s, 5m, 1h, 1d)" },
    terms: { type: "string", valueName: "<field>", description: "print the most frequent values of a field with their counts" },
  },
  async run(args, ctx) {
    const v = args.values;
    const collection = v.collection as string;
    if (!(COLLECTIONS as readonly string[]).includes(collection)) {
      ctx.stderr.write(`sigil search: unknown collection ${collection}; one of ${COLLECTIONS.join(", ")}\n`);
      return EXIT.usage;
    }
    const modes = [v.count, v.histogram, v.terms].filter((x) => x !== undefined && x !== false).length;
    if (modes > 1) {
      ctx.stderr.write("sigil search: choose one of --count, --histogram and --terms\n");
      return EXIT.usage;
    }
    const size = Number(v.size);
    if (!Number.isInteger(size) || size < 1) {
      ctx.stderr.write(`sigil search: --size ${String(v.size)} is not a positive whole number\n`);
      return EXIT.usage;
    }
    const config = loadConfig({ file: (v.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
    const text = args.positionals.join(" ");
    const query = parseQuery(text, queryLimitsFromConfig(config.store.query));
    const now = Date.now();
    const req: SearchRequest = { query, from: timeArg(v.from as string | undefined, "from", now), to: timeArg(v.to as string | undefined, "to", now) };
    if (v["time-field"]) req.timeField = v["time-field"] as string;
    const sort = sortArg((v.sort as string[] | undefined) ?? []);
    if (sort) req.sort = sort;

    const store = await openStore(config.store, path.resolve(ctx.cwd, config.data_dir));
    try {
      const c = collection as Collection;
      if (v.count) {
        await writeLine(ctx.stdout, JSON.stringify({ count: await store.count(c, req) }));
      } else if (v.histogram) {
        for (const b of await store.histogram(c, req, parseInterval(v.histogram as string))) await writeLine(ctx.stdout, JSON.stringify({ time: new Date(b.key).toISOString(), count: b.count }));
      } else if (v.terms) {
        for (const b of await store.terms(c, req, v.terms as string, Math.min(size, 10_000))) await writeLine(ctx.stdout, JSON.stringify(b));
      } else {
        let left = v.all ? Infinity : size;
        let after: string | undefined;
        let total: { total: number; lowerBound: boolean } | null = null;
        while (left > 0 && !ctx.signal.aborted) {
          const r = await store.search(c, { ...req, size: Math.min(left, 1000), after, trackTotalUpTo: total ? 0 : 10_000 });
          total ??= { total: r.total, lowerBound: r.totalIsLowerBound };
          for (const d of r.hits) await writeLine(ctx.stdout, JSON.stringify(d));
          left -= r.hits.length;
          if (!r.next || r.hits.length === 0) break;
          after = r.next;
        }
        if (total) ctx.stderr.write(`${total.total}${total.lowerBound ? "+" : ""} match${total.total === 1 ? "" : "es"}\n`);
      }
    } finally {
      await store.close();
    }
    return EXIT.ok;
  },
};
