// Reading NDJSON bodies: agent records become raw records with their envelope (shared only between
// records with the same context), other lines raw records; the agent's own encoder output reads back
// as it was written.
import { describe, expect, it } from "vitest";
import { RecordEncoder } from "../agent/batch.ts";
import type { Rejection } from "../parsers/types.ts";
import { readNdjson, type NdjsonRecord } from "./ndjson.ts";

describe("readNdjson", () => {
  const opts = { source: "http 1.2.3.4", peer: "1.2.3.4", maxLineBytes: 10_000, format: "auto", sender: "tok" };
  const read = (lines: string[]) => {
    const recs: NdjsonRecord[] = [];
    const rejections: Rejection[] = [];
    readNdjson(Buffer.from(lines.join("\n") + "\n"), opts, (r) => recs.push(r), rejections);
    return { recs, rejections };
  };
  const rec = (o: Record<string, unknown>) => JSON.stringify({ message: "m", host: { name: "h" }, agent: { id: "a", type: "sigil-agent", version: "1" }, sigil: { origin: "o:1" }, ...o });

  it("shares an envelope only between records with the same context", () => {
    const { recs } = read([
      rec({ event: { created: "2026-11-21T10:00:00Z" } }),
      rec({ event: { created: "2026-11-21T10:00:00Z" } }),
      rec({ service: { name: "billing" } }),
      rec({ event: { created: "2026-11-21T10:00:00Z" }, service: { name: "billing" } }),
      rec({ event: { created: "2026-11-21T10:00:00Z" } }),
      rec({ event: { created: "2026-11-21T10:00:01+01:00" }, tags: ["x"] }),
      rec({ event: { created: "2026-11-21T10:00:01+01:00" }, tags: ["x"] }),
      rec({ event: { created: "2026-11-21T10:00:01+01:00" }, tags: ["y"] }),
      rec({ event: { created: "not a time" }, sigil: { origin: "o:2", truncated: true } }),
      rec({}),
    ]);
    const env = recs.map((r) => r.envelope);
    const agent = { id: "a", type: "sigil-agent", version: "1", name: "tok" };
    expect(env).toEqual([
      { created: "2026-11-21T10:00:00.000Z", agent },
      { created: "2026-11-21T10:00:00.000Z", agent },
      { service: "billing", agent },
      { created: "2026-11-21T10:00:00.000Z", service: "billing", agent },
      { created: "2026-11-21T10:00:00.000Z", agent },
      { created: "2026-11-21T09:00:01.000Z", tags: ["x"], agent },
      { created: "2026-11-21T09:00:01.000Z", tags: ["x"], agent },
      { created: "2026-11-21T09:00:01.000Z", tags: ["y"], agent },
      { truncated: true, agent },
      { agent },
    ]);
    expect(env[1]).toBe(env[0]);
    expect(env[4]).not.toBe(env[0]);
    expect(env[6]).toBe(env[5]);
    expect(env[7]).not.toBe(env[6]);
  });

  it("reads what the agent's encoder writes: the line, its position, origin, host and envelope", () => {
    const enc = new RecordEncoder({ hostName: "web-1", agentId: "a1", agentVersion: "0.1.0", service: "billing", tags: ["prod"], format: "sshd-auth" }, "file", "0a1b", "/var/log/auth.log");
    enc.setCreated("2026-11-21T10:00:00.000Z");
    const message = 'Oct 30 08:15:40 web-1 sshd[1]: "quoted" \\ and \u00e9';
    const { recs } = read([enc.encode(message, 120, false), enc.encode("second", 200, true)]);
    expect(recs[0]).toMatchObject({ data: message, path: "/var/log/auth.log", offset: 120, origin: "0a1b:120", host: "web-1", line: 1 });
    expect(recs[0].envelope).toEqual({ created: "2026-11-21T10:00:00.000Z", service: "billing", tags: ["prod"], agent: { id: "a1", type: "sigil-agent", version: "0.1.0", name: "tok" } });
    expect(recs[1].envelope).toMatchObject({ truncated: true, tags: ["prod"] });
  });
});
