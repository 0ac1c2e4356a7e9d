// The NDJSON reader's two paths agree: a line the agent-record scanner accepts is valid JSON and yields
// exactly the fields the general path (safeJsonParse) reads from it, for the agent's own encoder output
// with any message text and for mutated lines; envelopes are shared only between records with the same context.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RecordEncoder } from "../agent/batch.ts";
import { fuzzParams } from "../../test/fuzz/support/budget.ts";
import type { RawRecord, Rejection } from "../parsers/types.ts";
import { AgentFields, AgentRecordScanner, readNdjson, type NdjsonRecord } from "./ndjson.ts";

const FIELDS = ["message", "sigil", "agent", "path", "offset", "origin", "format", "truncated", "host", "agentId", "agentType", "agentVersion", "created", "service", "input", "tags"] as const;
const pick = (f: AgentFields) => Object.fromEntries(FIELDS.map((k) => [k, f[k]]));

/** The fields the general path reads (null when the line is not JSON or not an object). */
function general(line: string): Record<string, unknown> | null {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return null;
  }
  if (o === null || typeof o !== "object" || Array.isArray(o)) return null;
  const f = new AgentFields();
  f.fromObject(o as never);
  return pick(f);
}

const scanner = new AgentRecordScanner();
/** The scanner's fields, or null when it hands the line to the general path. */
function scanned(line: string): Record<string, unknown> | null {
  const f = new AgentFields();
  return scanner.scan(line, f) ? pick(f) : null;
}

/** Whatever the scanner accepts, the general path reads the same way (and it is an agent record). */
function agree(line: string): boolean {
  const s = scanned(line);
  if (s === null) return false;
  const g = general(line);
  expect(g, line).not.toBeNull();
  expect(s, line).toEqual(g);
  expect(typeof g!.message).toBe("string");
  return true;
}

const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.string({ unit: fc.constantFrom("\\", '"', "/", "\n", "\t", "\u0000", "\u001f", "\u2028", "\ud800", "\udc00", "é", "{", "}", ":", ",", "a", " "), maxLength: 40 }),
  fc.constantFrom("", "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186", '127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a\\"b HTTP/1.0" 200 2326'),
);

const encoderInput = fc.record({
  message: text,
  host: fc.string({ maxLength: 30 }),
  agentId: fc.string({ maxLength: 20 }),
  version: fc.constantFrom("0.1.0", "", '1"2'),
  service: fc.option(fc.string({ maxLength: 20 }), { nil: null }),
  tags: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
  format: fc.option(fc.constantFrom("sshd-auth", "nginx-access", ""), { nil: null }),
  path: fc.option(fc.string({ maxLength: 40 }), { nil: null }),
  offset: fc.oneof(fc.nat(), fc.constant(0), fc.constant(Number.MAX_SAFE_INTEGER)),
  truncated: fc.boolean(),
  input: fc.constantFrom("file", "stdin") as fc.Arbitrary<"file" | "stdin">,
});

type EncoderInput = typeof encoderInput extends fc.Arbitrary<infer T> ? T : never;

function encode(r: EncoderInput): string {
  const enc = new RecordEncoder({ hostName: r.host, agentId: r.agentId, agentVersion: r.version, service: r.service, tags: r.tags, format: r.format }, r.input, "0a1b2c", r.path);
  enc.setCreated("2026-11-21T10:00:00.000Z");
  return enc.encode(r.message, r.offset, r.truncated);
}

describe("agent record scanner", () => {
  it("reads every record the agent's encoder writes, as JSON.parse reads it", () => {
    fc.assert(
      fc.property(encoderInput, (r) => {
        const line = encode(r);
        // the encoder escapes control characters, so no record it writes needs the general path
        expect(agree(line)).toBe(true);
      }),
      fuzzParams(5),
    );
  });

  it("accepts a mutated line only when it is valid JSON with the same fields", () => {
    let accepted = 0;
    const mutation = fc.tuple(fc.nat(), fc.constantFrom("delete", "insert", "replace", "duplicate"), fc.constantFrom('"', "\\", "{", "}", "[", "]", ",", ":", " ", "0", "-", ".", "e", "n", "t", "\u0001", "x"));
    fc.assert(
      fc.property(encoderInput, fc.array(mutation, { minLength: 1, maxLength: 3 }), (r, muts) => {
        let line = encode(r);
        for (const [at, op, ch] of muts) {
          const i = at % (line.length + 1);
          if (op === "delete") line = line.slice(0, i) + line.slice(i + 1);
          else if (op === "insert") line = line.slice(0, i) + ch + line.slice(i);
          else if (op === "replace") line = line.slice(0, i) + ch + line.slice(i + 1);
          else line = line.slice(0, i) + line.slice(i, i + 12) + line.slice(i);
        }
        if (line.charCodeAt(0) !== 123) return;
        if (agree(line)) accepted++;
      }),
      fuzzParams(20),
    );
    // mutations inside strings keep many lines valid: the property is not vacuous
    expect(accepted).toBeGreaterThan(0);
  });

  it("hands lines outside the wire format's exact shape to the general path", () => {
    const base = { message: "m", log: { file: { path: "/p" }, offset: 5 }, host: { name: "h" }, agent: { id: "a", type: "sigil-agent", version: "1" }, sigil: { origin: "o:5" } };
    const j = (o: unknown) => JSON.stringify(o);
    const refused = [
      '{"message":"m","sigil":{"origin":"o"},"message":"n"}', // duplicate key (JSON.parse keeps the last)
      '{"message":"m","sigil":{"origin":"o","origin":"p"}}',
      '{"message":"m","sigil":{"origin":"o"},}', // trailing comma: not JSON
      '{"message":"m","sigil":{"origin":"o",}}',
      '{"message":"m","tags":["a",],"sigil":{}}',
      '{"message":"m","sigil":{"origin":"o"}} x',
      '{"message":"m","log":{"offset":007},"sigil":{}}',
      '{"message":"m","log":{"offset":1e3},"sigil":{"origin":"o"}}',
      '{"message":"m","log":{"offset":-1},"sigil":{"origin":"o"}}',
      '{"message":"m","log":{"offset":1.5},"sigil":{"origin":"o"}}',
      '{"message":"m","log":{"offset":12345678901234567},"sigil":{"origin":"o"}}',
      '{"message":null,"sigil":{"origin":"o"}}',
      '{"message":"m","host":{"name":null},"sigil":{"origin":"o"}}',
      '{"message":"m","host":"h","sigil":{"origin":"o"}}',
      '{"message":"m","sigil":{"origin":"o","truncated":1}}',
      '{"message":"m","sigil":{"origin":"o","truncatedx":true}}',
      '{"mess\\u0061ge":"m","sigil":{"origin":"o"}}', // a key spelled with an escape
      '{"message":"m","__proto__":{"x":1},"sigil":{"origin":"o"}}',
      '{"message":"m","fields":{"x":1},"sigil":{"origin":"o"}}',
      '{"message":"a\tb","sigil":{"origin":"o"}}', // a raw control character: not JSON
      '{"message":"m","sigil":{}}'.replace("{}", "{ }"),
      '{"message":"bad \\x escape","sigil":{"origin":"o"}}',
      '{"message":"m","agent":{"id":"a","name":"n"}}',
      "{}",
      '{"message":"m"}', // no sigil or agent: not an agent record
    ];
    for (const line of refused) expect(scanned(line), line).toBeNull();
    const accepted = [
      j(base),
      j({ ...base, tags: [] }),
      j({ ...base, tags: ["a", "b\"c"], service: { name: "billing" }, event: { created: "2026-11-21T10:00:00Z" }, input: { type: "file" } }),
      j({ ...base, message: 'quote " backslash \\ unicode \u00e9 \ud83d\ude00 lone \ud800 end\\' }),
      j({ ...base, sigil: { origin: "o:1", format: "sshd-auth", truncated: false } }),
      j({ ...base, log: { offset: 0 } }),
      ' { "message" : "m" , "sigil" : { "origin" : "o" , "truncated" : true } } ',
    ];
    for (const line of accepted) expect(agree(line.trimStart()), line).toBe(true);
  });
});

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
      { created: "2026-11-21T09:00:01.000Z", tags: ["y"], agent },
      { truncated: true, agent },
      { agent },
    ]);
    expect(env[1]).toBe(env[0]);
    expect(env[4]).not.toBe(env[0]);
    expect(env[6]).not.toBe(env[5]);
  });

  it("reads the same records whichever path reads a line", () => {
    const lines = [rec({ log: { file: { path: "/var/log/auth.log" }, offset: 42 } }), rec({ log: { file: { path: "/var/log/auth.log" }, offset: 42 }, extra: 1 })];
    const { recs } = read(lines);
    const plain = (r: RawRecord) => Object.fromEntries(Object.entries(r).filter(([k, v]) => v !== undefined && k !== "line"));
    expect(plain(recs[1])).toEqual(plain(recs[0]));
    expect(recs[0]).toMatchObject({ data: "m", path: "/var/log/auth.log", offset: 42, origin: "o:1", host: "h", line: 1 });
  });
});
