// A kafkajs partition assigner that gives every partition of the subscribed topics to one member of
// the group (ConsumerOptions.exclusive): active/standby for state that needs every message in one
// place. Sticky: each member says in its join metadata whether it held the partitions and since when
// it runs, and the group leader keeps them with the member that held them (else the oldest member),
// so a member joining never takes the work away from a healthy one.

import kafkajs from "kafkajs";

const { AssignerProtocol } = kafkajs;

export const EXCLUSIVE_ASSIGNER = "SigilExclusive";
const VERSION = 1;

/** What a member tells the group leader when it joins. */
export interface ExclusiveClaim {
  /** It held the partitions before this rebalance. */
  holding: boolean;
  /** When it started (epoch ms): without a holder the oldest member wins. */
  since: number;
}

/** userData layout: version byte, holding byte, start time as a float64. */
export function encodeClaim(c: ExclusiveClaim): Buffer {
  const b = Buffer.alloc(10);
  b.writeUInt8(VERSION, 0);
  b.writeUInt8(c.holding ? 1 : 0, 1);
  b.writeDoubleBE(c.since, 2);
  return b;
}

/** A claim from another member's metadata; anything unreadable claims nothing. */
export function decodeClaim(b: Buffer | null | undefined): ExclusiveClaim {
  if (!b || b.length < 10 || b.readUInt8(0) !== VERSION) return { holding: false, since: Infinity };
  const since = b.readDoubleBE(2);
  return { holding: b.readUInt8(1) === 1, since: Number.isFinite(since) ? since : Infinity };
}

/** The member that gets everything: a holder (the oldest if several claim), else the oldest; ties by member id. */
export function chooseHolder(members: { memberId: string; claim: ExclusiveClaim }[]): string | null {
  let best: { memberId: string; claim: ExclusiveClaim } | null = null;
  for (const m of members) {
    if (
      best === null ||
      (m.claim.holding && !best.claim.holding) ||
      (m.claim.holding === best.claim.holding && (m.claim.since < best.claim.since || (m.claim.since === best.claim.since && m.memberId < best.memberId)))
    )
      best = m;
  }
  return best ? best.memberId : null;
}

interface ClusterLike {
  findTopicPartitionMetadata(topic: string): { partitionId: number }[];
}

/** The assigner factory kafkajs calls once per consumer; `claim` is read at every join. */
export function exclusiveAssigner(claim: () => ExclusiveClaim) {
  return ({ cluster }: { cluster: object }) => ({
    name: EXCLUSIVE_ASSIGNER,
    version: VERSION,
    async assign({ members, topics }: { members: { memberId: string; memberMetadata: Buffer }[]; topics: string[] }) {
      const claims = members.map((m) => {
        let userData: Buffer | undefined;
        try {
          userData = AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData;
        } catch {
          userData = undefined;
        }
        return { memberId: m.memberId, claim: decodeClaim(userData) };
      });
      const holder = chooseHolder(claims);
      const all: Record<string, number[]> = {};
      for (const t of topics) all[t] = (cluster as ClusterLike).findTopicPartitionMetadata(t).map((p) => p.partitionId).sort((a, b) => a - b);
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: VERSION, assignment: m.memberId === holder ? all : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }: { topics: string[] }) {
      return { name: EXCLUSIVE_ASSIGNER, metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData: encodeClaim(claim()) }) };
    },
  });
}
