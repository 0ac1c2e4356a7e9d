// The detection semantics of SIGMA.md with its own examples: maps and lists, the type matrix, case,
// wildcards and escaping (3.3), keywords, null/empty/exists, every value modifier (section 4) and the
// condition grammar (section 5). Every check also asserts that the prefilter agrees with exhaustive
// evaluation (test-helpers.fires).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { rule } from "./test-helpers.ts";
import { base64Offsets } from "./modifiers.ts";

describe("maps AND, lists OR (2-A, 2-B)", () => {
  const r = rule(`    selection:
        Image|endswith: '\\whoami.exe'
        CommandLine|contains:
            - '/all'
            - '/priv'
    condition: selection`);
  it("matches case-insensitively when every entry holds", () => {
    expect(r({ Image: "C:\\Windows\\System32\\WHOAMI.EXE", CommandLine: "whoami /ALL" })).toBe(true);
  });
  it("fails when one entry fails or its field is missing", () => {
    expect(r({ Image: "C:\\Windows\\System32\\whoami.exe", CommandLine: "whoami /groups" })).toBe(false);
    expect(r({ CommandLine: "whoami /all" })).toBe(false);
  });
  it("a list of maps is OR", () => {
    const l = rule(`    selection:
        - Image|endswith: '\\rundll32.exe'
        - OriginalFileName: 'RUNDLL32.EXE'
    condition: selection`);
    expect(l({ Image: "C:\\x\\renamed.exe", OriginalFileName: "rundll32.exe" })).toBe(true);
    expect(l({ Image: "C:\\x\\renamed.exe", OriginalFileName: "other.exe" })).toBe(false);
  });
});

describe("type matrix (3.1)", () => {
  const num = rule(`    sel:\n        EventID: 4688\n    condition: sel`);
  const str = rule(`    sel:\n        EventID: '4688'\n    condition: sel`);
  const bool = rule(`    sel:\n        Initiated: true\n    condition: sel`);
  it("numbers match numbers and their string form, not '04688'", () => {
    expect(num({ EventID: 4688 })).toBe(true);
    expect(num({ EventID: "4688" })).toBe(true);
    expect(num({ EventID: "04688" })).toBe(false);
    expect(str({ EventID: 4688 })).toBe(true);
  });
  it("booleans match booleans and 'true'/'false' strings", () => {
    expect(bool({ Initiated: true })).toBe(true);
    expect(bool({ Initiated: "TRUE" })).toBe(true);
    expect(bool({ Initiated: false })).toBe(false);
    expect(bool({ Initiated: 1 })).toBe(false);
  });
  it("arrays match when any element does; objects never", () => {
    expect(str({ EventID: ["1", "4688"] })).toBe(true);
    expect(str({ EventID: { a: "4688" } })).toBe(false);
  });
  it("dotted field names read nested objects and literal dotted keys", () => {
    const d = rule(`    sel:\n        userIdentity.arn|contains: 'admin'\n    condition: sel`);
    expect(d({ userIdentity: { arn: "arn:aws:iam::1:user/Admin" } })).toBe(true);
    expect(d({ "userIdentity.arn": "arn:aws:iam::1:user/admin" })).toBe(true);
    expect(d({ userIdentity: { arn: "x" } })).toBe(false);
  });
  it("case folding is Unicode-aware", () => {
    const u = rule(`    sel:\n        Name: 'ÄÖÜ Ω'\n    condition: sel`);
    expect(u({ Name: "äöü ω" })).toBe(true);
  });
});

describe("wildcards and escaping (3.3, example 3-A)", () => {
  const cases: [string, string, boolean][] = [
    ["'C:\\Windows\\\\*\\cmd.exe'", "c:\\windows\\system32\\CMD.exe", true],
    ["'C:\\Windows\\\\*\\cmd.exe'", "C:\\Windows\\cmd.exe", false],
    ["'C:\\Windows\\*\\cmd.exe'", "c:\\windows\\system32\\cmd.exe", false],
    ["'C:\\Windows\\*\\cmd.exe'", "C:\\Windows*\\cmd.exe", true],
    ["'prog?.exe'", "progA.exe", true],
    ["'prog?.exe'", "prog.exe", false],
    ["'prog?.exe'", "progAB.exe", false],
    ["'\\?'", "?", true],
    ["'\\?'", "a", false],
    ["'\\\\server\\share'", "\\server\\share", true],
    ["'\\\\server\\share'", "\\\\server\\share", false],
    ["'\\\\\\\\server\\share'", "\\\\server\\share", true],
    ["'a\\*b'", "a*b", true],
    ["'a\\*b'", "axb", false],
    ["'a\\\\*'", "a\\anything", true],
    ["'a\\\\\\*'", "a\\*", true],
    ["'a\\\\\\*'", "a\\x", false],
    ["'\\\\\\\\*\\\\*$'", "\\\\SRV\\ADMIN$", true],
    ["'\\\\\\\\\\?\\\\GLOBALROOT'", "\\\\?\\GLOBALROOT", true],
    ["'\\\\\\\\\\?\\\\GLOBALROOT'", "\\\\x\\GLOBALROOT", false],
    ["'C:\\Windows\\'", "c:\\windows\\", true],
    ['"C:\\\\Windows"', "C:\\Windows", true],
    ["'*'", "", true],
    ["'a*b*c'", "a\nxbyc", true],
  ];
  for (const [value, event, want] of cases) {
    it(`${value} vs ${JSON.stringify(event)} → ${want}`, () => {
      expect(rule(`    sel:\n        F: ${value}\n    condition: sel`)({ F: event })).toBe(want);
    });
  }
  it("'*' needs the field present (and not null)", () => {
    const r = rule(`    sel:\n        F: '*'\n    condition: sel`);
    expect(r({})).toBe(false);
    expect(r({ F: null })).toBe(false);
  });
  it("%placeholders% are literal text without expand", () => {
    const r = rule(`    sel:\n        F|contains: '%comspec%'\n    condition: sel`);
    expect(r({ F: "x %COMSPEC% y" })).toBe(true);
    expect(r({ F: "cmd.exe" })).toBe(false);
  });
  it("values keep leading and trailing spaces", () => {
    const r = rule(`    sel:\n        F|contains: ' -enc '\n    condition: sel`);
    expect(r({ F: "powershell -enc x" })).toBe(true);
    expect(r({ F: "powershell -encodedcommand x" })).toBe(false);
  });
});

describe("keywords (3.4)", () => {
  it("match anywhere in the raw text or any string value, case-insensitively", () => {
    const r = rule(`    keywords:\n        - 'logged command:no access-session'\n        - 'other'\n    condition: keywords`);
    expect(r({ event: { original: "172.16.5.10 6705: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:no access-session port-control" } })).toBe(true);
    expect(r({ message: "nothing here", nested: { deep: ["x", "OTHER thing"] } })).toBe(true);
    expect(r({ message: "nothing here" })).toBe(false);
  });
  it("'|all' needs every keyword, not necessarily in one field", () => {
    const r = rule(`    keywords:\n        '|all':\n            - 'alpha'\n            - 'beta'\n    condition: keywords`);
    expect(r({ a: "ALPHA", b: "beta" })).toBe(true);
    expect(r({ a: "alpha" })).toBe(false);
  });
});

describe("null, empty, exists (3.5, example 3-B)", () => {
  const r = rule(`    selection: {EventID: 4738}
    filter_null: {PasswordLastSet: null}
    filter_empty: {PasswordLastSet: ''}
    condition: selection and not 1 of filter_*`);
  it("follows the table", () => {
    expect(r({ EventID: 4738 })).toBe(false);
    expect(r({ EventID: 4738, PasswordLastSet: null })).toBe(false);
    expect(r({ EventID: 4738, PasswordLastSet: "" })).toBe(false);
    expect(r({ EventID: 4738, PasswordLastSet: "-" })).toBe(true);
  });
  it("'' needs the field present", () => {
    expect(rule(`    s: {F: ''}\n    condition: s`)({})).toBe(false);
  });
  it("exists tests presence only", () => {
    const t = rule(`    s: {F|exists: true}\n    condition: s`);
    const f = rule(`    s: {F|exists: false}\n    condition: s`);
    expect(t({ F: null })).toBe(true);
    expect(t({ F: "" })).toBe(true);
    expect(t({})).toBe(false);
    expect(f({})).toBe(true);
    expect(f({ F: "x" })).toBe(false);
  });
  it("not sel is true when the field is absent", () => {
    expect(rule(`    s: {F: x}\n    condition: not s`)({})).toBe(true);
  });
});

describe("modifiers (section 4)", () => {
  it("contains|all (4.3) and windash alternatives stay OR-ed inside each value", () => {
    const r = rule(`    s:\n        CommandLine|contains|all: [' -nop', ' -w hidden', ' -enc ']\n    condition: s`);
    expect(r({ CommandLine: "powershell.exe -nop -w hidden -enc SQBFAFgA" })).toBe(true);
    expect(r({ CommandLine: "powershell.exe -nop -w hidden" })).toBe(false);
    const w = rule(`    s:\n        CommandLine|contains|all|windash: ['-a', '-b']\n    condition: s`);
    expect(w({ CommandLine: "x /a -b" })).toBe(true);
    expect(w({ CommandLine: "x -a /b" })).toBe(true);
    expect(w({ CommandLine: "x -a" })).toBe(false);
  });
  it("windash (4.4): -, /, en dash, em dash, horizontal bar at switch positions only", () => {
    const r = rule(`    s:\n        CommandLine|contains|windash: ' -enc '\n    condition: s`);
    expect(r({ CommandLine: "powershell /enc ZQB4AA==" })).toBe(true);
    expect(r({ CommandLine: "powershell \u2013enc x" })).toBe(true);
    expect(r({ CommandLine: "powershell \u2015enc x" })).toBe(true);
    expect(r({ CommandLine: "powershell -encodedcommand x" })).toBe(false);
    const p = rule(`    s:\n        CommandLine|contains|windash: '-param-name'\n    condition: s`);
    expect(p({ CommandLine: "x /param-name" })).toBe(true);
    expect(p({ CommandLine: "x -param/name" })).toBe(false);
  });
  it("base64 and base64offset (4.5)", () => {
    expect(base64Offsets(Buffer.from("http://"))).toEqual(["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]);
    const b = rule(`    s:\n        F|base64: 'whoami'\n    condition: s`);
    expect(b({ F: "d2hvYW1p" })).toBe(true);
    const o = rule(`    s:\n        F|base64offset|contains: 'http://'\n    condition: s`);
    expect(o({ F: Buffer.from("url=http://evil.example/a").toString("base64") })).toBe(true);
    expect(o({ F: Buffer.from("url=ftp://evil.example/a").toString("base64") })).toBe(false);
  });
  it("wide|base64offset matches PowerShell -EncodedCommand", () => {
    const r = rule(`    s:\n        CommandLine|wide|base64offset|contains: 'IEX'\n    condition: s`);
    const enc = Buffer.from("IEX (New-Object Net.WebClient)", "utf16le").toString("base64");
    expect(enc.startsWith("SQBFAFgA")).toBe(true);
    expect(r({ CommandLine: `powershell -enc ${enc}` })).toBe(true);
    const mid = Buffer.from("x; IEX (y)", "utf16le").toString("base64");
    expect(r({ CommandLine: `powershell -enc ${mid}` })).toBe(true);
    expect(r({ CommandLine: `powershell -enc ${Buffer.from("Get-Date", "utf16le").toString("base64")}` })).toBe(false);
  });
  it("utf16be and utf16 (BOM) encode before base64", () => {
    const be = rule(`    s:\n        F|utf16be|base64: 'A'\n    condition: s`);
    expect(be({ F: Buffer.from([0, 0x41]).toString("base64") })).toBe(true);
    const bom = rule(`    s:\n        F|utf16|base64: 'A'\n    condition: s`);
    expect(bom({ F: Buffer.from([0xff, 0xfe, 0x41, 0]).toString("base64") })).toBe(true);
  });
  it("re searches, is case-sensitive, honours i/m/s and a leading (?i) (example 4-A)", () => {
    expect(rule(`    s: {CommandLine|re: '\\s-H\\s'}\n    condition: s`)({ CommandLine: 'curl -H "UA: x" http://a' })).toBe(true);
    expect(rule(`    s: {CommandLine|re: '\\s-H\\s'}\n    condition: s`)({ CommandLine: "curl -h x" })).toBe(false);
    expect(rule(`    s: {CommandLine|re|i: '\\s-h\\s'}\n    condition: s`)({ CommandLine: "curl -H x" })).toBe(true);
    expect(rule(`    s: {CommandLine|re: '(?i)\\.exe\\s+\\d{2,10}'}\n    condition: s`)({ CommandLine: "WSASS.EXE 1234" })).toBe(true);
    expect(rule(`    s: {F|re|i: '^C:\\\\Users\\\\[^\\\\]+\\\\NTUSER\\.DAT$'}\n    condition: s`)({ F: "c:\\users\\bob\\ntuser.dat" })).toBe(true);
    expect(rule(`    s: {F|re|m: '^b$'}\n    condition: s`)({ F: "a\nb\nc" })).toBe(true);
    expect(rule(`    s: {F|re: '^b$'}\n    condition: s`)({ F: "a\nb\nc" })).toBe(false);
    expect(rule(`    s: {F|re|s: 'a.c'}\n    condition: s`)({ F: "a\nc" })).toBe(true);
    expect(rule(`    s: {F|re: 'a.c'}\n    condition: s`)({ F: "a\nc" })).toBe(false);
    expect(rule(`    s: {F|re: '^\\d+$'}\n    condition: s`)({ F: 1234 })).toBe(true);
  });
  it("cidr (4.7): IPv4, IPv6, IPv4-mapped, non-IP", () => {
    const r = rule(`    s:\n        DestinationIp|cidr: ['10.0.0.0/8', 'fe80::/10']\n    condition: s`);
    expect(r({ DestinationIp: "10.1.2.3" })).toBe(true);
    expect(r({ DestinationIp: "FE80::1" })).toBe(true);
    expect(r({ DestinationIp: "::ffff:10.1.2.3" })).toBe(true);
    expect(r({ DestinationIp: "11.0.0.1" })).toBe(false);
    expect(r({ DestinationIp: "n/a" })).toBe(false);
    const v6 = rule(`    s:\n        Ip|cidr: '2001:db8::/32'\n    condition: s`);
    expect(v6({ Ip: "2001:db8:1::5" })).toBe(true);
    expect(v6({ Ip: "2001:db9::5" })).toBe(false);
  });
  it("expand (4.10) substitutes configured placeholders", () => {
    const r = rule(`    s:\n        IpAddress|expand: '%dc_ip_addresses%'\n    condition: s`, { placeholders: { dc_ip_addresses: ["10.0.0.10", "10.0.0.11"] } });
    expect(r({ IpAddress: "10.0.0.11" })).toBe(true);
    expect(r({ IpAddress: "10.0.0.12" })).toBe(false);
    const w = rule(`    s:\n        User|expand: '%Admins%\\svc'\n    condition: s`, { placeholders: { Admins: ["CORP*"] } });
    expect(w({ User: "CORP-EU\\svc" })).toBe(true);
  });
  it("fieldref (4.9): equality and contains/startswith/endswith with another field", () => {
    const eq = rule(`    s: {TargetFilename|fieldref: Image}\n    condition: s`);
    expect(eq({ TargetFilename: "C:\\a.exe", Image: "c:\\A.EXE" })).toBe(true);
    expect(eq({ TargetFilename: "C:\\a.exe" })).toBe(false);
    const ends = rule(`    s: {A|fieldref|endswith: B}\n    condition: s`);
    expect(ends({ A: "C:\\dir\\tool.exe", B: "tool.exe" })).toBe(true);
    expect(ends({ A: "C:\\dir\\tool.exe", B: "dir" })).toBe(false);
  });
  it("gt/gte/lt/lte (4.11)", () => {
    const r = rule(`    s: {FileSize|gte: 1000}\n    condition: s`);
    expect(r({ FileSize: 1500 })).toBe(true);
    expect(r({ FileSize: "1500" })).toBe(true);
    expect(r({ FileSize: "1e3" })).toBe(true);
    expect(r({ FileSize: 999 })).toBe(false);
    expect(r({ FileSize: "abc" })).toBe(false);
    expect(r({})).toBe(false);
    expect(rule(`    s: {N|lt: 5}\n    condition: s`)({ N: 4 })).toBe(true);
    expect(rule(`    s: {N|gt: 5}\n    condition: s`)({ N: 5 })).toBe(false);
    expect(rule(`    s: {N|lte: 5}\n    condition: s`)({ N: 5 })).toBe(true);
  });
  it("neq (4.12) negates the whole entry; a missing field satisfies it", () => {
    const r = rule(`    s: {F|neq: [a, b]}\n    condition: s`);
    expect(r({ F: "c" })).toBe(true);
    expect(r({ F: "A" })).toBe(false);
    expect(r({})).toBe(true);
  });
  it("cased (4.13)", () => {
    const r = rule(`    s: {CommandLine|contains|cased: 'IEX'}\n    condition: s`);
    expect(r({ CommandLine: "IEX (x)" })).toBe(true);
    expect(r({ CommandLine: "iex (x)" })).toBe(false);
  });
  it("time parts (4.14), UTC, ISO week", () => {
    expect(rule(`    s: {UtcTime|hour|gte: 22}\n    condition: s`)({ UtcTime: "2025-11-26 23:10:00.000" })).toBe(true);
    expect(rule(`    s: {UtcTime|hour|gte: 22}\n    condition: s`)({ UtcTime: "2025-11-26 21:10:00.000" })).toBe(false);
    expect(rule(`    s: {T|minute: 10}\n    condition: s`)({ T: "2025-11-26T23:10:00Z" })).toBe(true);
    expect(rule(`    s: {T|day: 26}\n    condition: s`)({ T: "2025-11-26T23:10:00Z" })).toBe(true);
    expect(rule(`    s: {T|month: 11}\n    condition: s`)({ T: "2025-11-26T23:10:00Z" })).toBe(true);
    expect(rule(`    s: {T|year: 2025}\n    condition: s`)({ T: "2025-11-26T23:10:00Z" })).toBe(true);
    expect(rule(`    s: {T|week: 1}\n    condition: s`)({ T: "2026-01-01T00:00:00Z" })).toBe(true);
    expect(rule(`    s: {T|week: 53}\n    condition: s`)({ T: "2021-01-03T00:00:00Z" })).toBe(true);
    expect(rule(`    s: {T|hour: 1}\n    condition: s`)({ T: "not a time" })).toBe(false);
  });
});

describe("conditions (section 5)", () => {
  const ids = `    a: {A: x}\n    b: {B: x}\n    c: {C: x}\n`;
  it("precedence: a or b and not c ≡ a or (b and (not c)) (example 5-A)", () => {
    const r = rule(`${ids}    condition: a or b and not c`);
    expect(r({ A: "x", C: "x" })).toBe(true);
    expect(r({ B: "x", C: "x" })).toBe(false);
    expect(r({ B: "x" })).toBe(true);
  });
  it("not a and b ≡ (not a) and b; parentheses override", () => {
    expect(rule(`${ids}    condition: not a and b`)({ A: "x", B: "x" })).toBe(false);
    expect(rule(`${ids}    condition: not (a and b)`)({ A: "x" })).toBe(true);
  });
  it("1 of / any of / all of patterns and them; _ names excluded from them", () => {
    const sel = `    selection_a: {A: x}\n    selection_b: {B: x}\n    _helper: {H: x}\n`;
    expect(rule(`${sel}    condition: 1 of selection_*`)({ B: "x" })).toBe(true);
    expect(rule(`${sel}    condition: any of selection_*`)({ A: "x" })).toBe(true);
    expect(rule(`${sel}    condition: all of selection_*`)({ A: "x" })).toBe(false);
    expect(rule(`${sel}    condition: all of selection_*`)({ A: "x", B: "x" })).toBe(true);
    expect(rule(`${sel}    condition: all of them`)({ A: "x", B: "x" })).toBe(true);
    expect(rule(`${sel}    condition: 1 of them`)({ H: "x" })).toBe(false);
    expect(rule(`${sel}    condition: 1 of _helper`)({ H: "x" })).toBe(true);
  });
  it("a list of conditions matches when any does", () => {
    const r = rule(`${ids}    condition:\n        - a and b\n        - c`);
    expect(r({ C: "x" })).toBe(true);
    expect(r({ A: "x" })).toBe(false);
  });
  it("the typical SigmaHQ shape (example 5-B)", () => {
    const r = rule(`    selection_img:
        - Image|endswith: '\\schtasks.exe'
        - OriginalFileName: 'schtasks.exe'
    selection_cli:
        CommandLine|contains|windash: '/delete'
    filter_main_system:
        User|contains: ['AUTHORI', 'AUTORI']
    filter_optional_null:
        User: null
    condition: all of selection_* and not 1 of filter_main_* and not 1 of filter_optional_*`);
    const base = { Image: "C:\\Windows\\System32\\schtasks.exe", CommandLine: "schtasks.exe /DELETE /TN x" };
    expect(r({ ...base, User: "CORP\\bob" })).toBe(true);
    expect(r({ ...base, User: "NT AUTHORITY\\SYSTEM" })).toBe(false);
    expect(r(base)).toBe(false);
  });
});

describe("meta filters (section 8)", () => {
  it("add (condition) and (filter condition) to the rules they target", async () => {
    const { compile, fires } = await import("./test-helpers.ts");
    const text = `title: r
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
logsource: {category: test, product: test}
detection:
    sel: {Image|endswith: '\\cmd.exe'}
    condition: sel
---
title: ignore jump hosts
logsource: {category: test}
filter:
    rules: [6f3e2987-db24-4c78-a860-b4f4095a7095]
    selection:
        ComputerName|startswith: 'JUMP-'
    condition: not selection
`;
    const { plan } = compile(text);
    expect(fires(plan, { Image: "c:\\cmd.exe", ComputerName: "WKS-1" })).toBe(true);
    expect(fires(plan, { Image: "c:\\cmd.exe", ComputerName: "JUMP-01" })).toBe(false);
  });
});

describe("long lists of plain values (looked up in a set)", () => {
  const r = rule(`    sel:
        OriginalFileName:
            - 'certutil.exe'
            - 'CMSTP.EXE'
            - 'cscript.exe'
            - 'mshta.exe'
            - 42
            - 'ps*.exe'
    cased:
        Name|cased:
            - 'One'
            - 'Two'
            - 'Three'
            - 'Four'
    condition: sel or cased`);
  it("matches any listed value case-insensitively, beside the values that are not plain", () => {
    expect(r({ OriginalFileName: "CertUtil.exe" })).toBe(true);
    expect(r({ OriginalFileName: "cmstp.exe" })).toBe(true);
    expect(r({ OriginalFileName: "psexec.exe" })).toBe(true);
    expect(r({ OriginalFileName: 42 })).toBe(true);
    expect(r({ OriginalFileName: "42" })).toBe(true);
    expect(r({ OriginalFileName: "certutil.exe " })).toBe(false);
    expect(r({ OriginalFileName: "xcscript.exe" })).toBe(false);
  });
  it("looks at each scalar of a list value, and never at objects", () => {
    expect(r({ OriginalFileName: ["a.exe", "MSHTA.EXE"] })).toBe(true);
    expect(r({ OriginalFileName: ["a.exe", { x: "mshta.exe" }] })).toBe(false);
    expect(r({ OriginalFileName: null })).toBe(false);
  });
  it("cased values match only in their case", () => {
    expect(r({ Name: "Three" })).toBe(true);
    expect(r({ Name: "three" })).toBe(false);
    expect(r({ Name: ["x", "Four"] })).toBe(true);
  });
});

describe("long startswith / endswith lists (keyed lookups) decide exactly as one test per value", () => {
  const alphabet = ["a", "B", "c", ".", "-", "é", "İ", "K", "\u212a", "1", "x"];
  const word = (min: number, max: number) => fc.array(fc.constantFrom(...alphabet), { minLength: min, maxLength: max }).map((xs) => xs.join(""));
  const yamlList = (vs: string[]) => vs.map((v) => `            - ${JSON.stringify(v)}`).join("\n");
  it("over random value lists, texts, lists of texts and numbers, with and without |cased", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(word(1, 7), { minLength: 6, maxLength: 14 }),
        fc.constantFrom("startswith", "endswith"),
        fc.boolean(),
        fc.array(fc.oneof(word(0, 10), fc.integer({ min: 0, max: 99999 }), fc.array(word(0, 8), { maxLength: 3 })), { minLength: 1, maxLength: 6 }),
        (values, mod, cased, fieldValues) => {
          const r = rule(`    selection:\n        Name|${mod}${cased ? "|cased" : ""}:\n${yamlList(values)}\n    condition: selection`);
          const fold = (s: string) => (cased ? s : s.toLowerCase());
          const one = (x: unknown) => {
            if (x === null || typeof x === "object") return false;
            const t = fold(String(x));
            return values.some((v) => (mod === "startswith" ? t.startsWith(fold(v)) : t.endsWith(fold(v))));
          };
          for (const fv of fieldValues) {
            const want = Array.isArray(fv) ? fv.some(one) : one(fv);
            expect({ fv, got: r({ Name: fv }) }).toEqual({ fv, got: want });
          }
          // texts that do end / start with a value, so the property sees matches too
          const v = values[0];
          expect(r({ Name: mod === "startswith" ? v + "zz" : "zz" + v })).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});
