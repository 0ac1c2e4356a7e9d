// The correlate role: consumes `events` (entity model → Sigma plan → standalone signals and routing
// copies for the correlation runner → `signals`, events and signals to the store), runs the
// correlation runner on `signals`, and consumes `signals` for the chain builder (chains and alerts to
// the store and `alerts`). Named start/stop steps; offsets commit only after a batch is durable.

import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import type { Batch, BatchTaken, Bus, Consumer, OutgoingMessage, Producer } from "../platform/bus/types.ts";
import { partitionFor } from "../platform/bus/partitioner.ts";
import type { Store } from "../platform/store/types.ts";
import type { SigilConfig } from "../platform/config/schema.ts";
import { Lifecycle } from "../platform/lifecycle.ts";
import { describeError, SigilError } from "../platform/errors.ts";
import { AuditLog } from "../platform/security/audit.ts";
import { batchTraceFields, traceFields, type Logger } from "../platform/telemetry/log.ts";
import { metric, prom } from "../platform/telemetry/metrics.ts";
import { registerDependencyChecks } from "../platform/telemetry/role.ts";
import { isStoreRejectError } from "../platform/store/errors.ts";
import { updateEach } from "../platform/store/update-each.ts";
import { encodeAlertsMessage } from "../platform/alerts/messages.ts";
import type { EcsEvent, JsonObject } from "../schema/ecs.ts";
import { safeJsonParse } from "../schema/fields.ts";
import type { Alert, AuditRecord, Chain, Signal } from "../schema/signal.ts";
import { ChainBuilder } from "./chains/builder.ts";
import { EntityModel } from "./chains/model.ts";
import { chainOptionsFrom } from "./chains/config.ts";
import { alertAfterEarly, alertForChain, alertMergedInto, mergedAfterEarly, type AlertUpdate } from "./chains/alerts.ts";
import { restoreChainState } from "./chains/restore.ts";
import { Rounds } from "./chains/rounds.ts";
import { buildEngine, type Engine } from "./engine.ts";
import { listRuleFiles } from "./sigma/loader.ts";
import { Pipeline } from "./pipeline.ts";
import { EventsIndexer } from "./indexer.ts";
import { RoutingCorrelationStage } from "./correlation/stage.ts";
import { StatefulRunner, type KnownRules, type StatefulStage } from "./correlation/runner.ts";
import { correlationStage } from "./correlation/partition.ts";
import { RoutingBaselineStage, baselineStage } from "./baselines/stage.ts";
import { CatalogWriter } from "./catalog.ts";
import { BaselineHistoryWriter } from "./baselines/history.ts";

export interface CorrelateRoleOptions {
  config: SigilConfig;
  bus: Bus;
  store: Store;
  log: Logger;
  /** Rule directories (default: config correlate.rules, resolved against cwd). */
  rules?: string[];
  cwd: string;
  now?: () => Date;
}

export interface CorrelateRole {
  lifecycle: Lifecycle;
  /** Counters for tests and health. */
  stats: CorrelateStats;
  /** The chain builder (tests and `sigil start` status). */
  chains(): Chain[];
}

export interface CorrelateStats {
  events: number;
  malformed: number;
  signals: number;
  chainSignals: number;
  chainsWritten: number;
  alertsWritten: number;
  planSwaps: number;
}

const stageSeconds = () =>
  metric("sigil_correlate_batch_seconds", () => new prom.Histogram({ name: "sigil_correlate_batch_seconds", help: "Time to process one bus batch, by stage", labelNames: ["stage"], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10] }));
const counted = () =>
  metric("sigil_correlate_messages_total", () => new prom.Counter({ name: "sigil_correlate_messages_total", help: "Messages handled by the correlate role, by stage and outcome", labelNames: ["stage", "outcome"] }));

const ruleEvalSeconds = () =>
  metric(
    "sigil_correlate_rule_evaluation_seconds",
    () =>
      new prom.Histogram({
        name: "sigil_correlate_rule_evaluation_seconds",
        help: "Time to run one bus batch of events through the rule plan (Sigma detection, correlation and baseline routing), per batch",
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      }),
  );
const ruleEvalEvents = () =>
  metric("sigil_correlate_rule_evaluated_events_total", () => new prom.Counter({ name: "sigil_correlate_rule_evaluated_events_total", help: "Events run through the rule plan (divide rule evaluation time by it for the time per event)" }));
const planVersionGauge = () =>
  metric("sigil_correlate_rule_plan_version", () => new prom.Gauge({ name: "sigil_correlate_rule_plan_version", help: "The running rule plan's version: the first 32 bits of the hash of its rule files (equal on instances running the same rules)" }));
const planInfo = () =>
  metric("sigil_correlate_rule_plan_info", () => new prom.Gauge({ name: "sigil_correlate_rule_plan_info", help: "1 for the running rule plan, labelled with its version (hex) and rule counts", labelNames: ["version"] }));
const planRules = () =>
  metric("sigil_correlate_rule_plan_rules", () => new prom.Gauge({ name: "sigil_correlate_rule_plan_rules", help: "Rules in the running plan, by kind", labelNames: ["kind"] }));
const planSwapsCounter = () =>
  metric("sigil_correlate_rule_plan_swaps_total", () => new prom.Counter({ name: "sigil_correlate_rule_plan_swaps_total", help: "Rule plans built after the first, by outcome (swapped, or kept the running plan because the new rules do not compile)", labelNames: ["outcome"] }));
const deadLetters = () =>
  metric("sigil_correlate_dead_letters_total", () => new prom.Counter({ name: "sigil_correlate_dead_letters_total", help: "Messages and documents the correlate role sent to sigil.dlq, by reason code", labelNames: ["reason"] }));

/** The plan version: a hash of every rule file under the rule directories (path relative to its directory, and content). */
export function rulePlanVersion(dirs: string[]): string {
  const h = createHash("sha256");
  const walk = (root: string, dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(root, full);
      else if (/\.ya?ml$/i.test(e.name)) {
        h.update(path.relative(root, full));
        h.update("\0");
        h.update(fs.readFileSync(full));
        h.update("\0");
      }
    }
  };
  for (const d of dirs) {
    h.update(`dir:${d.length}\0`);
    if (fs.existsSync(d) && fs.statSync(d).isFile()) h.update(fs.readFileSync(d));
    else walk(d, d);
  }
  return h.digest("hex").slice(0, 8);
}

/** A dead letter of the correlate role, in the shape of its malformed-event letters, counted by reason. */
function correlateDeadLetter(code: string, reason: string, where: { topic: string; partition: number; offset?: string }, raw: string, extra: Record<string, unknown> = {}): OutgoingMessage {
  deadLetters().inc({ reason: code });
  return { key: "correlate", value: JSON.stringify({ reason, code, ...where, ...extra, raw: raw.slice(0, 65_536) }), headers: { "sigil-reason": code } };
}

const chainGauge = () => metric("sigil_chains_live", () => new prom.Gauge({ name: "sigil_chains_live", help: "Chains (and candidates below the alert threshold) held by the chain builder" }));
const chainSignals = () =>
  metric("sigil_chains_signals_total", () => new prom.Counter({ name: "sigil_chains_signals_total", help: "Signals seen by the chain builder, by outcome", labelNames: ["outcome"] }));

function decode(buf: Buffer): JsonObject | null {
  try {
    const v = safeJsonParse(buf.toString("utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : null;
  } catch {
    return null;
  }
}

function looksLikeEvent(v: JsonObject): v is EcsEvent {
  const ev = v["event"] as JsonObject | undefined;
  return typeof v["@timestamp"] === "string" && !!ev && typeof ev === "object" && typeof ev["id"] === "string" && !Number.isNaN(Date.parse(v["@timestamp"] as string));
}

/** Published signal ids remembered per process (a few MB), enough for the batches a store outage holds up. */
const SENT_IDS_KEPT = 100_000;
/** Events not yet read by detection, per partition, under which the pipeline counts as caught up (idle windows may close). */
const UPSTREAM_LIVE_MAX_LAG = 500;
/** An events partition detection read to its end this recently counts as caught up. */
const CAUGHT_UP_RECENT_MS = 5_000;

/**
 * Waits for independent writes; when one fails, the others settle before the error goes up, so no write is
 * still running when the batch comes again.
 */
async function allDurable(writes: Promise<unknown>[]): Promise<void> {
  try {
    await Promise.all(writes);
  } catch (err) {
    await Promise.allSettled(writes);
    throw err;
  }
}

/** Builds the correlate role's lifecycle. */
export function correlateRole(o: CorrelateRoleOptions): CorrelateRole {
  const cfg = o.config.correlate;
  const log = o.log;
  const now = o.now ?? (() => new Date());
  const rules = o.rules ?? cfg.rules;
  const lifecycle = new Lifecycle("correlate", log);
  const stats: CorrelateStats = { events: 0, malformed: 0, signals: 0, chainSignals: 0, chainsWritten: 0, alertsWritten: 0, planSwaps: 0 };
  const model = new EntityModel();
  /** Replaced when this instance takes over or hands back chain building (the exclusive `sigil-chains` group). */
  let builder = new ChainBuilder(model, chainOptionsFrom(cfg));
  /** Signals partitions of the chains group this instance holds: chain building is active while it holds any. */
  const chainParts = new Set<number>();
  let engine: Engine | null = null;
  let pipeline: Pipeline | null = null;
  let out: Signal[] = [];
  /** When detection last read each events partition to its end (wall clock, ms). */
  const caughtUpAt = new Map<number, number>();
  /** Events partitions with batches in detection or whose signals are not on the bus yet (count per partition). */
  const busy = new Map<number, number>();
  /** Partitions of `sigil.signals` (where each routing copy lands), asked when detection starts. */
  let signalsPartitions = 0;
  /** Per events partition, the id of the last routing copy published to each signals partition. */
  const lastSent = new Map<number, Map<number, string>>();
  const noteSent = (src: number, signals: Signal[]) => {
    if (signalsPartitions === 0) return;
    let m = lastSent.get(src);
    if (!m) lastSent.set(src, (m = new Map()));
    for (const s of signals) if (s.signal.route && s.signal.key) m.set(partitionFor(s.signal.key, signalsPartitions), s.event.id);
  };
  let producer: Producer | null = null;
  let eventsConsumer: Consumer | null = null;
  let indexer: EventsIndexer | null = null;
  /** Ids of signals this process published (insertion order, bounded), so a redelivered batch does not publish them twice. */
  const sent = new Map<string, true>();
  const rememberSent = (signals: Signal[]) => {
    for (const s of signals) sent.set(s.event.id, true);
    for (const id of sent.keys()) {
      if (sent.size <= SENT_IDS_KEPT) break;
      sent.delete(id);
    }
  };
  /**
   * Chains whose alert may be in the store: this builder wrote it, or the chain came back from the store
   * at take-over. Any other chain's alert is created without reading it first (a hint to the store: an
   * alert that exists after all is read and computed again). Insertion order, bounded.
   */
  const alertMayExist = new Map<string, true>();
  const ALERT_IDS_KEPT = 100_000;
  const markAlert = (id: string) => {
    alertMayExist.delete(id);
    alertMayExist.set(id, true);
    if (alertMayExist.size > ALERT_IDS_KEPT) for (const k of alertMayExist.keys()) if (alertMayExist.size > ALERT_IDS_KEPT) alertMayExist.delete(k); else break;
  };
  /**
   * Alerts of new chains published when their signals' batch was handled, before the write round that
   * stores them (decision 0023): the round writes this update (or the next one computed from it) and
   * does not publish it again. Removed once the round stored it; at most one per chain not yet written.
   */
  const early = new Map<string, { update: AlertUpdate; chainVersion: number; sent: Promise<boolean> }>();
  /** Chains and merges the chain builder holds that are not yet in the store (a write failed). */
  const unwrittenChains = new Set<string>();
  const unwrittenMerges = new Map<string, string>();
  /**
   * Audit records of alert changes that are stored but whose audit write failed: written again with the
   * next round's (their ids are derived from alert, version and action, so a second write is the same
   * record). Bounded: past the cap the oldest are dropped with an error naming how many.
   */
  let unwrittenAudits: AuditRecord[] = [];
  const UNWRITTEN_AUDITS_KEPT = 100_000;
  /** Early alerts not yet stored, at most (beyond it new alerts wait for their round, as before). */
  const EARLY_ALERTS_KEPT = 10_000;
  let chainsConsumer: Consumer | null = null;
  let runner: StatefulRunner | null = null;
  const watchers: fs.FSWatcher[] = [];
  let swapTimer: NodeJS.Timeout | null = null;
  let expireTimer: NodeJS.Timeout | null = null;
  let watermark = 0;
  let unregisterChecks: (() => void) | null = null;
  const lastStats: Partial<Record<keyof ChainBuilder["stats"], number>> = {};

  const makePipeline = (e: Engine): Pipeline => {
    const p = new Pipeline({ detection: e.detection, model, onSignal: (s) => out.push(s), now: () => now().toISOString() });
    p.setCorrelation(new RoutingCorrelationStage(e.correlationPlan, p.emit));
    if (e.anomalyRules) p.setBaselines(new RoutingBaselineStage(e.baselines, p.emit));
    return p;
  };

  const load = async (): Promise<Engine> => buildEngine({ rules, config: cfg, cwd: o.cwd });

  /** Every closed baseline interval, written in batches as the history the console's Baselines page draws. */
  const baselineHistory = new BaselineHistoryWriter(o.store, {}, log);
  let historyTimer: NodeJS.Timeout | null = null;
  let sweepTimer: NodeJS.Timeout | null = null;

  /** The runner's stateful stages for a plan: correlation rules and anomaly baselines, one engine per partition. */
  const statefulStages = (e: Engine): StatefulStage[] => [
    correlationStage(e.correlationPlan, { allowedLatenessMs: cfg.allowed_lateness_ms, maxGroups: cfg.max_groups, created: () => now().toISOString() }),
    baselineStage(e.baselines.anomalies, {
      allowedLatenessMs: cfg.allowed_lateness_ms,
      maxEntities: cfg.baselines.max_entities,
      maxDistinctValues: cfg.baselines.max_distinct_values,
      maxSeenValues: cfg.baselines.max_seen_values,
      created: () => now().toISOString(),
      onInterval: (c) => baselineHistory.add(c),
    }),
  ];
  const knownRules = (e: Engine): KnownRules => ({ correlations: new Set(e.correlationPlan.byId.keys()), baselines: new Set(e.baselines.anomalies.map((a) => a.rule.id)) });

  /** Content hashes of the rule files, to tell which files a change touched (for the audit log). */
  const ruleFileHashes = (): Map<string, string> => {
    const out = new Map<string, string>();
    for (const d of rules) {
      try {
        for (const f of listRuleFiles([path.resolve(o.cwd, d)])) {
          try {
            out.set(f, createHash("sha256").update(fs.readFileSync(f)).digest("hex"));
          } catch {
            out.set(f, "unreadable");
          }
        }
      } catch {
        // a missing directory: its files count as removed
      }
    }
    return out;
  };
  let ruleHashes = new Map<string, string>();

  /** One `rules.change` audit record per change that touched rule files: which files, and whether it compiled. */
  const auditRuleChange = async (next: Map<string, string>, outcome: "success" | "failure", details: JsonObject): Promise<void> => {
    const added = [...next.keys()].filter((f) => !ruleHashes.has(f));
    const removed = [...ruleHashes.keys()].filter((f) => !next.has(f));
    const changed = [...next.keys()].filter((f) => ruleHashes.has(f) && ruleHashes.get(f) !== next.get(f));
    if (!added.length && !removed.length && !changed.length) return;
    if (outcome === "success") ruleHashes = next;
    const list = (xs: string[]) => xs.slice(0, 100).map((f) => path.relative(o.cwd, f) || f);
    await new AuditLog(o.store)
      .record({ actor: `correlate@${hostname().slice(0, 128)}`, action: "rules.change", target: "rules", outcome, details: { files_added: list(added), files_removed: list(removed), files_changed: list(changed), ...details } })
      .catch((err: unknown) => log.warn({ err: describeError(err) }, "could not record the rule change in the audit log"));
  };

  /** The running plan's version and size as metrics (the console's health page shows them). */
  const showPlan = (e: Engine): string => {
    const version = rulePlanVersion(rules.map((d) => path.resolve(o.cwd, d)));
    planVersionGauge().set(parseInt(version, 16));
    planInfo().reset();
    planInfo().set({ version }, 1);
    planRules().set({ kind: "detection" }, e.detection.ruleCount);
    planRules().set({ kind: "correlation" }, e.correlationRules);
    planRules().set({ kind: "anomaly" }, e.anomalyRules);
    return version;
  };

  /** The rule catalog (schema/rule-catalog.ts) for the console, written on every plan build. */
  const catalog = new CatalogWriter(o.store, { cwd: o.cwd, node: (o.config.node_name ?? hostname()).slice(0, 128), now });
  const writeCatalog = (e: Engine, version: string): Promise<void> =>
    catalog.write(e, version).catch((err: unknown) => log.warn({ err: describeError(err), plan_version: version }, "could not write the rule catalog; the console shows the previous one"));

  let swapping: Promise<void> = Promise.resolve();
  /** Rebuilds the plan and swaps it in between batches; a broken rule keeps the running plan. */
  const swap = async () => {
    const files = ruleFileHashes();
    try {
      const next = await load();
      // the runner first (between two of its batches, state of unchanged rules kept), then the
      // detection plan (between two event batches): copies routed by the new plan always find their rules
      const kept = runner ? await runner.swap(statefulStages(next), knownRules(next)) : null;
      engine = next;
      pipeline = makePipeline(next);
      if (kept) log.info({ partitions: kept.partitions, state_kept: kept.kept, state_dropped: kept.dropped }, "correlation and baseline state carried into the new plan");
      stats.planSwaps++;
      planSwapsCounter().inc({ outcome: "swapped" });
      const version = showPlan(next);
      await writeCatalog(next, version);
      log.info({ rules: next.detection.ruleCount, correlations: next.correlationRules, plan_version: version }, "rules changed: new plan swapped in");
      await auditRuleChange(files, "success", { rules: next.detection.ruleCount, correlations: next.correlationRules, plan_version: String(version) });
    } catch (err) {
      planSwapsCounter().inc({ outcome: "kept" });
      log.error({ err: describeError(err) }, "rules changed but do not compile: keeping the running plan");
      await catalog.rejected(err).catch((e: unknown) => log.warn({ err: describeError(e) }, "could not record the rejected rule change in the rule catalog"));
      await auditRuleChange(files, "failure", { error: { code: err instanceof SigilError ? err.code : "rules_invalid", message: describeError(err).slice(0, 1000) } });
    }
  };

  /**
   * Writes documents; those the store refuses (too large, a field both a value and an object, ...) go
   * to the dead-letter topic with the store's reason instead of blocking the partition with redeliveries.
   */
  const putOrDeadLetter = async (collection: "events" | "signals", docs: (EcsEvent | Signal)[], from: (index: number) => { topic: string; partition: number }, dlq: OutgoingMessage[]): Promise<void> => {
    try {
      await o.store.put(collection, docs);
    } catch (err) {
      if (!isStoreRejectError(err)) throw err;
      for (const r of err.rejected) {
        const doc = docs[r.index];
        const where = from(r.index);
        dlq.push(correlateDeadLetter(r.code, `the store refused the ${collection === "events" ? "event" : "signal"}: ${r.reason}`, where, doc ? JSON.stringify(doc) : "", { collection, id: r.id ?? null }));
        log.warn({ collection, ...traceFields(doc as EcsEvent), code: r.code, reason: r.reason, partition: where.partition }, "the store refused a document; sent to the dead-letter topic");
      }
    }
  };

  const handleEvents = async (batch: Batch): Promise<BatchTaken> => {
    const end = stageSeconds().startTimer({ stage: "events" });
    const p = pipeline!;
    const debug = log.isLevelEnabled("debug");
    out = [];
    const events: EcsEvent[] = [];
    const dlq: OutgoingMessage[] = [];
    const t0 = performance.now();
    for (const m of batch.messages) {
      const v = decode(m.value);
      if (!v || !looksLikeEvent(v)) {
        stats.malformed++;
        dlq.push(correlateDeadLetter("correlate_bad_event", "not a normalized event (needs @timestamp and event.id)", { topic: batch.topic, partition: batch.partition, offset: m.offset }, m.value.toString("utf8")));
        continue;
      }
      events.push(v);
      const before = out.length;
      p.process(v);
      if (debug) {
        const ids = [];
        for (let i = before; i < out.length; i++) ids.push(out[i].event.id);
        log.debug({ ...traceFields(v), partition: batch.partition, offset: m.offset, signal_ids: ids }, ids.length ? "event matched rules" : "event evaluated");
      }
    }
    p.advance(p.stats.watermark);
    // each routing copy names the events partition it comes from: the correlation runner's watermark is
    // the slowest of its inputs, so a partition drained after another (a backlog) is not counted late
    for (let i = 0; i < out.length; i++) {
      const r = out[i].signal.route;
      if (r) r.src = batch.partition;
    }
    ruleEvalSeconds().observe((performance.now() - t0) / 1000);
    ruleEvalEvents().inc(events.length);
    stats.events += events.length;
    const standalone = out.filter((s) => !s.signal.route);
    if (debug) for (const s of standalone) log.debug({ signal_id: s.event.id, rule_id: s.rule.id, event_ids: s.signal.events.slice(0, 20).map((r) => r.id), ...traceFields(s as unknown as EcsEvent) }, "signal published");
    // the batch commits once its signals are on the bus: the chain builder stores them with its chains
    // (before its own commit), so detection never waits for the store (decision 0019). An instance that
    // does not build chains stores them itself, in case no instance does (a repeated put is idempotent).
    // The events themselves are stored by the events indexer.
    const writes: Promise<void>[] = [];
    if (standalone.length && !cfg.chains.enabled) writes.push(putOrDeadLetter("signals", standalone, () => batch, dlq));
    // a batch redelivered after a failed write must not publish its signals again: the correlation
    // runner counts routing copies, and a copy counted twice can complete a threshold on its own
    const toSend = out.filter((s) => !sent.has(s.event.id));
    if (toSend.length) {
      const msgs = toSend.map((s) => ({ key: s.signal.key || null, value: JSON.stringify(s), timestamp: Date.parse(s["@timestamp"]) || undefined }));
      writes.push(
        producer!.send("signals", msgs).then(() => {
          rememberSent(toSend);
          noteSent(batch.partition, toSend);
        }),
      );
    }
    // The batch is taken once its events are evaluated: the next batches are fetched and evaluated while
    // its signals are produced, and it commits once they are on the bus (decision 0025)
    const lastMsg = batch.messages[batch.messages.length - 1];
    const drained = batch.end !== undefined && lastMsg !== undefined && BigInt(lastMsg.offset) + 1n >= BigInt(batch.end);
    const partition = batch.partition;
    const handled = events.length;
    const malformed = batch.messages.length - events.length;
    const durable = (async () => {
      await allDurable(writes);
      if (dlq.length) await producer!.send("dlq", dlq);
      if (drained) caughtUpAt.set(partition, Date.now());
      stats.signals += standalone.length;
      counted().inc({ stage: "events", outcome: "ok" }, handled);
      if (malformed) counted().inc({ stage: "events", outcome: "malformed" }, malformed);
      end();
    })();
    return { durable };
  };

  const alertMessage = (u: AlertUpdate, c: Chain): OutgoingMessage => {
    if (log.isLevelEnabled("debug")) {
      const eventIds: string[] = [];
      for (const st of c.steps) for (const r of st.events) if (eventIds.length < 50) eventIds.push(r.id);
      log.debug({ alert_id: u.alert.id, alert_version: u.alert.version, chain_id: c.id, signal_ids: c.steps.slice(0, 50).map((st) => st.signal_id), event_ids: eventIds }, "alert published");
    }
    return encodeAlertsMessage({ kind: "alert", alert: u.alert, source: "chains" });
  };
  const chainMessage = (c: Chain): OutgoingMessage => encodeAlertsMessage({ kind: "chain", chain: c, source: "chains" });

  /**
   * Writes promoted chains and their alerts (triage kept), publishes both, then stores the audit records.
   * The alert path waits for one store round trip: the chains, `alongside` (the batch's signals) and the
   * read of the alerts go together, and the alerts are published while the store writes them. The batch
   * commits only after all of it is durable. An alert changed between the read and the write (an
   * analyst's triage) is computed again from the stored one, written, and published again.
   */
  const writeChains = async (changed: Set<string>, merged: Map<string, string>, alongside: Promise<unknown>[] = []) => {
    const at = now().toISOString();
    const chains: Chain[] = [];
    for (const id of changed) {
      if (!builder.isPromoted(id)) continue;
      const c = builder.chain(id);
      if (c) chains.push(c);
    }
    const writes: Promise<unknown>[] = [...alongside];
    if (chains.length) writes.push(o.store.put("chains", chains));
    // every chain's alert in one read-modify-write round (Elasticsearch: one mget and one bulk, not two
    // requests per chain): the alert path's store time stays flat however many chains a batch touches
    const updates = new Map<string, AlertUpdate | null>();
    const byId = new Map(chains.map((c) => [c.id, c]));
    writes.push(
      (async () => {
        let sent: Map<string, AlertUpdate | null> | null = null;
        let publishing: Promise<void> | null = null;
        const publish = () => {
          sent = new Map(updates);
          const messages: OutgoingMessage[] = [];
          for (const c of chains) {
            const u = updates.get(c.id);
            const e = early.get(c.id);
            // what went out when the batch was handled is not published again (checked after the writes)
            if (!e || e.chainVersion !== c.version || u !== e.update) messages.push(chainMessage(c));
            if (u && (!e || u !== e.update)) messages.push(alertMessage(u, c));
          }
          if (messages.length) {
            publishing = producer!.send("alerts", messages);
            // awaited below; handled now so a failed send while the store write runs is not "unhandled"
            publishing.catch(() => undefined);
          }
        };
        try {
          await updateEach(
            o.store,
            "alerts",
            [...byId.keys()],
            (id, cur) => {
              const c = byId.get(id)!;
              // an alert published early and not stored yet: this write stores it, or the next version
              // computed from it (both audited) when its chain changed since. A round that took the chain
              // before the early publish (its copy is older) stores what was published; the newer chain
              // is pending for the next round.
              const e = cur === null ? early.get(id) : undefined;
              const u = e ? (c.version < e.chainVersion ? e.update : alertAfterEarly(c, e.update, at)) : alertForChain(c, (cur as Alert | null) ?? null, at);
              updates.set(id, u);
              if (u) markAlert(id);
              return u ? u.alert : null;
            },
            // a chain new to this builder has no alert yet: no read before its alert goes out
            { beforeWrite: publish, absent: (id) => !alertMayExist.has(id) },
          );
        } catch (err) {
          if (publishing) await (publishing as Promise<void>).catch(() => undefined);
          throw err;
        }
        if (!sent) publish();
        if (publishing) await publishing;
        // alerts computed again after a concurrent change: the stored version goes out too; so does an
        // early publish that failed (its batch fails and comes again, but finds the chain written)
        const again: OutgoingMessage[] = [];
        for (const c of chains) {
          const u = updates.get(c.id) ?? null;
          if (u) stats.alertsWritten++;
          const e = early.get(c.id);
          if (e) {
            early.delete(c.id);
            if (u === e.update && !(await e.sent)) again.push(chainMessage(c), alertMessage(u, c));
            if (u === e.update) continue;
          }
          if (u && u !== sent!.get(c.id)) again.push(alertMessage(u, c));
        }
        if (again.length) await producer!.send("alerts", again);
      })(),
    );
    const mergeUpdates = new Map<string, AlertUpdate | null>();
    if (merged.size) {
      writes.push(
        (async () => {
          const froms = [...merged.keys()];
          await updateEach(o.store, "chains", froms, (from, cur) => (cur && cur["merged_into"] !== merged.get(from) ? { ...cur, merged_into: merged.get(from)! } : null));
          await updateEach(o.store, "alerts", froms, (from, cur) => {
            // an alert published early and merged away before it was stored: stored closed, as a duplicate
            const e = cur === null ? early.get(from) : undefined;
            const u = cur ? alertMergedInto(cur as Alert, merged.get(from)!, at) : e ? mergedAfterEarly(e.update, merged.get(from)!, at) : null;
            mergeUpdates.set(from, u);
            return u ? u.alert : null;
          });
          for (const from of froms) early.delete(from);
          const messages: OutgoingMessage[] = [];
          for (const u of mergeUpdates.values()) if (u) messages.push(encodeAlertsMessage({ kind: "alert", alert: u.alert, source: "chains" }));
          if (messages.length) await producer!.send("alerts", messages);
        })(),
      );
    }
    await allDurable(writes);
    stats.chainsWritten += chains.length;
    // the audit records of what was stored (an alert written on a second attempt is audited at the
    // version it has): durable before the batch commits, but the caller decides whether the next
    // writes wait for them (the chain rounds do not: decision 0019, appendix)
    const audits: AuditRecord[] = [];
    for (const u of updates.values()) if (u) audits.push(...u.audit);
    for (const u of mergeUpdates.values()) if (u) audits.push(...u.audit);
    return audits;
  };

  /** Writes `audits` and those a failed write left; a failure keeps them all for the next write. */
  const writeAudits = (audits: AuditRecord[]): Promise<void> => {
    const all = unwrittenAudits.length ? unwrittenAudits.concat(audits) : audits;
    unwrittenAudits = [];
    if (!all.length) return Promise.resolve();
    return o.store.put("audit", all).then(
      () => undefined,
      (err: unknown) => {
        unwrittenAudits = all.concat(unwrittenAudits);
        const over = unwrittenAudits.length - UNWRITTEN_AUDITS_KEPT;
        if (over > 0) {
          unwrittenAudits = unwrittenAudits.slice(over);
          log.error({ dropped: over, kept: unwrittenAudits.length }, "audit records of alert changes dropped: the audit store has refused writes for too long (see the store's health)");
        }
        throw err;
      },
    );
  };

  /**
   * This instance takes over chain building (at start, or after the holder of the exclusive group
   * failed): the builder comes back from the store's chains and signals, and what the previous holder
   * left unwritten (a chain without its alert, a chain a stored signal completes) is written now.
   */
  const takeOverChains = async () => {
    builder = new ChainBuilder(model, chainOptionsFrom(cfg));
    for (const k of Object.keys(lastStats) as (keyof ChainBuilder["stats"])[]) delete lastStats[k];
    unwrittenChains.clear();
    unwrittenMerges.clear();
    early.clear();
    const t0 = performance.now();
    alertMayExist.clear();
    const r = await restoreChainState(o.store, builder, { windowMs: cfg.chains.window_ms, maxChains: Math.min(cfg.chains.max_chains, 10_000) });
    for (const c of builder.chains()) markAlert(c.id);
    if (Number.isFinite(r.newest)) watermark = r.newest;
    if (r.write.size) await writeAudits(await writeChains(r.write, new Map()));
    chainGauge().set(builder.size);
    log.info({ chains: r.chains, signals_replayed: r.replayed, written: r.write.size, ms: Math.round(performance.now() - t0) }, "chain building taken over: state restored from the store");
  };

  /** Another instance holds chain building now: forget the chains (they are stored; the holder continues them). */
  /**
   * The partitions went away: a rebalance that may give them straight back (the state in memory stays
   * current then: onAssigned says `resumed`), or another instance holds them now (the memory is
   * released shortly; the stored chains are its business).
   */
  let parkTimer: NodeJS.Timeout | null = null;
  const handOverChains = () => {
    if (parkTimer) clearTimeout(parkTimer);
    parkTimer = setTimeout(() => {
      parkTimer = null;
      if (chainParts.size > 0) return;
      builder = new ChainBuilder(model, chainOptionsFrom(cfg));
      unwrittenChains.clear();
      unwrittenMerges.clear();
      early.clear();
      alertMayExist.clear();
      chainGauge().set(0);
    }, 60_000);
    parkTimer.unref();
    log.info("chain building handed over (another instance takes it over, or this one is stopping)");
  };

  /** Signals (and the partition each came from) the chain builder's batches left for the next round. */
  let roundSignals: Signal[] = [];
  let roundSignalsFrom: number[] = [];
  /**
   * The chain builder's writes in rounds (group commit): each round stores the signals and writes the
   * chains and alerts every batch handled since the previous round left pending, and publishes the
   * alerts, so the batches of all signals partitions share one store round trip instead of queueing one
   * behind the other; rounds run one at a time, so writes of one chain never race (decision 0019).
   */
  const chainRounds = new Rounds(async () => {
    const signals = roundSignals;
    const from = roundSignalsFrom;
    roundSignals = [];
    roundSignalsFrom = [];
    const changed = new Set(unwrittenChains);
    const merged = new Map(unwrittenMerges);
    unwrittenChains.clear();
    unwrittenMerges.clear();
    const dlq: OutgoingMessage[] = [];
    // the failed batches come again (their signals are duplicates to the builder then): what this round
    // did not write stays pending for the next, unless a later batch changed it meanwhile
    const pendAgain = (err: unknown): never => {
      for (const [f, into] of merged) if (!unwrittenMerges.has(f)) unwrittenMerges.set(f, into);
      for (const id of changed) if (!unwrittenMerges.has(id)) unwrittenChains.add(id);
      throw err;
    };
    let audits: AuditRecord[] = [];
    try {
      audits = await writeChains(changed, merged, signals.length ? [putOrDeadLetter("signals", signals, (i) => ({ topic: "signals", partition: from[i] ?? -1 }), dlq)] : []);
      if (dlq.length) await producer!.send("dlq", dlq);
    } catch (err) {
      unwrittenAudits.push(...audits); // of alerts that were stored: written with the next round's
      pendAgain(err);
    }
    // the audit write is this round's tail: its batches commit after it, the next round does not wait
    // for it; the alerts are stored already, so a failed audit write keeps only the records for the next
    return { tail: writeAudits(audits) };
  });

  const handleSignals = async (batch: Batch): Promise<BatchTaken> => {
    const end = stageSeconds().startTimer({ stage: "chains" });
    const debug = log.isLevelEnabled("debug");
    // every finding on the topic (rule matches, correlation hits, anomalies) is stored here, beside the
    // chains: detection does not wait for the store (decision 0019)
    const toStore: Signal[] = [];
    const changed = new Set<string>();
    const merged = new Map<string, string>();
    const dlq: OutgoingMessage[] = [];
    for (const m of batch.messages) {
      const v = decode(m.value) as Signal | null;
      if (!v || typeof v["@timestamp"] !== "string" || !v.event || typeof v.event.id !== "string" || !v.rule || !v.signal) {
        counted().inc({ stage: "chains", outcome: "malformed" });
        dlq.push(correlateDeadLetter("correlate_bad_signal", "not a signal (needs @timestamp, event.id, rule and signal)", { topic: batch.topic, partition: batch.partition, offset: m.offset }, m.value.toString("utf8")));
        continue;
      }
      if (v.signal.route) continue; // a routing copy for the correlation runner, not a finding
      toStore.push(v);
      const r = builder.add(v);
      if (debug) log.debug({ signal_id: v.event.id, chain_id: r.chainId, duplicate: r.duplicate, event_ids: Array.isArray(v.signal.events) ? v.signal.events.slice(0, 20).map((x) => x.id) : [], ...traceFields(v as unknown as EcsEvent) }, "signal added to a chain");
      stats.chainSignals++;
      const t = Date.parse(v["@timestamp"]);
      if (t > watermark) watermark = t;
      if (r.duplicate) continue;
      changed.add(r.chainId);
      for (const from of r.merged) {
        merged.set(from, r.chainId);
        changed.delete(from);
      }
    }
    // Chains changed by an attempt that failed to write stay pending: the redelivered batch finds its
    // signals already in the builder (duplicates) and would otherwise never write those chains.
    for (const [from, into] of merged) {
      unwrittenMerges.set(from, into);
      unwrittenChains.delete(from);
    }
    for (const id of changed) unwrittenChains.add(id);
    // A chain that became an alert in this batch and whose alert was never written goes out now, not
    // after the write round ahead of it (decision 0023): a new alert needs nothing from the store, and
    // the analyst sees it while the store is busy. The round stores it and does not publish it again.
    let earlySent: Promise<void> | null = null;
    if (changed.size && early.size < EARLY_ALERTS_KEPT) {
      const messages: OutgoingMessage[] = [];
      const at = now().toISOString();
      const fresh: Array<{ id: string; update: AlertUpdate; chainVersion: number }> = [];
      for (const id of changed) {
        if (alertMayExist.has(id) || early.has(id) || !builder.isPromoted(id)) continue;
        const c = builder.chain(id);
        const u = c ? alertForChain(c, null, at) : null;
        if (!c || !u) continue;
        messages.push(chainMessage(c), alertMessage(u, c));
        fresh.push({ id, update: u, chainVersion: c.version });
      }
      if (messages.length) {
        earlySent = producer!.send("alerts", messages);
        const sent = earlySent.then(() => true, () => false);
        for (const f of fresh) early.set(f.id, { update: f.update, chainVersion: f.chainVersion, sent });
      }
    }
    // per batch: counters move by the builder's deltas (bounded label values)
    const st = builder.stats;
    for (const k of ["signals", "duplicates", "suppressed", "merges", "evicted", "expired", "overflow"] as const) {
      const d = st[k] - (lastStats[k] ?? 0);
      if (d > 0) chainSignals().inc({ outcome: k }, d);
      lastStats[k] = st[k];
    }
    chainGauge().set(builder.size);
    // the writes go in the next round, shared with the batches of other partitions handled meanwhile.
    // The batch is taken now (its signals are in the builder, its new alerts on their way): the next
    // batches come in while the round runs, and this one commits once that round is durable and its
    // early alerts are on the bus (decision 0025)
    let round: Promise<unknown> | null = null;
    if (toStore.length || changed.size || merged.size) {
      for (const sg of toStore) {
        roundSignals.push(sg);
        roundSignalsFrom.push(batch.partition);
      }
      round = earlySent ? Promise.all([chainRounds.join(), earlySent]) : chainRounds.join();
    }
    const n = batch.messages.length; // the batch itself is not held while its round runs
    const durable = (async () => {
      if (round) await round;
      if (dlq.length) await producer!.send("dlq", dlq);
      counted().inc({ stage: "chains", outcome: "ok" }, n);
      end();
    })();
    return { durable };
  };

  lifecycle
    .add({
      name: "rules",
      async start() {
        ruleHashes = ruleFileHashes();
        engine = await load();
        pipeline = makePipeline(engine);
        const version = showPlan(engine);
        log.info({ rules: engine.detection.ruleCount, correlations: engine.correlationRules, dirs: rules, plan_version: version }, "rules compiled");
      },
    })
    .add({
      name: "store",
      start: () => o.store.init(),
    })
    .add({
      name: "rule catalog",
      start: () => writeCatalog(engine!, rulePlanVersion(rules.map((d) => path.resolve(o.cwd, d)))),
    })
    .add({
      name: "bus",
      async start() {
        await o.bus.ensureTopics();
        producer = await o.bus.producer();
        unregisterChecks = registerDependencyChecks("correlate", { bus: o.bus, store: o.store });
      },
      async stop() {
        unregisterChecks?.();
        await producer?.close();
        producer = null;
      },
    })
    .add({
      name: "baseline history",
      start() {
        historyTimer = setInterval(() => void baselineHistory.flush(), 10_000);
        historyTimer.unref();
        const sweep = () => void baselineHistory.sweep().catch((err: unknown) => log.warn({ err: describeError(err) }, "could not sweep old baseline history"));
        sweepTimer = setInterval(sweep, 15 * 60_000);
        sweepTimer.unref();
      },
      async stop() {
        if (historyTimer) clearInterval(historyTimer);
        if (sweepTimer) clearInterval(sweepTimer);
        await baselineHistory.flush();
      },
    })
    .add({
      name: "correlation runner",
      async start() {
        runner = new StatefulRunner({
          bus: o.bus,
          store: o.store,
          stages: statefulStages(engine!),
          known: knownRules(engine!),
          checkpointIntervalMs: cfg.checkpoint_interval_ms,
          idleAdvanceMs: cfg.allowed_lateness_ms,
          // windows close by the wall clock only while detection keeps up with the events topic: during a
          // bus outage or the catch-up after it, the idle partitions' events are still coming (and would
          // all be late)
          upstreamLive: async () => {
            if (eventsConsumer === null) return false;
            const lags = await eventsConsumer.lag();
            return lags.every((l) => l.lag <= UPSTREAM_LIVE_MAX_LAG);
          },
          // the slowest input holds a signals partition's watermark back unless detection has drained it
          // (read to its end, no batch in flight) and the last copy it published there has been read
          inputs: await o.bus.partitionCount("events"),
          progress: async () => {
            const caughtUp = new Set<number>();
            const t = Date.now();
            for (const [p, at] of caughtUpAt) if (t - at <= CAUGHT_UP_RECENT_MS && !busy.has(p)) caughtUp.add(p);
            if (eventsConsumer !== null) for (const l of await eventsConsumer.lag()) if (l.lag === 0 && !busy.has(l.partition)) caughtUp.add(l.partition);
            return { caughtUp, lastSent: (src: number, k: number) => lastSent.get(src)?.get(k) };
          },
          log,
        });
        await runner.start();
      },
      async stop() {
        await runner?.stop();
        runner = null;
      },
    })
    .add({
      name: "chains consumer",
      async start() {
        if (!cfg.chains.enabled) {
          log.info("chain building is disabled on this instance (correlate.chains.enabled: false)");
          return;
        }
        // registered from the start, so the chain builder's counters are on /metrics before its first batch ends
        chainSignals();
        chainGauge();
        // one instance builds chains at a time (every signal in one place); the others stand by and
        // take over, restoring from the store, when it stops or fails
        chainsConsumer = await o.bus.consumer({
          groupId: "sigil-chains",
          topics: ["signals"],
          fromBeginning: true,
          maxBatchSize: 2_000,
          // every partition's batch at once: they share the chain builder's write rounds
          concurrency: Math.min(o.config.bus.partitions, 16),
          exclusive: true,
          onAssigned: async (parts, info) => {
            const first = chainParts.size === 0;
            for (const p of parts) chainParts.add(p.partition);
            if (!first) return;
            if (parkTimer) clearTimeout(parkTimer);
            parkTimer = null;
            if (info.resumed) {
              log.info({ chains: builder.size }, "chain building resumed: nobody else held the signals partitions, the state in memory is current");
              return;
            }
            try {
              await takeOverChains();
            } catch (err) {
              for (const p of parts) chainParts.delete(p.partition);
              log.error({ err: describeError(err) }, "cannot restore chain state from the store; the assignment is retried");
              throw err;
            }
          },
          onRevoked: (parts) => {
            for (const p of parts) chainParts.delete(p.partition);
            if (chainParts.size === 0) handOverChains();
          },
        });
        await chainsConsumer.run(async (batch) => {
          // where the batch was, not the batch: its messages are not kept while its round runs
          const where = { partition: batch.partition, offset: batch.messages[0]?.offset, messages: batch.messages.length };
          const failed = (err: unknown) => log.error({ err: describeError(err), ...where }, "signals batch failed in the chain builder; it will be redelivered");
          try {
            const taken = await handleSignals(batch);
            taken.durable.catch(failed);
            return taken;
          } catch (err) {
            failed(err);
            throw err;
          }
        });
        expireTimer = setInterval(() => {
          const done = builder.expire(watermark);
          if (done.length) log.debug({ finalized: done.length }, "chains finalized (window passed)");
        }, 30_000);
        expireTimer.unref();
      },
      async stop() {
        if (expireTimer) clearInterval(expireTimer);
        if (parkTimer) clearTimeout(parkTimer);
        await chainsConsumer?.close();
        chainsConsumer = null;
      },
    })
    .add({
      // events go to the store in their own consumer group: a slow store holds up indexing, not alerts
      name: "events indexer",
      async start() {
        if (!o.config.index.in_correlate) {
          log.info("events are stored by `sigil index` processes (index.in_correlate: false)");
          return;
        }
        indexer = new EventsIndexer({ bus: o.bus, store: o.store, log, maxBatchSize: o.config.index.max_batch_size });
        await indexer.start();
      },
      async stop() {
        await indexer?.stop();
        indexer = null;
      },
    })
    .add({
      name: "events consumer",
      async start() {
        // several partitions' batches at once: one is evaluated while the signals of another are produced
        eventsConsumer = await o.bus.consumer({ groupId: "sigil-correlate", topics: ["events"], fromBeginning: true, maxBatchSize: 2_000, concurrency: Math.min(o.config.bus.partitions, 16) });
        signalsPartitions = await o.bus.partitionCount("signals");
        const failed = (batch: Batch) => (err: unknown) => {
          const evs: EcsEvent[] = [];
          for (const m of batch.messages.slice(0, 20)) {
            const v = decode(m.value);
            if (v && looksLikeEvent(v)) evs.push(v);
          }
          log.error({ err: describeError(err), partition: batch.partition, offset: batch.messages[0]?.offset, messages: batch.messages.length, ...batchTraceFields(evs) }, "events batch failed; it will be redelivered");
        };
        await eventsConsumer.run(async (batch) => {
          const p = batch.partition;
          // in flight until its signals are on the bus (the correlation runner's watermark waits for it)
          busy.set(p, (busy.get(p) ?? 0) + 1);
          const done = () => {
            const left = (busy.get(p) ?? 1) - 1;
            if (left > 0) busy.set(p, left);
            else busy.delete(p);
          };
          let taken: BatchTaken;
          try {
            taken = await handleEvents(batch);
          } catch (err) {
            failed(batch)(err);
            done();
            throw err;
          }
          // the log line names the first events, not the batch's buffers: they are not kept until then
          const onFail = failed({ ...batch, messages: batch.messages.slice(0, 20) });
          taken.durable.then(done, (err: unknown) => {
            onFail(err);
            done();
          });
          return taken;
        });
      },
      async stop() {
        // finishes the in-flight batch and commits it before leaving the group
        await eventsConsumer?.close();
        eventsConsumer = null;
      },
    })
    .add({
      name: "rule watcher",
      start() {
        if (!cfg.watch_rules) return;
        for (const d of rules) {
          try {
            const w = fs.watch(d, { recursive: true }, () => {
              if (swapTimer) clearTimeout(swapTimer);
              // one rebuild at a time, in order: an older plan never replaces a newer one
              swapTimer = setTimeout(() => void (swapping = swapping.then(swap)), 500);
            });
            watchers.push(w);
          } catch (err) {
            log.warn({ dir: d, err: describeError(err) }, "cannot watch rule directory; rule changes need a restart");
          }
        }
      },
      stop() {
        if (swapTimer) clearTimeout(swapTimer);
        for (const w of watchers) w.close();
        watchers.length = 0;
      },
    });

  return { lifecycle, stats, chains: () => builder.chains() };
}
