// bench/store/es-cost: what indexing Sigil's events costs Elasticsearch, in its own CPU time. The
// events are the e2e benchmark's mix (real OpenSSH, Linux syslog and Apache access lines, normalized by
// Sigil, each copy under a new event.id), written through the Elasticsearch store in bulk batches as the
// index role writes them. Prints one JSON object: Elasticsearch CPU µs per event (from
// /proc/<pid>/stat of the node `sigil services up` started), events/s, and stored bytes per event.
// Run: npx tsx bench/store/es-cost.ts [--events 200000] [--batch 1000] [--concurrency 2] [--reps 3] [--services-dir .sigil/services]
// Compare two revisions by running this file from each tree against the same node, alternating.

import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { createLineNormalizer } from "../../ingest/normalize.ts";
import { readState } from "../../deploy/services/settings.ts";
import { procStats } from "../e2e/cluster.ts";
import type { Doc } from "../../platform/store/types.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { sharedDataDir } from "../../test/support/shared-data.ts";

process.env.SIGIL_LOG_LEVEL ??= "warn";
const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const N = Number(arg("events", "200000"));
const BATCH = Number(arg("batch", "1000"));
const CONC = Number(arg("concurrency", "2"));
const REPS = Number(arg("reps", "3"));
const ES = arg("es", "http://127.0.0.1:19200");
const ROOT = path.resolve(import.meta.dirname, "../..");

function fail(msg: string): never {
  process.stderr.write(`bench/store/es-cost: ${msg}\n`);
  process.exit(2);
}

/** The pid of the Elasticsearch node `sigil services up` runs (its CPU time is what this measures). */
function esPid(): number {
  const dir = path.resolve(arg("services-dir", process.env["SIGIL_SERVICES_DIR"] ?? path.join(ROOT, ".sigil/services")));
  const pid = readState(dir).elasticsearch?.pid;
  if (!pid) fail(`no Elasticsearch recorded in ${dir}: start the services first (node bin/sigil.js services up)`);
  if (procStats(pid) === null) fail(`the Elasticsearch pid recorded in ${dir} (${pid}) is not running: node bin/sigil.js services up`);
  return pid;
}

function cpuS(pid: number): number {
  const s = procStats(pid);
  if (s === null) fail(`Elasticsearch (pid ${pid}) stopped during the run`);
  return s.cpu_s;
}

/** The e2e mix's sample lines, normalized once. */
function sampleEvents(): EcsEvent[] {
  const data = sharedDataDir();
  if (!data) fail("no shared data (SIGIL_SHARED_DATA or ../shared/data): the samples are the real logs there");
  const out: EcsEvent[] = [];
  for (const rel of ["sshd-auth/loghub/OpenSSH_2k.log", "syslog-rfc3164/loghub/Linux_2k.log", "apache-access/elastic-examples/apache_logs.first5000.log"]) {
    const n = createLineNormalizer({ source: path.join(data, "logs", rel), onEvent: (e) => out.push(e), onReject: () => {} });
    fs.readFileSync(path.join(data, "logs", rel), "utf8").split("\n").forEach((l, i) => n.push(l, i + 1));
    n.end();
  }
  return out;
}

const pid = esPid();
const base = sampleEvents();
const { ElasticsearchStore } = await import("../../platform/store/elasticsearch.ts");
const runs: Array<{ es_cpu_s: number; wall_s: number; es_cpu_us_per_event: number; events_per_s: number; bytes_per_event: number | null }> = [];
for (let rep = 0; rep < REPS; rep++) {
  const prefix = `sigil-escost-${randomBytes(3).toString("hex")}-`;
  const store = new ElasticsearchStore({ node: ES, indexPrefix: prefix, retentionIntervalS: 0, bulkMaxDocs: BATCH });
  await store.init();
  const batches: Doc[][] = [];
  const now = new Date().toISOString();
  for (let i = 0; i < N; i += BATCH) {
    const b: Doc[] = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) {
      const e = base[j % base.length];
      // restamped to now, as the e2e load restamps its lines: events land in today's index, not in one per day of the samples
      b.push({ ...e, "@timestamp": now, event: { ...e.event, id: `${rep}-${j.toString(16).padStart(28, "0")}` } } as Doc);
    }
    batches.push(b);
  }
  const c0 = cpuS(pid);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < batches.length) await store.put("events", batches[next++]);
    }),
  );
  await store.refresh("events");
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuS(pid) - c0;
  const stats = (await fetch(`${ES}/${prefix}events*/_stats/store`).then((r) => r.json())) as { _all?: { primaries?: { store?: { size_in_bytes?: number } } } };
  const bytes = stats._all?.primaries?.store?.size_in_bytes;
  runs.push({ es_cpu_s: Math.round(cpu * 100) / 100, wall_s: Math.round(seconds * 100) / 100, es_cpu_us_per_event: Math.round((cpu * 1e7) / N) / 10, events_per_s: Math.round(N / seconds), bytes_per_event: bytes ? Math.round(bytes / N) : null });
  await fetch(`${ES}/${prefix}*`, { method: "DELETE" });
  await fetch(`${ES}/_index_template/${prefix}*`, { method: "DELETE" });
  await store.close();
}
const best = Math.min(...runs.map((r) => r.es_cpu_us_per_event));
process.stdout.write(
  JSON.stringify({ bench: "store-es-cost", events: N, batch: BATCH, concurrency: CONC, sample_events: base.length, runs, best_es_cpu_us_per_event: best, es_cores_at_10k_events_per_s: Math.round(best) / 100 }, null, 2) + "\n",
);
