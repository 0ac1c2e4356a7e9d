// The exclusive assigner's choice (sticky holder, else the oldest member) and its join metadata.
import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { chooseHolder, decodeClaim, encodeClaim, exclusiveAssigner } from "./kafka-exclusive.ts";
import { MemoryBus } from "./memory.ts";

const { AssignerProtocol } = kafkajs;

describe("exclusive assignment", () => {
  it("keeps the partitions with the member that held them, else gives them to the oldest member", () => {
    const m = (memberId: string, holding: boolean, since: number) => ({ memberId, claim: { holding, since } });
    expect(chooseHolder([m("a", false, 10), m("b", true, 50), m("c", false, 5)])).toBe("b");
    expect(chooseHolder([m("a", false, 10), m("b", false, 50), m("c", false, 5)])).toBe("c");
    // two claimants (a split brain after a partition heals): the older one wins, deterministically
    expect(chooseHolder([m("x", true, 30), m("y", true, 20)])).toBe("y");
    expect(chooseHolder([m("y", false, 20), m("x", false, 20)])).toBe("x");
    expect(chooseHolder([])).toBeNull();
  });

  it("round-trips the claim and reads foreign or truncated metadata as no claim", () => {
    expect(decodeClaim(encodeClaim({ holding: true, since: 1234.5 }))).toEqual({ holding: true, since: 1234.5 });
    expect(decodeClaim(Buffer.alloc(0))).toEqual({ holding: false, since: Infinity });
    expect(decodeClaim(Buffer.from([9, 1, 0, 0]))).toEqual({ holding: false, since: Infinity });
  });

  it("assigns every partition of every topic to the chosen member and nothing to the others", async () => {
    const cluster = { findTopicPartitionMetadata: (t: string) => (t === "s" ? [{ partitionId: 2 }, { partitionId: 0 }, { partitionId: 1 }] : [{ partitionId: 0 }]) };
    const meta = (holding: boolean, since: number) => AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ["s", "t"], userData: encodeClaim({ holding, since }) });
    const assigner = exclusiveAssigner(() => ({ holding: false, since: 1 }))({ cluster });
    const out = await assigner.assign({ members: [{ memberId: "m1", memberMetadata: meta(false, 1) }, { memberId: "m2", memberMetadata: meta(true, 9) }], topics: ["s", "t"] });
    const decoded = Object.fromEntries(out.map((o) => [o.memberId, AssignerProtocol.MemberAssignment.decode(o.memberAssignment)!.assignment]));
    expect(decoded).toEqual({ m1: {}, m2: { s: [0, 1, 2], t: [0] } });
    const own = AssignerProtocol.MemberMetadata.decode(assigner.protocol({ topics: ["s"] }).metadata);
    expect(decodeClaim(own!.userData)).toEqual({ holding: false, since: 1 });
  });

  it("refuses a member whose mode differs from the group's (in-process bus)", async () => {
    const bus = new MemoryBus({ partitions: 2 });
    const c = await bus.consumer({ groupId: "g", topics: ["signals"], exclusive: true });
    await expect(bus.consumer({ groupId: "g", topics: ["signals"] })).rejects.toMatchObject({ code: "bus_group_mode_mismatch" });
    await c.close();
    await bus.close();
  });
});
