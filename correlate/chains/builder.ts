// The attack-chain builder: links signals that share an entity within a window into chains, records
// why every link was made, orders steps by time and ATT&CK tactic, scores the risk, and keeps its
// state bounded (max chains, max steps, window expiry). Deterministic for a given signal order.

import { derivedId } from "../../schema/event-id.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import type { Chain, ChainLink, ChainStep, EventRef, Level, Signal } from "../../schema/signal.ts";
import type { EntityRef } from "./entities.ts";
import type { EntityModel } from "./model.ts";
import { DEFAULT_RISK_OPTIONS, chainRisk, ruleConfidence, type RiskBreakdown, type RiskInput, type RiskOptions } from "./risk.ts";
import { signalAttack, sortTactics, tacticRank } from "./tactics.ts";

export interface ChainOptions {
  /** Signals that share an entity within this window (event time) join one chain. */
  windowMs: number;
  /** Combined weight of the shared entities (noisy-OR) a signal needs to join a chain. */
  linkThreshold: number;
  /** A chain is reported (and becomes an alert) at or above this risk score. */
  alertThreshold: number;
  /** The same rule on the same entity within this window is counted into the existing step. */
  suppressWindowMs: number;
  /** Most live chains (candidates included); the stalest are finalized first. */
  maxChains: number;
  /** Most distinct steps in one chain; later signals are counted into the chain, not listed. */
  maxStepsPerChain: number;
  /** Event references kept per step. */
  maxEventsPerStep: number;
  /** An entity shared by more live chains than this is a hub: it is not used to look up candidates. */
  maxChainsPerEntity: number;
  risk: RiskOptions;
}

export const DEFAULT_CHAIN_OPTIONS: ChainOptions = {
  windowMs: 4 * 3600_000,
  linkThreshold: 0.5,
  alertThreshold: 50,
  suppressWindowMs: 3600_000,
  maxChains: 100_000,
  maxStepsPerChain: 500,
  maxEventsPerStep: 20,
  maxChainsPerEntity: 64,
  risk: DEFAULT_RISK_OPTIONS,
};

interface Member {
  signalId: string;
  ts: number;
  iso: string;
  rule: { id: string; title: string; level: Level };
  tactics: string[];
  techniques: string[];
  entities: EntityRef[];
  why: string[];
  events: EventRef[];
  count: number;
  risk: RiskInput;
  datasets: string[];
  type: string;
}

interface Group {
  id: string;
  members: Member[];
  firstTs: number;
  lastTs: number;
  version: number;
  links: ChainLink[];
  /** entity key → the latest member carrying it (for window checks and "shared with"). */
  entityLast: Map<string, { ts: number; member: Member; ref: EntityRef }>;
  duplicates: number;
  overflow: number;
  risk: RiskBreakdown;
  promoted: boolean;
  /** Rebuilt from a stored chain: its steps' counts already include the signals suppressed into them. */
  restored?: boolean;
}

/** What adding one signal did. */
export interface AddResult {
  /** The chain the signal is now part of (candidate or promoted). */
  chainId: string;
  /** The signal was already known (redelivery): nothing changed. */
  duplicate: boolean;
  /** Counted into an existing step (same rule and entity within the suppression window). */
  suppressed: boolean;
  /** Chains merged into chainId by this signal. */
  merged: string[];
  /** The chain reached the alert threshold with this signal. */
  promotedNow: boolean;
  /** The chain is at or above the alert threshold. */
  promoted: boolean;
}

const MAX_LINKS_PER_CHAIN = 2_000;
const FIRST = "first signal of the chain";

function ms(iso: string): number {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : 0;
}

function short(ts: number): string {
  return new Date(ts).toISOString().replace(".000Z", "Z");
}

export class ChainBuilder {
  readonly opts: ChainOptions;
  private readonly groups = new Map<string, Group>();
  private readonly index = new Map<string, Set<string>>();
  private readonly signalGroup = new Map<string, string>();
  /** Counters for telemetry. */
  readonly stats = { signals: 0, duplicates: 0, suppressed: 0, merges: 0, evicted: 0, expired: 0, overflow: 0 };

  constructor(private readonly model: EntityModel, opts: Partial<ChainOptions> = {}) {
    this.opts = { ...DEFAULT_CHAIN_OPTIONS, ...opts, risk: { ...DEFAULT_RISK_OPTIONS, ...(opts.risk ?? {}) } };
  }

  get size(): number {
    return this.groups.size;
  }

  /**
   * Adds one signal; idempotent by signal id. `replay`: a stored signal replayed after a restore (see
   * restoreChainState); one that links to a restored chain changes nothing and is not remembered.
   */
  add(signal: Signal, opts: { replay?: boolean } = {}): AddResult {
    const sid = signal.event.id;
    const known = this.signalGroup.get(sid);
    if (known) {
      this.stats.duplicates++;
      const g = this.groups.get(known);
      return { chainId: known, duplicate: true, suppressed: false, merged: [], promotedNow: false, promoted: g?.promoted ?? false };
    }
    this.stats.signals++;
    const member = this.toMember(signal);
    const weights = new Map<string, number>();
    for (const ref of member.entities) weights.set(ref.key, this.model.weigh(ref).weight);

    // candidate chains: those holding one of our entities within the window
    const shared = new Map<string, { ref: EntityRef; weight: number; with: Member }[]>();
    for (const ref of member.entities) {
      const w = weights.get(ref.key) ?? 0;
      if (w <= 0) continue;
      const ids = this.index.get(ref.key);
      if (!ids || ids.size > this.opts.maxChainsPerEntity) continue;
      for (const gid of ids) {
        const g = this.groups.get(gid);
        const last = g?.entityLast.get(ref.key);
        if (!g || !last || Math.abs(member.ts - last.ts) > this.opts.windowMs) continue;
        // the weaker of the two sides' relation decides (an ancestor on one side is weaker evidence)
        const w2 = Math.min(w, w * (last.ref.factor / Math.max(ref.factor, 1e-9)));
        const list = shared.get(gid) ?? [];
        list.push({ ref, weight: Math.min(w, w2), with: last.member });
        shared.set(gid, list);
      }
    }
    const linked: { g: Group; score: number; via: { ref: EntityRef; weight: number; with: Member }[] }[] = [];
    for (const [gid, via] of shared) {
      let miss = 1;
      for (const v of via) miss *= 1 - Math.min(0.999, v.weight);
      const score = 1 - miss;
      if (score >= this.opts.linkThreshold) linked.push({ g: this.groups.get(gid)!, score, via: via.sort((a, b) => b.weight - a.weight) });
    }

    if (linked.length === 0) {
      const g = this.newGroup(member);
      member.why.push(FIRST);
      this.attach(g, member);
      return this.finish(g, member, false, []);
    }

    // the oldest chain survives a merge (deterministic)
    linked.sort((a, b) => a.g.firstTs - b.g.firstTs || (a.g.id < b.g.id ? -1 : 1));
    const target = linked[0].g;
    // a replayed signal that links to a restored chain is left out: the stored chain already shows
    // what the previous holder made of it (a step, or a count); one it had not handled yet comes again
    // from the bus. The entity statistics of this process differ from the previous holder's, so
    // replaying it could attach, count or merge differently and rewrite an alert for nothing.
    if (opts.replay) {
      const restored = linked.find((l) => l.g.restored);
      if (restored) {
        this.stats.signals--;
        return { chainId: restored.g.id, duplicate: true, suppressed: false, merged: [], promotedNow: false, promoted: restored.g.promoted };
      }
    }
    const merged: string[] = [];
    for (const other of linked.slice(1)) {
      // the absorbed chain's first step now says how its chain joined this one
      const seed = other.g.members[0];
      const v = other.via[0];
      if (seed && v && seed.why[0] === FIRST) {
        seed.why[0] = `chain joined through "${member.rule.title}" at ${short(member.ts)}, which shares ${v.ref.type} ${v.ref.value} with "${v.with.rule.title}" at ${short(v.with.ts)}`;
      }
      this.merge(target, other.g);
      merged.push(other.g.id);
    }
    for (const l of linked) {
      for (const v of l.via.slice(0, 3)) {
        member.why.push(describeLink(v.ref, v.weight, v.with));
        if (target.links.length < MAX_LINKS_PER_CHAIN) {
          target.links.push({ from: v.with.signalId, to: member.signalId, entity: { type: v.ref.type, value: v.ref.value }, reason: describeLink(v.ref, v.weight, v.with) });
        }
      }
      member.why.push(`link score ${l.score.toFixed(2)} (threshold ${this.opts.linkThreshold})`);
    }
    if (merged.length) member.why.push(`joined ${merged.length + 1} chains into one`);

    // suppression: same rule, sharing an entity with an earlier step, within the suppression window
    const dup = this.suppressedBy(target, member, weights);
    if (dup) {
      dup.count++;
      for (const ev of member.events) if (dup.events.length < this.opts.maxEventsPerStep) dup.events.push(ev);
      target.duplicates++;
      this.stats.suppressed++;
      this.signalGroup.set(member.signalId, target.id);
      this.indexEntities(target, member, dup);
      target.lastTs = Math.max(target.lastTs, member.ts);
      return this.finish(target, member, true, merged);
    }
    if (target.members.length >= this.opts.maxStepsPerChain) {
      target.overflow++;
      target.duplicates++;
      this.stats.overflow++;
      this.signalGroup.set(member.signalId, target.id);
      target.lastTs = Math.max(target.lastTs, member.ts);
      return this.finish(target, member, true, merged);
    }
    this.attach(target, member);
    return this.finish(target, member, false, merged);
  }

  /** The step a signal would be counted into: same rule, sharing an entity, within the suppression window. */
  private suppressedBy(target: Group, member: Member, weights: Map<string, number>): Member | undefined {
    return target.members.find(
      (m) => m.rule.id === member.rule.id && Math.abs(m.ts - member.ts) <= this.opts.suppressWindowMs && m.entities.some((e) => member.entities.some((x) => x.key === e.key && (weights.get(x.key) ?? 0) > 0)),
    );
  }

  private finish(g: Group, _m: Member, suppressed: boolean, merged: string[]): AddResult {
    const was = g.promoted;
    g.version++;
    g.risk = this.score(g);
    if (g.risk.score >= this.opts.alertThreshold) g.promoted = true;
    if (this.groups.size > this.opts.maxChains) this.evict();
    return { chainId: g.id, duplicate: false, suppressed, merged, promotedNow: g.promoted && !was, promoted: g.promoted };
  }

  private newGroup(first: Member): Group {
    const g: Group = {
      id: derivedId("chain", first.signalId),
      members: [],
      firstTs: first.ts,
      lastTs: first.ts,
      version: 0,
      links: [],
      entityLast: new Map(),
      duplicates: 0,
      overflow: 0,
      risk: { score: 0, sum: 0, multiplier: 1, tactics: 0, techniques: 0, hosts: 0, sources: 0 },
      promoted: false,
    };
    this.groups.set(g.id, g);
    return g;
  }

  private attach(g: Group, m: Member): void {
    // keep steps ordered by time, then by tactic progression
    let i = g.members.length;
    while (i > 0 && compareMembers(g.members[i - 1], m) > 0) i--;
    g.members.splice(i, 0, m);
    g.firstTs = Math.min(g.firstTs, m.ts);
    g.lastTs = Math.max(g.lastTs, m.ts);
    this.signalGroup.set(m.signalId, g.id);
    this.indexEntities(g, m, m);
  }

  private indexEntities(g: Group, from: Member, as: Member): void {
    for (const ref of from.entities) {
      const prev = g.entityLast.get(ref.key);
      if (!prev || prev.ts <= from.ts) g.entityLast.set(ref.key, { ts: from.ts, member: as, ref });
      let ids = this.index.get(ref.key);
      if (!ids) {
        ids = new Set();
        this.index.set(ref.key, ids);
      }
      ids.add(g.id);
    }
  }

  private merge(into: Group, from: Group): void {
    this.stats.merges++;
    for (const m of from.members) {
      let i = into.members.length;
      while (i > 0 && compareMembers(into.members[i - 1], m) > 0) i--;
      into.members.splice(i, 0, m);
      this.signalGroup.set(m.signalId, into.id);
    }
    for (const [sig, gid] of this.signalGroup) if (gid === from.id) this.signalGroup.set(sig, into.id);
    for (const l of from.links) if (into.links.length < MAX_LINKS_PER_CHAIN) into.links.push(l);
    for (const [key, last] of from.entityLast) {
      const prev = into.entityLast.get(key);
      if (!prev || prev.ts <= last.ts) into.entityLast.set(key, last);
      const ids = this.index.get(key);
      if (ids) {
        ids.delete(from.id);
        ids.add(into.id);
      }
    }
    into.firstTs = Math.min(into.firstTs, from.firstTs);
    into.lastTs = Math.max(into.lastTs, from.lastTs);
    into.duplicates += from.duplicates;
    into.overflow += from.overflow;
    into.promoted = into.promoted || from.promoted;
    while (into.members.length > this.opts.maxStepsPerChain) {
      const dropped = into.members.pop()!;
      into.overflow += dropped.count;
    }
    this.groups.delete(from.id);
  }

  private score(g: Group): RiskBreakdown {
    const tactics = new Set<string>();
    const techniques = new Set<string>();
    const hosts = new Set<string>();
    const sources = new Set<string>();
    for (const m of g.members) {
      for (const t of m.tactics) tactics.add(t);
      for (const t of m.techniques) techniques.add(t);
      for (const e of m.entities) if (e.type === "host" && e.factor === 1) hosts.add(e.value);
      for (const d of m.datasets) sources.add(d);
    }
    return chainRisk(
      g.members.map((m) => m.risk),
      { tactics: tactics.size, techniques: techniques.size, hosts: hosts.size, sources: sources.size },
      this.opts.risk,
    );
  }

  private remove(g: Group): void {
    for (const key of g.entityLast.keys()) {
      const ids = this.index.get(key);
      if (ids) {
        ids.delete(g.id);
        if (ids.size === 0) this.index.delete(key);
      }
    }
    for (const m of g.members) this.signalGroup.delete(m.signalId);
    this.groups.delete(g.id);
  }

  private evict(): void {
    const sorted = [...this.groups.values()].sort((a, b) => a.lastTs - b.lastTs);
    const n = Math.max(1, this.groups.size - this.opts.maxChains + (this.opts.maxChains >> 4));
    for (const g of sorted.slice(0, n)) {
      this.remove(g);
      this.stats.evicted++;
    }
  }

  /**
   * Rebuilds a stored chain (after a restart) from its document and its signals, keeping its id,
   * steps, reasons and counts, so new signals keep joining it and redeliveries stay duplicates.
   */
  restore(chain: Chain, signals: Signal[]): boolean {
    if (this.groups.has(chain.id)) return false;
    const byId = new Map(signals.map((x) => [x.event.id, x]));
    const members: Member[] = [];
    for (const step of chain.steps) {
      const sig = byId.get(step.signal_id);
      if (!sig || this.signalGroup.has(sig.event.id)) continue;
      const m = this.toMember(sig);
      m.why = [...step.why];
      // the step's count shows repeats; the score counts the step once, as it did live (a restored
      // chain scores what it scored before, so its alert is not rewritten for nothing)
      m.count = typeof step["count"] === "number" ? (step["count"] as number) : 1;
      m.events = step.events.slice(0, this.opts.maxEventsPerStep);
      members.push(m);
    }
    if (members.length === 0) return false;
    const g = this.newGroup(members[0]);
    this.groups.delete(g.id);
    g.id = chain.id;
    this.groups.set(g.id, g);
    for (const m of members) this.attach(g, m);
    g.links = [...chain.links].slice(0, MAX_LINKS_PER_CHAIN);
    g.duplicates = typeof chain["duplicate_count"] === "number" ? (chain["duplicate_count"] as number) : 0;
    g.version = chain.version;
    g.risk = this.score(g);
    g.promoted = true;
    g.restored = true;
    return true;
  }

  /**
   * Finalizes chains whose last signal is older than the window at this event-time watermark: they
   * can no longer grow. Returns the promoted ones among them (their last state).
   */
  expire(watermarkMs: number): Chain[] {
    const out: Chain[] = [];
    for (const g of [...this.groups.values()]) {
      if (watermarkMs - g.lastTs > this.opts.windowMs) {
        if (g.promoted) out.push(this.toChain(g));
        this.remove(g);
        this.stats.expired++;
      }
    }
    return out;
  }

  /** The chain a signal belongs to, as a document (candidates included). */
  chain(id: string): Chain | null {
    const g = this.groups.get(id);
    return g ? this.toChain(g) : null;
  }

  /** Live chains, ordered by first signal; candidates (below the alert threshold) only when asked. */
  chains(opts: { includeCandidates?: boolean } = {}): Chain[] {
    return [...this.groups.values()]
      .filter((g) => opts.includeCandidates || g.promoted)
      .sort((a, b) => a.firstTs - b.firstTs || (a.id < b.id ? -1 : 1))
      .map((g) => this.toChain(g));
  }

  isPromoted(id: string): boolean {
    return this.groups.get(id)?.promoted ?? false;
  }

  private toChain(g: Group): Chain {
    const tactics = sortTactics(g.members.flatMap((m) => m.tactics));
    const techniques = [...new Set(g.members.flatMap((m) => m.techniques))].sort();
    const users = new Set<string>();
    const hosts = new Set<string>();
    const ips = new Set<string>();
    const services = new Set<string>();
    const processes = new Set<string>();
    for (const m of g.members) {
      for (const e of m.entities) {
        // what the steps are about: their own hosts, users and services (hubs too: they are still the
        // place it happened), and the addresses and processes that carry weight
        if (e.factor < 0.9) continue;
        if ((e.type === "ip" || e.type === "process") && this.model.weigh(e).weight <= 0) continue;
        if (e.type === "user") users.add(e.value);
        else if (e.type === "host") hosts.add(e.value);
        else if (e.type === "ip") ips.add(e.value);
        else if (e.type === "service") services.add(e.value);
        else if (e.type === "process" && e.factor === 1) processes.add(e.value);
      }
    }
    const steps: ChainStep[] = g.members.map((m) => {
      const host = m.entities.find((e) => e.type === "host" && e.factor === 1)?.value;
      const user = m.entities.find((e) => e.type === "user")?.value;
      const step: ChainStep = {
        signal_id: m.signalId,
        "@timestamp": m.iso,
        rule: m.rule,
        why: m.why,
        events: m.events,
        count: m.count,
        signal_type: m.type,
      };
      if (m.tactics[0]) step.tactic = m.tactics[0];
      if (m.techniques[0]) step.technique = m.techniques[0];
      if (host) step.host = host;
      if (user) step.user = user;
      return step;
    });
    const chain: Chain = {
      id: g.id,
      "@timestamp": short(g.lastTs),
      version: g.version,
      score: g.risk.score,
      tactics,
      techniques,
      entities: { users: [...users].sort(), hosts: [...hosts].sort(), ips: [...ips].sort(), services: [...services].sort(), processes: [...processes].sort() },
      first_seen: new Date(g.firstTs).toISOString(),
      last_seen: new Date(g.lastTs).toISOString(),
      steps,
      links: g.links,
      signal_count: g.members.reduce((s, m) => s + m.count, 0) + g.overflow,
      duplicate_count: g.duplicates,
      risk: g.risk as unknown as JsonObject,
    };
    return chain;
  }

  private toMember(s: Signal): Member {
    const { tactics, techniques } = signalAttack(s);
    const ts = ms(s["@timestamp"]);
    const level = (s.rule?.level ?? "medium") as Level;
    const anomaly = s.signal?.anomaly;
    const datasets = [...new Set((s.signal?.events ?? []).map((e) => e.dataset).filter((d): d is string => typeof d === "string"))];
    return {
      signalId: s.event.id,
      ts,
      iso: s["@timestamp"],
      rule: { id: s.rule?.id ?? "unknown", title: s.rule?.title ?? "untitled", level },
      tactics,
      techniques,
      entities: this.model.signalEntities(s),
      why: [],
      events: (s.signal?.events ?? []).slice(0, this.opts.maxEventsPerStep),
      count: 1,
      risk: {
        ruleId: s.rule?.id ?? "unknown",
        level,
        riskScore: typeof s.event.risk_score === "number" ? s.event.risk_score : undefined,
        confidence: ruleConfidence(s.rule?.status, s.rule?.tags),
        anomalyFactor: anomaly ? Math.max(1, anomaly.score / 3) : undefined,
        count: 1,
      },
      datasets: datasets.length ? datasets : [s.signal?.type ?? "match"],
      type: s.signal?.type ?? "match",
    };
  }
}

function compareMembers(a: Member, b: Member): number {
  return a.ts - b.ts || tacticRank(a.tactics[0]) - tacticRank(b.tactics[0]) || (a.signalId < b.signalId ? -1 : a.signalId > b.signalId ? 1 : 0);
}

function describeLink(ref: EntityRef, weight: number, withMember: Member): string {
  const raw = ref.raw.toLowerCase() !== ref.value.toLowerCase() ? ` (normalized from ${ref.raw})` : "";
  return `${ref.type} ${ref.value}${raw}, ${ref.relation ?? "entity"} via ${ref.field}, shared with "${withMember.rule.title}" at ${short(withMember.ts)} (weight ${weight.toFixed(2)})`;
}
