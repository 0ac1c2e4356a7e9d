import { describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CheckpointStore } from "./checkpoints.ts";

describe("CheckpointStore", () => {
  it("writes durably and reads back, leaving no temp files", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-cp-"));
    const f = path.join(d, "checkpoints.json");
    const a = new CheckpointStore(f, "agent-1");
    await a.load();
    a.put({ fid: "f1", path: "/x.log", dev: "1", ino: "2", offset: 0, fp_len: 3, fp: "ab", state: "active", updated: 1 });
    await Promise.all([a.flush(), a.flush()]);
    a.update("f1", { offset: 1234 });
    await a.close();
    expect(fs.readdirSync(d)).toEqual(["checkpoints.json"]);
    const b = new CheckpointStore(f, "agent-1");
    await b.load();
    expect(b.get("f1")).toMatchObject({ offset: 1234, path: "/x.log" });
    expect(b.byInode("1", "2")).toHaveLength(1);
  });

  it("refuses a corrupt file with a code and a way out", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-cp-"));
    const f = path.join(d, "checkpoints.json");
    fs.writeFileSync(f, "{not json");
    await expect(new CheckpointStore(f, "a").load()).rejects.toMatchObject({ code: "agent_checkpoints_corrupt", location: { file: f } });
  });

  it("forgets finished streams after a while", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-cp-"));
    const s = new CheckpointStore(path.join(d, "c.json"), "a");
    s.put({ fid: "old", path: "/a", dev: "1", ino: "1", offset: 1, fp_len: 0, fp: "", state: "done", updated: 0 });
    s.put({ fid: "live", path: "/b", dev: "1", ino: "2", offset: 1, fp_len: 0, fp: "", state: "active", updated: 0 });
    expect(s.forgetOlderThan(1000, 5000)).toBe(1);
    expect(s.all().map((x) => x.fid)).toEqual(["live"]);
  });
});
