// Durable state per bus partition in the store's `state` collection: a full snapshot now and then and
// a small delta after every batch, each with the offset it covers, so the state on disk is never
// behind the committed offset (no missed hits) and redelivered messages it already covers are skipped
// (no duplicated hits). Large payloads are split into chunk documents.

import type { Doc, Store } from "../../platform/store/types.ts";
import { safeJsonParse } from "../../schema/fields.ts";

/** Payloads larger than this (characters of JSON) are split into chunk documents. */
const CHUNK_CHARS = 1_000_000;
/** Delta documents fetched per round trip on restore. */
const FETCH = 64;

export interface Loaded<F, D> {
  full: F | null;
  deltas: D[];
  /** Offset (decimal string) of the last message the loaded state covers; null: none. */
  offset: string | null;
}

export interface CheckpointOptions {
  /** Write a full snapshot when the last one is older than this. */
  fullIntervalMs: number;
  /** ... or after this many deltas. */
  maxDeltas?: number;
  now?: () => number;
}

/** Checkpoints of one partition under one scope (e.g. "correlate/sigil.signals"). */
export class PartitionCheckpoint<F, D> {
  private readonly base: string;
  private seq = 0;
  private baseSeq = 0;
  private lastFull = 0;
  private deltasSinceFull = 0;
  private readonly now: () => number;
  private readonly maxDeltas: number;

  constructor(
    private readonly store: Store,
    readonly scope: string,
    readonly partition: number,
    private readonly opts: CheckpointOptions,
  ) {
    this.base = `${scope}/p${partition}`;
    this.now = opts.now ?? Date.now;
    this.maxDeltas = opts.maxDeltas ?? 500;
  }

  /** Reads the snapshot and every later delta, in order. */
  async load(): Promise<Loaded<F, D>> {
    const head = await this.store.get("state", this.base);
    let full: F | null = null;
    let offset: string | null = null;
    this.baseSeq = 0;
    if (head) {
      full = (await this.readPayload(head)) as F;
      offset = typeof head.offset === "string" ? head.offset : null;
      this.baseSeq = Number(head.seq ?? 0);
    }
    const deltas: D[] = [];
    let next = this.baseSeq + 1;
    while (true) {
      const ids = Array.from({ length: FETCH }, (_, i) => `${this.base}/d${next + i}`);
      const docs = await this.store.getMany("state", ids);
      const byId = new Map(docs.map((d) => [d.id as string, d]));
      let got = 0;
      for (const id of ids) {
        const d = byId.get(id);
        if (!d) break;
        deltas.push((await this.readPayload(d)) as D);
        if (typeof d.offset === "string") offset = d.offset;
        got++;
      }
      next += got;
      if (got < FETCH) break;
    }
    this.seq = next - 1;
    this.deltasSinceFull = deltas.length;
    this.lastFull = this.now();
    return { full, deltas, offset };
  }

  /** Whether the next write should be a full snapshot. */
  wantsFull(): boolean {
    return this.deltasSinceFull >= this.maxDeltas || this.now() - this.lastFull >= this.opts.fullIntervalMs;
  }

  /** The next write is a full snapshot (the state was rebuilt, e.g. under a new rule plan). */
  requestFull(): void {
    this.lastFull = -Infinity;
  }

  async saveDelta(delta: D, offset: string): Promise<void> {
    const seq = this.seq + 1;
    const id = `${this.base}/d${seq}`;
    await this.writePayload(id, seq, offset, "delta", delta);
    this.seq = seq;
    this.deltasSinceFull++;
  }

  async saveFull(full: F, offset: string): Promise<void> {
    const seq = this.seq + 1;
    const prevBase = this.baseSeq;
    const prevHead = await this.store.get("state", this.base);
    await this.writePayload(this.base, seq, offset, "full", full);
    this.seq = seq;
    this.baseSeq = seq;
    this.deltasSinceFull = 0;
    this.lastFull = this.now();
    // the deltas and chunks the new snapshot replaces (best effort: restore ignores them anyway)
    const stale: string[] = [];
    for (let s = prevBase + 1; s < seq; s++) stale.push(`${this.base}/d${s}`);
    const prevChunks = Number(prevHead?.chunks ?? 0);
    for (let i = 0; i < prevChunks; i++) stale.push(`${this.base}/s${prevHead!.seq}/c${i}`);
    try {
      for (let i = 0; i < stale.length; i += 500) await this.store.delete("state", stale.slice(i, i + 500));
    } catch {
      // left for the next snapshot's cleanup; never read
    }
  }

  /** Removes every checkpoint document of this partition (tests, `rules` changes that reset state). */
  async clear(): Promise<void> {
    await this.load();
    const ids = [this.base];
    for (let s = this.baseSeq + 1; s <= this.seq; s++) ids.push(`${this.base}/d${s}`);
    await this.store.delete("state", ids);
  }

  private async writePayload(id: string, seq: number, offset: string, kind: "full" | "delta", payload: unknown): Promise<void> {
    const json = JSON.stringify(payload);
    const head: Doc = { id, kind: `sigil.checkpoint.${kind}`, scope: this.scope, partition: this.partition, seq, offset, updated: new Date(this.now()).toISOString() };
    if (json.length <= CHUNK_CHARS) {
      head.data = json;
      await this.store.put("state", [head]);
      return;
    }
    const chunks: Doc[] = [];
    const prefix = kind === "full" ? `${this.base}/s${seq}` : id;
    for (let i = 0, n = 0; i < json.length; i += CHUNK_CHARS, n++) chunks.push({ id: `${prefix}/c${n}`, kind: "sigil.checkpoint.chunk", data: json.slice(i, i + CHUNK_CHARS) });
    // chunks first: a head is only visible once everything it points to is durable
    for (let i = 0; i < chunks.length; i += 8) await this.store.put("state", chunks.slice(i, i + 8));
    head.chunks = chunks.length;
    await this.store.put("state", [head]);
  }

  private async readPayload(head: Doc): Promise<unknown> {
    if (typeof head.data === "string") return safeJsonParse(head.data);
    const n = Number(head.chunks ?? 0);
    const prefix = head.kind === "sigil.checkpoint.full" ? `${this.base}/s${head.seq}` : (head.id as string);
    const ids = Array.from({ length: n }, (_, i) => `${prefix}/c${i}`);
    const docs = await this.store.getMany("state", ids);
    const byId = new Map(docs.map((d) => [d.id as string, d.data as string]));
    let json = "";
    for (const id of ids) {
      const part = byId.get(id);
      if (part === undefined) throw new Error(`checkpoint ${head.id as string}: chunk ${id} is missing`);
      json += part;
    }
    return safeJsonParse(json);
  }
}
