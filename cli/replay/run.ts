// `sigil replay` as a function: inputs merged in event time → normalize → detect → correlate →
// baselines → signals, then the chain builder over the signals in time order, with the entity model
// learned from every event. Used by the command, the end-to-end tests and bench/replay.

import fs from "node:fs";
import type { Writable } from "node:stream";
import type { Chain, Signal } from "../../schema/signal.ts";
import type { SigilConfig } from "../../platform/config/schema.ts";
import { ChainBuilder } from "../../correlate/chains/builder.ts";
import { EntityModel } from "../../correlate/chains/model.ts";
import { Pipeline } from "../../correlate/pipeline.ts";
import { buildEngine, type Engine } from "../../correlate/engine.ts";
import { chainOptionsFrom } from "../../correlate/chains/config.ts";
import { checkInputs, displayName, inputBytes, mergeInputs, type InputRejection } from "./inputs.ts";
import { Progress } from "./progress.ts";

export interface ReplayOptions {
  inputs: string[];
  /** Rule directories: the project's pack (unless disabled) plus these. */
  rules: string[];
  config: SigilConfig;
  format?: string;
  timezone?: string;
  /** Include chains below the alert threshold in the result. */
  includeCandidates?: boolean;
  /** Write rejected input records here (NDJSON), with file, line and reason. */
  deadLetter?: string;
  /** "auto": a bar on a TTY; true: always; false: never. */
  progress?: boolean | "auto";
  cwd: string;
  stderr: Writable;
  /** A prebuilt engine (bench/tests reuse one across runs). */
  engine?: Engine;
}

export interface ReplaySummary {
  files: number;
  bytes: number;
  records_rejected: number;
  rejected_by_code: Record<string, number>;
  events: number;
  matches: number;
  signals: number;
  /** Signals past the in-memory buffer, linked in arrival order rather than event time. */
  signals_unsorted: number;
  chains: number;
  candidates: number;
  rules: { detection: number; correlation: number; anomaly: number };
  /** Wall time of the whole run, rule loading included. */
  seconds: number;
  /** Loading and compiling the rules (0 when the caller passed a built engine). */
  rules_seconds: number;
  /** Events per second of the replay itself, rule loading excluded. */
  events_per_second: number;
  formats: Record<string, string | null>;
}

export interface ReplayResult {
  chains: Chain[];
  signals: Signal[];
  summary: ReplaySummary;
}

/** Most signals buffered for chain building; more are counted and built in arrival order. */
const MAX_BUFFERED_SIGNALS = 2_000_000;

export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  checkInputs(o.inputs);
  const started = process.hrtime.bigint();
  const engine = o.engine ?? (await buildEngine({ rules: o.rules, config: o.config.correlate, cwd: o.cwd }));
  const loaded = process.hrtime.bigint();
  const model = new EntityModel();
  const signals: Signal[] = [];
  const chainOpts = chainOptionsFrom(o.config.correlate);
  const builder = new ChainBuilder(model, chainOpts);
  let overflowSignals = 0;
  const pipeline = new Pipeline({
    detection: engine.detection,
    correlation: null,
    baselines: null,
    model,
    onSignal: (s) => {
      if (signals.length < MAX_BUFFERED_SIGNALS) signals.push(s);
      else {
        overflowSignals++;
        builder.add(s);
      }
    },
  });
  engine.attach(pipeline);

  const names = new Map(o.inputs.map((f) => [f, displayName(f, o.cwd)]));
  const rejectedByCode: Record<string, number> = {};
  let rejected = 0;
  const dlq = o.deadLetter ? fs.createWriteStream(o.deadLetter) : null;
  const onReject = (raw: InputRejection) => {
    const r = { ...raw, file: names.get(raw.file) ?? raw.file };
    rejected++;
    rejectedByCode[r.code] = (rejectedByCode[r.code] ?? 0) + 1;
    if (dlq) dlq.write(JSON.stringify(r) + "\n");
    else if (rejected <= 5) o.stderr.write(`sigil replay: ${r.file}${r.line ? `:${r.line}` : ""}: rejected ${r.code}: ${r.reason}\n`);
  };
  const total = inputBytes(o.inputs);
  const progress = new Progress(o.stderr, total, o.progress ?? "auto");
  const formats: Record<string, string | null> = {};

  for await (const batch of mergeInputs(o.inputs, {
    format: o.format,
    timezone: o.timezone,
    onReject,
    onBytes: (n) => progress.bytes(n),
    onFormat: (f, fmt) => (formats[names.get(f) ?? f] = fmt),
  })) {
    for (const ev of batch) pipeline.process(ev.e, { file: names.get(ev.file) ?? ev.file, line: ev.line });
    progress.events(batch.length);
  }
  pipeline.finish();
  progress.done();
  if (dlq) await new Promise<void>((resolve) => dlq.end(() => resolve()));

  // chains in event time, with the entity statistics of the whole run
  signals.sort((a, b) => Date.parse(a["@timestamp"]) - Date.parse(b["@timestamp"]) || (a.event.id < b.event.id ? -1 : 1));
  for (const s of signals) builder.add(s);
  const chains = builder.chains({ includeCandidates: o.includeCandidates });
  const all = builder.chains({ includeCandidates: true });
  const ended = process.hrtime.bigint();
  const seconds = Number(ended - started) / 1e9;
  const replaySeconds = Number(ended - loaded) / 1e9;
  const summary: ReplaySummary = {
    files: o.inputs.length,
    bytes: total,
    records_rejected: rejected,
    rejected_by_code: rejectedByCode,
    events: pipeline.stats.events,
    matches: pipeline.stats.matches,
    signals: pipeline.stats.signals,
    signals_unsorted: overflowSignals,
    chains: all.filter((c) => builder.isPromoted(c.id)).length,
    candidates: all.filter((c) => !builder.isPromoted(c.id)).length,
    rules: { detection: engine.detection.ruleCount, correlation: engine.correlationRules, anomaly: engine.anomalyRules },
    seconds: Math.round(seconds * 1000) / 1000,
    rules_seconds: Math.round((seconds - replaySeconds) * 1000) / 1000,
    events_per_second: Math.round(pipeline.stats.events / Math.max(replaySeconds, 1e-9)),
    formats,
  };
  return { chains, signals, summary };
}

/** One chain as `sigil replay` prints it (the issue's format). */
export function replayChainJson(c: Chain): Record<string, unknown> {
  return {
    chain: {
      id: c.id,
      score: c.score,
      tactics: c.tactics,
      techniques: c.techniques,
      entities: { users: c.entities.users, hosts: c.entities.hosts, ips: c.entities.ips, services: c.entities.services },
      first_seen: c.first_seen,
      last_seen: c.last_seen,
      signals: c.steps.map((s) => ({
        "@timestamp": s["@timestamp"],
        rule: { id: s.rule.id, title: s.rule.title },
        technique: s.technique ?? null,
        why: s.why,
        events: s.events.map((e) => ({ id: e.id, file: e.file ?? null, line: e.line ?? null })),
      })),
    },
  };
}

export function formatSummary(s: ReplaySummary): string {
  const rej = Object.entries(s.rejected_by_code)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
  return (
    `replay: ${s.files} file(s), ${s.events.toLocaleString("en-US")} events` +
    (s.records_rejected ? `, ${s.records_rejected.toLocaleString("en-US")} records rejected (${rej})` : "") +
    `, ${s.rules.detection} detection / ${s.rules.correlation} correlation / ${s.rules.anomaly} anomaly rules` +
    `, ${s.matches.toLocaleString("en-US")} matches, ${s.signals.toLocaleString("en-US")} signals` +
    `, ${s.chains} chain(s) (${s.candidates} below the alert threshold)` +
    `, ${s.seconds.toFixed(2)} s (rules ${s.rules_seconds.toFixed(2)} s, then ${s.events_per_second.toLocaleString("en-US")} events/s)\n`
  );
}
