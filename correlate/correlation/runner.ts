// The stateful consumer of `sigil.signals`: the routing copies of matches land on the partition that
// owns their group; per partition it keeps the correlation (and baseline) state, publishes hits,
// and checkpoints state with the offset it covers after every batch, before the batch commits.
// A restart or a rebalance restores the partition's checkpoint and skips what it already covers.

import type { Batch, Bus, Consumer, OutgoingMessage, Producer, TopicPartition } from "../../platform/bus/types.ts";
import type { Store } from "../../platform/store/types.ts";
import type { Logger } from "../../platform/telemetry/log.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import type { Signal } from "../../schema/signal.ts";
import { SigilError } from "../../platform/errors.ts";
import { PartitionCheckpoint } from "./checkpoint.ts";
import { reportCounts, statefulMetrics, type StageCounts } from "./metrics.ts";

/** One stateful stage (correlation, baselines) on one partition. */
export interface PartitionPart {
  /** Feeds a routing copy; false when it is not for this stage. */
  accept(s: Signal): boolean;
  /**
   * Nothing arrived for `idleMs` of wall-clock time: close what a live stream would have closed by now.
   * Stages only do so for live streams (event time near the wall clock), never for backfills.
   */
  advanceIdle(nowMs: number, idleMs: number): void;
  /**
   * Every input has delivered its matches up to this event time (the slowest input's newest): windows
   * that ended before it minus the lateness close, and later copies older than that are late.
   */
  advanceTo(eventTimeMs: number): void;
  snapshot(): unknown;
  delta(): unknown | null;
  /** Replaces the state; state of rules the stage no longer has, or whose semantics changed, is dropped (counts when known). */
  restore(full: unknown | null, deltas: unknown[]): void | { restored: number; dropped: number };
  close(): void;
  /** Counts since the last call. */
  takeCounts(): StageCounts;
}

export interface StatefulStage {
  readonly name: string;
  /** Per-partition state; `emit` publishes a signal (keyed by signal.key) with the batch. */
  open(partition: number, emit: (s: Signal) => void): PartitionPart;
}

/** The correlation and baseline rule ids the running plan evaluates (routing copies name them). */
export interface KnownRules {
  correlations: ReadonlySet<string>;
  baselines: ReadonlySet<string>;
}

/** Detection's side of the inputs (RunnerOptions.progress). */
export interface InputProgress {
  caughtUp: ReadonlySet<number>;
  /** Id of the last routing copy published from events partition `src` to signals partition `partition` (undefined: none). */
  lastSent(src: number, partition: number): string | undefined;
}

/** What a plan swap did to the live state, summed over the partitions held. */
export interface SwapReport {
  partitions: number;
  /** Groups and entities kept (their rule is unchanged: same id and same semantics hash). */
  kept: number;
  /** Groups and entities dropped (their rule was removed, or its window semantics changed). */
  dropped: number;
}

export interface RunnerOptions {
  bus: Bus;
  store: Store;
  stages: StatefulStage[];
  /**
   * The rules of `stages`. With it, a routing copy naming a rule this instance does not know yet (another
   * instance already runs newer rules) holds its partition for up to `unknownHoldMs` so a rule change
   * reaching this instance a little later loses nothing; copies for rules a swap removed are dropped at once.
   */
  known?: KnownRules;
  /** How long a partition waits for rules it does not know (default 30 s); after that the copies are dropped and counted. */
  unknownHoldMs?: number;
  /** Consumer group, also the checkpoint scope. */
  groupId?: string;
  checkpointIntervalMs: number;
  /** Wall-clock advance of partitions that received nothing for this long (0: never). */
  idleAdvanceMs?: number;
  /**
   * Whether the inputs are flowing upstream (the events consumer keeps up). A partition that is idle
   * because the pipeline before it is stalled (the store or the bus down) must not advance by the wall
   * clock: its events are still coming and would all be late. Default: always.
   */
  upstreamLive?: () => boolean | Promise<boolean>;
  /**
   * What detection knows of its inputs: the `sigil.events` partitions it has read to the end with no batch
   * in flight, and the id of the last routing copy it published from an events partition to a signals
   * partition. An input holds a partition's watermark back unless it is drained (caught up, and the last
   * copy it published there has been read: nothing of it is still on its way), or it has sent nothing for
   * `inputHoldMs`. Default (no hook): every input counts as drained, and the watermark is the newest copy's
   * time, as with one input.
   */
  progress?: () => Promise<InputProgress>;
  /**
   * The events partitions (0 .. inputs-1) every signals partition expects copies from: each holds the
   * watermark back from the start until it sends or is drained (a backlog in an input that has not sent
   * yet is then not counted late). Default 0: an input is known once it sends.
   */
  inputs?: number;
  /** An input that sent nothing for this long no longer holds the watermark back, caught up or not (default 5 min). */
  inputHoldMs?: number;
  maxBatchSize?: number;
  log?: Logger;
  now?: () => number;
}

interface PartitionState {
  partition: number;
  parts: { stage: StatefulStage; part: PartitionPart }[];
  ckpt: PartitionCheckpoint<Record<string, unknown>, Record<string, unknown>>;
  /** Offset of the last message the state covers. */
  covered: bigint | null;
  out: OutgoingMessage[];
  /** Publishes a signal the partition's stages produce (kept for the parts a plan swap opens). */
  emit: (s: Signal) => void;
  lastInput: number;
  /** A batch failed after changing state: reload the checkpoint before the next one. */
  stale: boolean;
  /** The routing copies read lately: a copy stored twice on the topic counts once. */
  copies: CopyMemory;
  /** Per input (the events partition a copy came from, -1 when it does not say): its newest event time. */
  inputs: Inputs;
  /** The watermark the stages were last moved to. */
  watermark: number;
}

/**
 * The inputs of one signals partition and the event time each has reached. Detection drains a backlog
 * one events partition after another (after a bus outage, each partition's whole backlog in one batch),
 * so the copies reaching a signals partition are ordered per input, not across inputs: the partition's
 * watermark is the slowest input's newest event time, not the newest of all. A drained input (nothing
 * of it read or on its way: RunnerOptions.progress) does not hold it back.
 */
class Inputs {
  private readonly newest = new Map<number, number>();
  private readonly heard = new Map<number, number>();
  /** Id of the last copy read from each input. */
  private readonly lastRead = new Map<number, string>();
  /** Inputs whose newest time changed since the last checkpoint. */
  private changed = false;

  constructor(
    private readonly expected: number,
    now: number,
  ) {
    this.expect(now);
  }

  /** Every expected input not known yet: nothing from it so far, heard of now. */
  private expect(now: number): void {
    for (let src = 0; src < this.expected; src++)
      if (!this.newest.has(src)) {
        this.newest.set(src, -Infinity);
        this.heard.set(src, now);
      }
  }

  saw(src: number, t: number, now: number, id: string | undefined): void {
    this.heard.set(src, now);
    if (id !== undefined) this.lastRead.set(src, id);
    const had = this.newest.get(src);
    if (had === undefined || t > had) {
      this.newest.set(src, t);
      this.changed = true;
    }
  }

  /** Id of the last copy read from the input (undefined: none since the partition was opened or restored). */
  lastReadOf(src: number): string | undefined {
    return this.lastRead.get(src);
  }

  quietFor(src: number, now: number): number {
    const at = this.heard.get(src);
    return at === undefined ? Infinity : now - at;
  }

  /** The inputs known (expected or heard from). */
  sources(): IterableIterator<number> {
    return this.newest.keys();
  }

  /**
   * The watermark: the slowest newest time among the inputs that hold it back (every input but the
   * `released` ones; null: none holds it back); the newest of all when none does. -Infinity with no inputs.
   */
  watermark(released: ReadonlySet<number> | null): number {
    let slowest = Infinity;
    let newest = -Infinity;
    let held = false;
    for (const [src, t] of this.newest) {
      if (t > newest) newest = t;
      if (released !== null && !released.has(src)) {
        held = true;
        if (t < slowest) slowest = t;
      }
    }
    return held ? slowest : newest;
  }

  /** For a checkpoint: every input's newest time (full), or null when none changed (delta). */
  take(full: boolean): Record<string, number> | null {
    if (!full && !this.changed) return null;
    this.changed = false;
    const out: Record<string, number> = {};
    for (const [src, t] of this.newest) if (Number.isFinite(t)) out[src] = t;
    return out;
  }

  /** From a checkpoint (full snapshot, then deltas in order); the inputs count as heard from now. */
  restore(lists: unknown[], now: number): void {
    this.newest.clear();
    this.heard.clear();
    this.lastRead.clear();
    this.changed = false;
    for (const l of lists) {
      if (!l || typeof l !== "object") continue;
      for (const [k, v] of Object.entries(l as Record<string, unknown>)) {
        const src = Number(k);
        if (!Number.isInteger(src) || typeof v !== "number" || !Number.isFinite(v)) continue;
        const had = this.newest.get(src);
        if (had === undefined || v > had) this.newest.set(src, v);
        this.heard.set(src, now);
      }
    }
    this.expect(now);
  }
}

/** Routing copies remembered per partition to recognise a copy stored twice; a resend follows its original closely. */
export const RECENT_COPIES_KEPT = 20_000;
/** Of those, the newest this many go into each full checkpoint (a restarted instance recognises their resends). */
export const CHECKPOINT_COPIES_KEPT = 5_000;
/** The checkpoint entry holding the remembered copy ids (next to the stages' own entries). */
const COPIES = "copies";
const NO_INPUTS: ReadonlySet<number> = new Set();
/** Events partitions an input number may name (a bound on the per-input state). */
const MAX_INPUTS = 65_536;
/** The checkpoint entry holding the inputs' newest event times. */
const INPUTS = "inputs";
/** How long detection's progress on its inputs is reused before asking again. */
const PROGRESS_TTL_MS = 1_000;

/**
 * Ids of the routing copies a partition read lately (their first 16 hex digits) with the offset they were
 * read at ("" for those restored from the checkpoint), bounded, oldest first. A copy is stored twice when a
 * producer resends a batch the broker had already written, and when detection crashed after publishing a
 * batch's copies but before committing the batch, then publishes them again.
 */
class CopyMemory {
  private readonly seen = new Map<string, string>();
  /** Ids remembered since the last checkpoint (they go into the next delta). */
  fresh: string[] = [];

  /** False when the copy was already read at another offset (a duplicate); remembers it otherwise. */
  admit(id: string, offset: string): boolean {
    const at = this.seen.get(id);
    if (at !== undefined) return at === offset;
    this.remember(id, offset);
    this.fresh.push(id);
    return true;
  }

  /** Replaces the memory with the ids a checkpoint (full snapshot and deltas) recorded. */
  restore(lists: unknown[]): void {
    this.seen.clear();
    this.fresh = [];
    for (const ids of lists) if (Array.isArray(ids)) for (const id of ids) if (typeof id === "string") this.remember(id, "");
  }

  /** The newest CHECKPOINT_COPIES_KEPT ids, oldest first (for a full checkpoint). */
  newest(): string[] {
    const skip = this.seen.size - CHECKPOINT_COPIES_KEPT;
    const out: string[] = [];
    let i = 0;
    for (const id of this.seen.keys()) if (i++ >= skip) out.push(id);
    return out;
  }

  private remember(id: string, offset: string): void {
    this.seen.set(id, offset);
    if (this.seen.size > RECENT_COPIES_KEPT) this.seen.delete(this.seen.keys().next().value as string);
  }
}

export interface RunnerStats {
  batches: number;
  messages: number;
  skipped: number;
  malformed: number;
  published: number;
  checkpoints: number;
  failed: number;
  /** Plans swapped in. */
  swaps: number;
  /** Routing copies for rules this instance does not run (held for a while, then dropped). */
  unknown: number;
  /** Routing copies read a second time at another offset (a resend), not counted again. */
  duplicates: number;
}

export class StatefulRunner {
  readonly stats: RunnerStats = { batches: 0, messages: 0, skipped: 0, malformed: 0, published: 0, checkpoints: 0, failed: 0, swaps: 0, unknown: 0, duplicates: 0 };
  private readonly partitions = new Map<number, PartitionState>();
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly groupId: string;
  private readonly now: () => number;
  private stages: StatefulStage[];
  private known: KnownRules | null;
  /** Rule ids earlier plans had and a swap removed: copies still naming them are dropped without waiting. */
  private readonly removed = { correlations: new Set<string>(), baselines: new Set<string>() };
  /** Since when batches name rules this instance does not know (null: they do not). */
  private unknownSince: number | null = null;
  /** Detection's progress on each input (the caught-up events partitions, the last copy sent), as last asked. */
  private progress: { at: number; progress: InputProgress } | null = null;

  constructor(private readonly o: RunnerOptions) {
    this.groupId = o.groupId ?? "sigil-correlate-stateful";
    this.now = o.now ?? Date.now;
    this.stages = o.stages;
    this.known = o.known ?? null;
  }

  /**
   * Swaps in the stages of a new rule plan between two batches (atomically for every partition held):
   * each partition's state goes through a snapshot into the new stages, which keep the state of rules
   * with the same id and semantics and drop the rest; a full checkpoint then records the new state.
   * Partitions assigned later open with the new stages.
   */
  swap(stages: StatefulStage[], known?: KnownRules): Promise<SwapReport> {
    return this.locked(async () => {
      const report: SwapReport = { partitions: 0, kept: 0, dropped: 0 };
      if (this.known && known) {
        for (const k of ["correlations", "baselines"] as const) {
          for (const id of this.known[k]) if (!known[k].has(id)) this.remove(this.removed[k], id);
          for (const id of known[k]) this.removed[k].delete(id);
        }
      }
      this.stages = stages;
      this.known = known ?? null;
      this.unknownSince = null;
      for (const ps of this.partitions.values()) {
        report.partitions++;
        const old = ps.parts;
        const snaps = new Map<string, unknown>();
        if (!ps.stale) for (const { stage, part } of old) snaps.set(stage.name, part.snapshot());
        for (const { part } of old) part.close();
        ps.parts = stages.map((stage) => ({ stage, part: stage.open(ps.partition, ps.emit) }));
        if (ps.stale) {
          // the live state was not trustworthy (a failed batch): the checkpoint, read under the new
          // rules (now, or before the next batch if the store does not answer)
          await this.reload(ps).catch((err: unknown) => this.o.log?.warn({ partition: ps.partition, err: String(err) }, "could not reload the partition checkpoint; it is reloaded before the next batch"));
          continue;
        }
        for (const { stage, part } of ps.parts) {
          const r = part.restore(snaps.get(stage.name) ?? null, []);
          if (r) {
            report.kept += r.restored;
            report.dropped += r.dropped;
          }
        }
        ps.ckpt.requestFull();
        try {
          await this.flush(ps, null);
        } catch (err) {
          // the next batch starts again from the checkpoint, read under the new rules: nothing lost
          ps.stale = true;
          this.o.log?.warn({ partition: ps.partition, err: String(err) }, "could not checkpoint the state carried into the new plan; the partition reloads its checkpoint");
        }
      }
      this.stats.swaps++;
      return report;
    });
  }

  private remove(set: Set<string>, id: string): void {
    set.add(id);
    // bounded: the oldest removals are forgotten first (their copies are long gone)
    if (set.size > 10_000) set.delete(set.values().next().value as string);
  }

  /** Partitions held now (tests). */
  held(): number[] {
    return [...this.partitions.keys()].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    this.producer = await this.o.bus.producer();
    this.consumer = await this.o.bus.consumer({
      groupId: this.groupId,
      topics: ["signals"],
      fromBeginning: true,
      maxBatchSize: this.o.maxBatchSize ?? 2_000,
      onAssigned: (parts) => this.locked(() => this.assigned(parts)),
      onRevoked: (parts) => this.locked(() => this.revoked(parts)),
    });
    await this.consumer.run((batch) => this.locked(() => this.handle(batch)));
    const idle = this.o.idleAdvanceMs ?? 0;
    if (idle > 0) {
      this.timer = setInterval(() => void this.locked(() => this.idleTick(idle)).catch((err) => this.o.log?.error({ err: String(err) }, "idle advance failed")), Math.max(1_000, Math.floor(idle / 2)));
      this.timer.unref();
    }
  }

  /** Finishes the in-flight batch, checkpoints, leaves the group. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.consumer?.close();
    this.consumer = null;
    await this.producer?.close();
    this.producer = null;
    for (const ps of this.partitions.values()) for (const p of ps.parts) p.part.close();
    this.partitions.clear();
  }

  /** Batches, rebalances and idle ticks never interleave. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async assigned(parts: TopicPartition[]): Promise<void> {
    for (const tp of parts) {
      if (tp.topic !== "signals" || this.partitions.has(tp.partition)) continue;
      const ps: PartitionState = {
        partition: tp.partition,
        parts: [],
        ckpt: new PartitionCheckpoint(this.o.store, `${this.groupId}/${this.o.bus.topicName("signals")}`, tp.partition, { fullIntervalMs: this.o.checkpointIntervalMs, now: this.now }),
        covered: null,
        out: [],
        emit: (s: Signal) => ps.out.push({ key: s.signal.key, value: JSON.stringify(s), timestamp: Date.parse(s["@timestamp"]) || undefined }),
        lastInput: this.now(),
        stale: false,
        copies: new CopyMemory(),
        inputs: new Inputs(this.o.inputs ?? 0, this.now()),
        watermark: -Infinity,
      };
      ps.parts = this.stages.map((stage) => ({ stage, part: stage.open(tp.partition, ps.emit) }));
      await this.reload(ps);
      this.partitions.set(tp.partition, ps);
    }
  }

  /** Replaces a partition's state with its checkpoint (assignment, or after a failed batch). */
  private async reload(ps: PartitionState): Promise<void> {
    const loaded = await ps.ckpt.load();
    for (const { stage, part } of ps.parts) {
      const full = loaded.full ? (loaded.full[stage.name] ?? null) : null;
      const deltas = loaded.deltas.map((d) => d[stage.name]).filter((d) => d !== undefined && d !== null);
      part.restore(full, deltas);
    }
    ps.covered = loaded.offset === null ? null : BigInt(loaded.offset);
    // the copies the checkpoint covers are remembered; those read after it are read again
    ps.copies.restore([loaded.full?.[COPIES], ...loaded.deltas.map((d) => d[COPIES])]);
    ps.inputs.restore([loaded.full?.[INPUTS], ...loaded.deltas.map((d) => d[INPUTS])], this.now());
    ps.watermark = -Infinity;
    ps.out = [];
    ps.stale = false;
    this.o.log?.info({ partition: ps.partition, offset: loaded.offset, deltas: loaded.deltas.length }, "restored partition state");
  }

  private async revoked(parts: TopicPartition[]): Promise<void> {
    for (const tp of parts) {
      const ps = this.partitions.get(tp.partition);
      if (!ps || tp.topic !== "signals") continue;
      // every batch was checkpointed before it committed; flush what an idle tick may have left. A stale
      // partition (a batch failed after changing state) is not: its memory holds the failed batch, which
      // the next holder gets again from the stored checkpoint
      if (!ps.stale) await this.flush(ps, null);
      for (const p of ps.parts) p.part.close();
      this.partitions.delete(tp.partition);
      this.o.log?.info({ partition: tp.partition }, "released partition state");
    }
  }

  private async handle(batch: Batch): Promise<void> {
    const ps = this.partitions.get(batch.partition);
    if (!ps) throw new Error(`batch for partition ${batch.partition}, which this member does not hold`);
    // a failed batch left state the store does not have: start again from the checkpoint, so the
    // redelivered batch is not counted twice
    if (ps.stale) await this.reload(ps);
    const signals = this.decode(ps, batch);
    // before any state changes: a copy naming rules this instance does not run yet waits for them
    this.checkKnown(ps, signals);
    try {
      await this.process(ps, batch, signals);
    } catch (err) {
      ps.stale = true;
      this.stats.failed++;
      this.o.log?.warn({ partition: ps.partition, err: String(err) }, "batch failed; state goes back to the checkpoint and the batch comes again");
      throw err;
    }
  }

  /** The batch's routing copies not yet covered by the partition's state (null: skipped or not a copy). */
  private decode(ps: PartitionState, batch: Batch): (Signal | null)[] {
    const out: (Signal | null)[] = new Array(batch.messages.length);
    for (let i = 0; i < batch.messages.length; i++) {
      const msg = batch.messages[i];
      out[i] = null;
      if (ps.covered !== null && BigInt(msg.offset) <= ps.covered) continue;
      let s: Signal;
      try {
        s = safeJsonParse(msg.value.toString("utf8")) as unknown as Signal;
      } catch {
        this.stats.malformed++;
        continue;
      }
      if (!s || typeof s !== "object" || !s.signal || typeof s.signal !== "object" || !s.signal.route) continue;
      out[i] = s;
      if (s.event && typeof s.event.id === "string" && !ps.copies.admit(s.event.id.slice(0, 16), msg.offset)) {
        // the same copy at another offset: stored twice (a resend); it counted already
        out[i] = null;
        this.stats.duplicates++;
        statefulMetrics.duplicates.inc();
      }
    }
    return out;
  }

  /**
   * Throws (the batch comes again after a backoff, nothing counted) while copies name rules this
   * instance does not know and the hold has not run out: the rule change reaches every instance
   * within moments, and the copies then count. After the hold they are dropped and counted.
   */
  private checkKnown(ps: PartitionState, signals: (Signal | null)[]): void {
    const known = this.known;
    if (!known) return;
    let unknown: string | null = null;
    let strays = 0;
    for (const s of signals) {
      if (!s) continue;
      const r = s.signal.route!;
      let stray = false;
      for (const id of r.correlations ?? [])
        if (!known.correlations.has(id)) {
          stray = true;
          if (!this.removed.correlations.has(id)) unknown ??= id;
        }
      for (const id of r.baselines ?? [])
        if (!known.baselines.has(id)) {
          stray = true;
          if (!this.removed.baselines.has(id)) unknown ??= id;
        }
      if (stray) strays++;
    }
    if (unknown === null) {
      this.stats.unknown += strays;
      this.unknownSince = null;
      return;
    }
    const now = this.now();
    this.unknownSince ??= now;
    const hold = this.o.unknownHoldMs ?? 30_000;
    if (now - this.unknownSince < hold) {
      throw new SigilError("correlate_rule_unknown", `a routing copy on partition ${ps.partition} names rule ${unknown}, which this instance does not run (yet)`, {
        hint: "another correlate instance runs newer rules; this one waits for the same rule change, then drops the copies. Give every instance the same rule files",
      });
    }
    this.stats.unknown += strays;
    this.o.log?.warn({ partition: ps.partition, rule_id: unknown, held_ms: now - this.unknownSince }, "routing copies name a rule this instance does not run; dropping them");
  }

  private async process(ps: PartitionState, batch: Batch, signals: (Signal | null)[]): Promise<void> {
    this.stats.batches++;
    const now = this.now();
    let fed = false;
    for (let i = 0; i < batch.messages.length; i++) {
      this.stats.messages++;
      const msg = batch.messages[i];
      if (ps.covered !== null && BigInt(msg.offset) <= ps.covered) {
        this.stats.skipped++;
        statefulMetrics.skipped.inc();
        continue;
      }
      const s = signals[i];
      if (!s) continue;
      for (const p of ps.parts) if (p.part.accept(s)) break;
      fed = true;
      // an inner correlation hit forwarded from another partition is not an input's progress
      if (s.signal.type !== "correlation") {
        const src = s.signal.route!.src;
        const t = Date.parse(s["@timestamp"]);
        if (Number.isFinite(t)) ps.inputs.saw(Number.isInteger(src) && (src as number) >= 0 && (src as number) < MAX_INPUTS ? (src as number) : -1, t, now, s.event?.id);
      }
    }
    if (fed) ps.lastInput = now;
    await this.advanceInputs(ps, now);
    const last = batch.messages[batch.messages.length - 1];
    await this.flush(ps, last ? last.offset : null);
  }

  /** Publishes what the partition produced, then checkpoints its state with the offset it covers. */
  private async flush(ps: PartitionState, offset: string | null): Promise<void> {
    if (ps.out.length) {
      const out = ps.out;
      ps.out = [];
      await this.producer!.send("signals", out);
      this.stats.published += out.length;
    }
    const covered = offset ?? (ps.covered === null ? null : ps.covered.toString());
    if (covered === null) return;
    const t0 = performance.now();
    if (ps.ckpt.wantsFull()) {
      const full: Record<string, unknown> = {};
      for (const { stage, part } of ps.parts) full[stage.name] = part.snapshot();
      full[COPIES] = ps.copies.newest();
      full[INPUTS] = ps.inputs.take(true);
      await ps.ckpt.saveFull(full, covered);
      statefulMetrics.checkpointSeconds.observe({ kind: "full" }, (performance.now() - t0) / 1000);
      this.stats.checkpoints++;
    } else {
      const delta: Record<string, unknown> = {};
      let any = false;
      for (const { stage, part } of ps.parts) {
        const d = part.delta();
        if (d !== null) {
          delta[stage.name] = d;
          any = true;
        }
      }
      if (ps.copies.fresh.length) {
        delta[COPIES] = ps.copies.fresh;
        any = true;
      }
      const inputs = ps.inputs.take(false);
      if (inputs) {
        delta[INPUTS] = inputs;
        any = true;
      }
      // unchanged state: the stored checkpoint is also the state after these messages
      if (any) {
        await ps.ckpt.saveDelta(delta, covered);
        statefulMetrics.checkpointSeconds.observe({ kind: "delta" }, (performance.now() - t0) / 1000);
        this.stats.checkpoints++;
      }
    }
    ps.covered = BigInt(covered);
    ps.copies.fresh = [];
    this.report();
  }

  private report(): void {
    const totals = new Map<string, StageCounts>();
    for (const ps of this.partitions.values())
      for (const { stage, part } of ps.parts) {
        const c = part.takeCounts();
        const t = totals.get(stage.name);
        if (!t) totals.set(stage.name, c);
        else for (const k of Object.keys(c) as (keyof StageCounts)[]) t[k] += c[k];
      }
    for (const [name, c] of totals) reportCounts(name, c);
  }

  /** Moves the partition's stages to its inputs' watermark (after each batch). */
  private async advanceInputs(ps: PartitionState, now: number): Promise<void> {
    const holdMs = this.o.inputHoldMs ?? 300_000;
    const progress = await this.inputProgress(now);
    let released: ReadonlySet<number> | null = null;
    if (progress !== null) {
      const r = new Set<number>();
      for (const src of ps.inputs.sources()) {
        // drained: detection has read the input to its end and this partition has read every copy it sent here
        const read = ps.inputs.lastReadOf(src);
        const drained = progress.caughtUp.has(src) && (progress.lastSent(src, ps.partition) ?? read) === read;
        if (drained || ps.inputs.quietFor(src, now) >= holdMs) r.add(src);
      }
      released = r;
    }
    const w = ps.inputs.watermark(released);
    if (w > ps.watermark) {
      ps.watermark = w;
      for (const p of ps.parts) p.part.advanceTo(w);
    }
  }

  /** Detection's progress on its inputs, asked at most once a second (null: every input counts as drained). */
  private async inputProgress(now: number): Promise<InputProgress | null> {
    if (!this.o.progress) return null;
    if (this.progress && now - this.progress.at < PROGRESS_TTL_MS) return this.progress.progress;
    let progress: InputProgress;
    try {
      progress = await this.o.progress();
    } catch (err) {
      // unknown: the quiet inputs keep holding the watermark back (until their hold runs out)
      this.o.log?.debug({ err: String(err) }, "could not tell which events partitions detection has caught up with");
      progress = { caughtUp: NO_INPUTS, lastSent: () => undefined };
    }
    this.progress = { at: now, progress };
    return progress;
  }

  private async idleTick(idleMs: number): Promise<void> {
    const now = this.now();
    const idle = [...this.partitions.values()].filter((ps) => !(ps.covered === null || ps.stale || now - ps.lastInput < idleMs));
    if (idle.length === 0) return;
    if (this.o.upstreamLive) {
      let live = false;
      try {
        live = await this.o.upstreamLive();
      } catch {
        live = false;
      }
      if (!live) {
        statefulMetrics.idleHeld.inc();
        return;
      }
    }
    for (const ps of idle) {
      try {
        for (const p of ps.parts) p.part.advanceIdle(now, idleMs);
        await this.flush(ps, null);
      } catch (err) {
        ps.stale = true;
        throw err;
      }
    }
  }
}
