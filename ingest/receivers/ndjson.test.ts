// Reading NDJSON bodies: agent records become raw records with their envelope (shared only between
// records with the same context), other lines raw records; the agent's own encoder output reads back
// as it was written.
import { describe, expect, it } from "vitest";
import { RecordEncoder } from "../agent/batch.ts";
import type { Rejection } from "../parsers/types.ts";
import { safeJsonParse } from "../../schema/fields.ts";
import { TailCache, agentFields, readNdjson, type AgentFields, type NdjsonRecord } from "./ndjson.ts";

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

describe("TailCache", () => {
  /** What the general path reads from a line (JSON.parse, then the agent fields), or undefined. */
  const general = (line: string): AgentFields | undefined => {
    try {
      const v = safeJsonParse(line);
      return agentFields(v !== null && typeof v === "object" && !Array.isArray(v) ? v : undefined);
    } catch {
      return undefined;
    }
  };
  const streamLines = (n: number, opts: { tags?: string[]; service?: string | null; path?: string | null; format?: string | null } = {}) => {
    const enc = new RecordEncoder({ hostName: "web-1", agentId: "a1b2", agentVersion: "0.1.0", service: opts.service ?? null, tags: opts.tags ?? [], format: opts.format === undefined ? "sshd-auth" : opts.format }, "file", "0a1b", opts.path === undefined ? "/var/log/auth.log" : opts.path);
    const out: string[] = [];
    let off = 0;
    for (let i = 0; i < n; i++) {
      if (i % 7 === 0) enc.setCreated(new Date(Date.UTC(2026, 10, 21, 10, 0, i)).toISOString());
      const msg = `Oct 30 08:15:${String(i % 60).padStart(2, "0")} web-1 sshd[${i}]: line ${i} é ${"x".repeat(i % 13)}`;
      out.push(enc.encode(msg, off, i % 11 === 10));
      off += msg.length * 7 + 1;
    }
    return out;
  };

  it("reads a stream's records from the skeleton after the first, the same as JSON.parse", () => {
    const tc = new TailCache();
    const lines = [...streamLines(50), ...streamLines(20, { tags: ["prod", "eu"], service: "billing" }), ...streamLines(20, { path: null, format: null })];
    for (const l of lines) expect(tc.read(l)).toEqual(general(l));
    // a new skeleton when the truncated flag, tags or path change; hits otherwise
    expect(tc.hits).toBeGreaterThan(60);
    expect(tc.misses).toBeLessThan(30);
  });

  it("agrees with JSON.parse on hostile and mutated records", () => {
    const base = streamLines(40, { tags: ["t"] });
    // sequences: each line meets the skeleton of the one before it
    const hostile = [
      '{"message":"a","log":{"offset":1},"sigil":{"origin":"o:1"},"message":"a"}',
      '{"message":"b","log":{"offset":3},"sigil":{"origin":"o:3"},"message":"a"}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1,"offset":5},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":01},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1.5},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1e3},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1E3},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":-1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":12345678901234567890},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":9007199254740993},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"x","log":{"offset":},"sigil":{"origin":"o:1"}}',
      '{"message":"x","other":{"offset":1},"sigil":{"origin":"o:1"}}',
      '{"message":"y","other":{"offset":2},"sigil":{"origin":"o:1"}}',
      '{"message":"x","sigil":{"origin":"o:1"},"agent":{"origin":"o:1"}}',
      '{"message":"x","sigil":{"origin":"o:2"},"agent":{"origin":"o:1"}}',
      '{"message":"x","sigil":{"origin":"o:1"},"event":{"created":"c"}}',
      '{"message":"x","sigil":{"origin":""},"event":{"created":""}}',
      '{"message":"x","sigil":{"origin":"o:\u0001"},"event":{"created":"c"}}',
      '{"message":"x","sigil":{"origin":"o:\u0001"},"event":{"created":"c"}}',
      '{"message":"x","sigil":{"origin":"o:1"},"event":{"created":"c"}}',
      '{"message":"x","sigil":{"origin":"o:\u0001"},"event":{"created":"c"}}'.replace("\\u0001", "\u0001"),
      '{"message":"x","sigil":{"origin":"o:1"},"event":{"created":"c"}}',
      '{"message":"x\u0007y","sigil":{"origin":"o:1"},"event":{"created":"c"}}'.replace("\\u0007", "\u0007"),
      '{"message":"x","sigil":{"origin":"o:1"},"event":{"created":"c"}}',
      '{"message":"x","sigil":{"origin":"o:1"},"event":{"created":"c\u001f"}}'.replace("\\u001f", "\u001f"),
      '{"message":"x","sigil":{"origin":"o:1"},"event":{"created":"c"}}',
      '{"message":"x\\"y","sigil":{"origin":"o:1"},"event":{"created":"c"}}',
      '{"message":"x","sigil":{"origin":"o:1"},"__proto__":{"polluted":true}}',
      '{"message":"x","sigil":{"origin":"o:2"},"__proto__":{"polluted":true}}',
      '{"message":"x","sigil":{"origin":"o:1"}}',
      '{"message":"x","sigil":{"origin":"o:1","origin":"o:2"}}',
      '{"message":"x","sigil":{"origin":"o:1"}}',
      '{"message":"\ud800","sigil":{"origin":"o:1"}}',
      '{"message":"x","sigil":{"origin":"o:1"}}',
      '{"message":"x","sigil":{"origin":"o:1"}} trailing',
      '{"message":"x","sigil":{"origin":"o:1"}',
      '{"message":"x","sigil":{"origin":"o:1"}}',
      '{"message":"x","sigil":{"origin":"o:2"}}',
      '{"message":"x","sigil":{"origin":"o:2}}',
      '{"message":"x","sigil":"s","agent":"a"}',
      '{"message":1,"sigil":{"origin":"o:1"}}',
    ];
    // escapes in the message (the tail has none): odd and even runs of backslashes before quotes
    const escaped = [
      String.raw`{"message":"plain","log":{"offset":1},"sigil":{"origin":"o:1"}}`,
      String.raw`{"message":"a\"b","log":{"offset":2},"sigil":{"origin":"o:2"}}`,
      String.raw`{"message":"a\\","log":{"offset":3},"sigil":{"origin":"o:3"}}`,
      String.raw`{"message":"a\\\"b\\","log":{"offset":4},"sigil":{"origin":"o:4"}}`,
      String.raw`{"message":"a\u0000b\ud800\u2028","log":{"offset":5},"sigil":{"origin":"o:5"}}`,
      String.raw`{"message":"a\xb","log":{"offset":6},"sigil":{"origin":"o:6"}}`,
      String.raw`{"message":"a\","log":{"offset":7},"sigil":{"origin":"o:7"}}`,
      String.raw`{"message":"a\\\","log":{"offset":8},"sigil":{"origin":"o:8"}}`,
      String.raw`{"message":"a\"","log":{"offset":9},"sigil":{"origin":"o:9"}}`,
      '{"message":"a\\"b\u0001","log":{"offset":10},"sigil":{"origin":"o:10"}}',
      String.raw`{"message":"a","log":{"offset":11},"sigil":{"origin":"o:\"11"}}`,
      String.raw`{"message":"a\"","log":{"offset":12},"sigil":{"origin":"o:12"}}`,
    ];
    const seq = new TailCache();
    for (const l of hostile) expect(seq.read(l), l).toEqual(general(l));
    const before = seq.hits;
    for (const l of escaped) expect(seq.read(l), l).toEqual(general(l));
    // records with escapes in the message are read from the skeleton too
    expect(seq.hits - before).toBeGreaterThanOrEqual(4);
    expect(seq.hits).toBeGreaterThanOrEqual(5);
    // mutations of real records: every byte position replaced with characters that matter to JSON
    const mutated: string[] = [];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const chars = ['"', "\\", "\u0000", "\u001f", "}", "{", ",", ":", "0", "9", ".", "e", "-", " ", "a", "\u2028"];
    for (let i = 0; i < 1500; i++) {
      const l = base[rnd(base.length)];
      const at = rnd(l.length);
      const mode = rnd(3);
      const c = chars[rnd(chars.length)];
      mutated.push(mode === 0 ? l.slice(0, at) + c + l.slice(at + 1) : mode === 1 ? l.slice(0, at) + c + l.slice(at) : l.slice(0, at) + l.slice(at + 1));
    }
    const tc = new TailCache();
    for (const l of [...base, ...hostile, ...mutated]) {
      const prev = base[rnd(base.length)];
      // the cache sees a valid record before each line, so mutated lines meet a remembered skeleton
      expect(tc.read(prev)).toEqual(general(prev));
      expect(tc.read(base[(base.indexOf(prev) + 1) % base.length])).toEqual(general(base[(base.indexOf(prev) + 1) % base.length]));
      expect(tc.read(l), l).toEqual(general(l));
    }
    expect(tc.hits).toBeGreaterThan(1500);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
