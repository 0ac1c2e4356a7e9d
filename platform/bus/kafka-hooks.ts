// Exact rebalance hooks for kafkajs consumers. kafkajs (eager protocol) has no "partitions revoked"
// callback and does not await its GROUP_JOIN event, but correlation state is keyed by partition, so
// a member must hand a partition's state back *before* another member may take it. We wrap the
// consumer group's joinAndSync and leave (kafkajs 2.2.x internals, checked at load): before a
// member (re)joins or leaves it finishes its in-flight batch and calls onRevoked for everything it
// holds; after the sync it calls onAssigned before the first batch. The group cannot complete a
// rebalance until every member has rejoined, so the old owner's onRevoked always finishes before
// the new owner's onAssigned starts.

import { createRequire } from "node:module";
import { SigilError } from "../errors.ts";

export interface GroupHooks {
  beforeJoin(): Promise<void>;
  afterJoin(assigned: { topic: string; partitions: number[] }[], generationId: number): Promise<void>;
  beforeLeave(): Promise<void>;
  /**
   * The join (or the assignment after it) failed after beforeJoin released everything. kafkajs may go on
   * fetching for its previous assignment; the member must not take those batches as its own, and must
   * join again.
   */
  joinFailed?(err: unknown): void;
}

interface ConsumerGroupLike {
  cluster: object;
  generationId: number;
  assigned(): { topic: string; partitions: number[] }[];
  joinAndSync(): Promise<void>;
  leave(): Promise<void>;
}

/** Hooks per kafkajs cluster object: each kafkajs consumer has its own cluster, shared with its group. */
const hooksByCluster = new WeakMap<object, GroupHooks>();
let installed = false;

function install(): void {
  if (installed) return;
  const require = createRequire(import.meta.url);
  let ConsumerGroup: { prototype: ConsumerGroupLike };
  try {
    ConsumerGroup = require("kafkajs/src/consumer/consumerGroup.js") as { prototype: ConsumerGroupLike };
  } catch (err) {
    throw new SigilError("bus_kafka_incompatible", `cannot load kafkajs' consumer group module: ${(err as Error).message}`, {
      hint: "Sigil needs kafkajs 2.2.x (see package.json)",
    });
  }
  const proto = ConsumerGroup.prototype;
  if (typeof proto.joinAndSync !== "function" || typeof proto.leave !== "function" || typeof proto.assigned !== "function") {
    throw new SigilError("bus_kafka_incompatible", "kafkajs' consumer group no longer has joinAndSync/leave/assigned", { hint: "Sigil needs kafkajs 2.2.x (see package.json)" });
  }
  const origJoin = proto.joinAndSync;
  const origLeave = proto.leave;
  proto.joinAndSync = async function (this: ConsumerGroupLike) {
    const hooks = hooksByCluster.get(this.cluster);
    if (hooks) await hooks.beforeJoin();
    try {
      await origJoin.call(this);
      if (hooks) await hooks.afterJoin(this.assigned(), this.generationId);
    } catch (err) {
      hooks?.joinFailed?.(err);
      throw err;
    }
  };
  proto.leave = async function (this: ConsumerGroupLike) {
    const hooks = hooksByCluster.get(this.cluster);
    if (hooks) await hooks.beforeLeave();
    return origLeave.call(this);
  };
  installed = true;
}

/**
 * A partition assigner factory (kafkajs' round robin) that also registers the hooks for the consumer
 * it is created for: kafkajs calls it once per consumer with that consumer's cluster.
 */
export function hookedAssigner<A>(base: (ctx: { cluster: object; groupId: string; logger: unknown }) => A, hooks: GroupHooks) {
  install();
  return (ctx: { cluster: object; groupId: string; logger: unknown }): A => {
    hooksByCluster.set(ctx.cluster, hooks);
    return base(ctx);
  };
}
