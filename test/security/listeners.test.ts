// Sigil's listeners as a network attacker and a thief of agent tokens meet them: the real `sigil ingest`
// (HTTP with mTLS, OTLP, syslog over TLS, telemetry) and `sigil console` (HTTPS) processes, certificates
// from `sigil certs dev`, tokens from `sigil tokens`. Every listener speaks TLS 1.3 only by default (the
// minimum is configurable), serves nothing in clear, and picks up renewed certificates without a restart;
// ingest HTTP requires a client certificate; a revoked token stops working within seconds; each token is
// rate limited; replayed batches are refused; the console's file serving cannot be walked out of.

import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { testIsolation, type TestIsolation } from "../support/services.ts";
import { RoleProcess, freePort, httpsRequest, sigil, sleep, until, type HttpsAnswer } from "../chaos/support/processes.ts";

const dir = path.join(PROJECT_ROOT, "test-results", "security", `listeners-${randomBytes(4).toString("hex")}`);
const certsA = path.join(dir, "certs-a");
const certsB = path.join(dir, "certs-b");
const live = path.join(dir, "live");
let iso: TestIsolation;
let env: NodeJS.ProcessEnv;
let ingest: RoleProcess;
let consoleRole: RoleProcess;
const ports = { http: 0, otlp: 0, syslog: 0, ingestTelemetry: 0, console: 0, consoleTelemetry: 0 };
let token = "";
let ca: Buffer;
let client: { cert: Buffer; key: Buffer };

const read = (f: string) => fs.readFileSync(f);

/** What a TLS client learns from one handshake: the protocol and the server certificate's fingerprint. */
function handshake(port: number, opts: { maxVersion?: tls.SecureVersion; minVersion?: tls.SecureVersion; cert?: Buffer; key?: Buffer; ca?: Buffer[] } = {}): Promise<{ protocol: string | null; fingerprint: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: opts.ca ?? [ca], maxVersion: opts.maxVersion, minVersion: opts.minVersion ?? "TLSv1.2", cert: opts.cert, key: opts.key, timeout: 10_000 }, () => {
      const r = { protocol: s.getProtocol(), fingerprint: s.getPeerCertificate().fingerprint256, authorized: s.authorized };
      s.end();
      resolve(r);
    });
    s.on("error", reject);
    s.on("timeout", () => s.destroy(new Error("handshake timed out")));
  });
}

/** Sends cleartext HTTP to a TLS port: it must not be answered as HTTP. */
function cleartext(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => s.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    let got = "";
    s.on("data", (d) => (got += d.toString("latin1")));
    s.on("close", () => resolve(got));
    s.on("error", () => resolve(got));
    s.setTimeout(5_000, () => s.destroy());
  });
}

function ndjson(lines: number, tag = "t"): string {
  let out = "";
  for (let i = 0; i < lines; i++) out += JSON.stringify({ message: `<86>1 ${new Date().toISOString()} sec-host sshd ${i + 1} - - Accepted publickey for ${tag} from 10.9.0.1 port 22 ssh2`, sigil: { origin: `${tag}:${i}`, format: "sshd-auth" } }) + "\n";
  return out;
}

function ingestPost(body: string, headers: Record<string, string | undefined> = {}, opts: { bearer?: string | null; cert?: boolean } = {}): Promise<HttpsAnswer> {
  const h: Record<string, string> = { "content-type": "application/x-ndjson", "x-sigil-batch-id": randomBytes(16).toString("hex"), "x-sigil-batch-time": String(Date.now()) };
  const bearer = opts.bearer === undefined ? token : opts.bearer;
  if (bearer !== null) h.authorization = `Bearer ${bearer}`;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) delete h[k];
    else h[k] = v;
  }
  const withCert = opts.cert ?? true;
  return httpsRequest(`https://localhost:${ports.http}/v1/ingest`, { method: "POST", headers: h, body, ca, cert: withCert ? client.cert : undefined, key: withCert ? client.key : undefined });
}

const errorCode = (r: HttpsAnswer) => r.json<{ error: { code: string } }>().error.code;

beforeAll(async () => {
  fs.mkdirSync(dir, { recursive: true });
  iso = testIsolation(import.meta.url);
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  const base = { ...process.env, SIGIL_CONFIG: path.join(dir, "sigil.yml") };
  sigil(["certs", "dev", "--out", certsA, "--client-name", "agent-1"], base);
  sigil(["certs", "dev", "--out", certsB, "--client-name", "agent-1"], base);
  // the listeners read the certificate from `live`, which the reload test overwrites
  fs.mkdirSync(live, { recursive: true });
  for (const f of ["server.pem", "server-key.pem", "ca.pem"]) fs.copyFileSync(path.join(certsA, f), path.join(live, f));
  ca = read(path.join(certsA, "ca.pem"));
  client = { cert: read(path.join(certsA, "client.pem")), key: read(path.join(certsA, "client-key.pem")) };
  const serverTls = { enabled: true, cert_file: path.join(live, "server.pem"), key_file: path.join(live, "server-key.pem") };
  fs.writeFileSync(
    path.join(dir, "sigil.yml"),
    stringify({
      data_dir: path.join(dir, "data"),
      bus: { type: "kafka", topic_prefix: iso.topicPrefix, partitions: 1, kafka: { brokers: iso.kafkaBrokers } },
      security: { tokens: { refresh_ms: 1_000 } },
      ingest: {
        http: { port: ports.http, tls: { ...serverTls, ca_file: path.join(certsA, "ca.pem"), client_auth: "required" } },
        otlp: { port: ports.otlp, tls: serverTls },
        syslog: { udp: { enabled: false }, tcp: { enabled: false }, tls: { enabled: true, port: ports.syslog, tls: serverTls } },
        limits: { max_body_bytes: 256 * 1024 },
      },
      console: { port: ports.console, tls: { ...serverTls, min_version: "TLSv1.2" }, web: { auto_build: false } },
      telemetry: { metrics: { tls: serverTls } },
    }),
  );
  env = { SIGIL_CONFIG: path.join(dir, "sigil.yml") };
  token = (JSON.parse(sigil(["tokens", "create", "--name", "agent-1", "--json"], env)) as { token: string }).token;
  ingest = new RoleProcess("ingest", [], path.join(dir, "ingest.log"), { ...env, SIGIL_TELEMETRY__METRICS__PORT: String(ports.ingestTelemetry) });
  consoleRole = new RoleProcess("console", [], path.join(dir, "console.log"), { ...env, SIGIL_TELEMETRY__METRICS__PORT: String(ports.consoleTelemetry) });
  await Promise.all([ingest.start(), consoleRole.start()]);
}, 300_000);

afterAll(async () => {
  await ingest?.stop();
  await consoleRole?.stop();
  await iso?.cleanup();
}, 120_000);

describe("TLS on every listener", () => {
  const listeners = () => [
    ["ingest http", ports.http],
    ["ingest otlp", ports.otlp],
    ["syslog tls", ports.syslog],
    ["ingest telemetry", ports.ingestTelemetry],
    ["console telemetry", ports.consoleTelemetry],
  ] as const;

  it("negotiates TLS 1.3 on every ingest and telemetry listener and refuses a TLS 1.2 client", async () => {
    for (const [name, port] of listeners()) {
      const mtls = name === "ingest http" ? client : {};
      const r = await handshake(port, mtls);
      expect(r.protocol, name).toBe("TLSv1.3");
      expect(r.authorized, name).toBe(true);
      await expect(handshake(port, { ...mtls, maxVersion: "TLSv1.2" }), `${name} with TLS 1.2`).rejects.toThrow(/protocol|version|alert/i);
    }
  });

  it("honours a configured minimum: the console (min_version TLSv1.2) takes TLS 1.2 and prefers 1.3", async () => {
    expect((await handshake(ports.console)).protocol).toBe("TLSv1.3");
    expect((await handshake(ports.console, { maxVersion: "TLSv1.2" })).protocol).toBe("TLSv1.2");
  });

  it("serves nothing in clear on a TLS port", async () => {
    for (const [name, port] of [...listeners(), ["console", ports.console] as const]) {
      const got = await cleartext(port);
      expect(got, name).not.toMatch(/^HTTP\/1\.[01] 200/);
      expect(got, name).not.toContain("ok");
    }
  });

  it("requires a client certificate on ingest HTTP (mTLS): without one the handshake fails, with one the token is asked for", async () => {
    await expect(ingestPost(ndjson(1), {}, { cert: false })).rejects.toThrow(/certificate|alert|socket hang up|ECONNRESET/i);
    const other = { cert: read(path.join(certsB, "client.pem")), key: read(path.join(certsB, "client-key.pem")) };
    // a client certificate from another CA is no better than none
    await expect(httpsRequest(`https://localhost:${ports.http}/v1/ingest`, { method: "POST", body: "x", ca, ...other })).rejects.toThrow(/certificate|alert|socket hang up|ECONNRESET/i);
    const r = await ingestPost(ndjson(1), {}, { bearer: null });
    expect(r.status).toBe(401);
    expect(errorCode(r)).toBe("token_missing");
  });

  it("swaps in a renewed certificate on every listener without a restart", async () => {
    const before = await handshake(ports.otlp);
    const pids = [ingest.pid, consoleRole.pid];
    // renewal: a certificate from another CA; clients that trust both see the switch
    fs.copyFileSync(path.join(certsB, "server-key.pem"), path.join(live, "server-key.pem"));
    fs.copyFileSync(path.join(certsB, "server.pem"), path.join(live, "server.pem"));
    const both = [ca, read(path.join(certsB, "ca.pem"))];
    const renewed = new Set<string>();
    await until(
      async () => {
        for (const [name, port] of [...listeners(), ["console", ports.console] as const]) {
          if (renewed.has(name)) continue;
          const r = await handshake(port, { ca: both, ...(name === "ingest http" ? client : {}) }).catch(() => null);
          if (r && r.fingerprint !== before.fingerprint) renewed.add(name);
        }
        return renewed.size === 6;
      },
      30_000,
      "every listener to present the renewed certificate",
      500,
    );
    expect([ingest.pid, consoleRole.pid]).toEqual(pids);
    expect(ingest.running && consoleRole.running).toBe(true);
    // clients that only trust the old CA now refuse the server: the new certificate is what is served
    await expect(handshake(ports.otlp)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    ca = Buffer.concat(both);
  });
});

describe("agent tokens against the running sigil ingest", () => {
  it("accepts a valid token and refuses missing, malformed, unknown and wrong-scope tokens", async () => {
    expect((await ingestPost(ndjson(3))).status).toBe(200);
    for (const bearer of [null, "", "not-a-token", `sgl_000000000000_${"x".repeat(43)}`, token.slice(0, -2) + "zz", `${token} ${token}`]) {
      const r = await ingestPost(ndjson(1), {}, { bearer });
      expect(r.status, `bearer ${JSON.stringify(bearer?.slice(0, 20))}`).toBe(401);
      expect(["token_missing", "token_rejected"]).toContain(errorCode(r));
      expect(String(r.headers["www-authenticate"])).toMatch(/^Bearer realm="sigil-ingest"/);
    }
    const scoped = (JSON.parse(sigil(["tokens", "create", "--name", "console-reader", "--scope", "search", "--json"], env)) as { token: string }).token;
    await until(async () => (await ingestPost(ndjson(1), {}, { bearer: scoped })).status === 401, 10_000, "the wrong-scope token to be refused");
  });

  it("stops accepting a revoked token within seconds (security.tokens.refresh_ms = 1 s)", async () => {
    const stolen = (JSON.parse(sigil(["tokens", "create", "--name", "stolen", "--json"], env)) as { token: string }).token;
    expect((await ingestPost(ndjson(1), {}, { bearer: stolen })).status).toBe(200);
    sigil(["tokens", "revoke", "stolen"], env);
    const revokedAt = Date.now();
    let last = 0;
    await until(
      async () => {
        last = (await ingestPost(ndjson(1), {}, { bearer: stolen })).status;
        return last === 401;
      },
      15_000,
      "the revoked token to be refused",
      100,
    );
    const ms = Date.now() - revokedAt;
    process.stdout.write(JSON.stringify({ security: { token_revocation_effective_ms: ms, refresh_ms: 1_000 } }) + "\n");
    // the bound is the refresh interval plus one store read: far below this, on any machine
    expect(ms).toBeLessThan(10_000);
    const list = sigil(["tokens", "list", "--all", "--json"], env)
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { name: string; revoked: boolean; hash?: string; token?: string });
    expect(list.find((t) => t.name === "stolen")?.revoked).toBe(true);
    for (const t of list) expect([t.token, t.hash], "tokens list shows neither the secret nor its hash").toEqual([undefined, undefined]);
  });

  it("limits each token to its rate: 429 with Retry-After, accepted again after it", async () => {
    const slow = (JSON.parse(sigil(["tokens", "create", "--name", "slow-host", "--rate-limit", "20", "--json"], env)) as { token: string }).token;
    expect((await ingestPost(ndjson(20, "rl"), {}, { bearer: slow })).status).toBe(200);
    const over = await ingestPost(ndjson(20, "rl2"), {}, { bearer: slow });
    expect(over.status).toBe(429);
    expect(errorCode(over)).toBe("rate_limited");
    const wait = Number(over.headers["retry-after"]);
    expect(wait).toBeGreaterThanOrEqual(1);
    // another token is not slowed down by this one
    expect((await ingestPost(ndjson(20, "rl3"))).status).toBe(200);
    await sleep(wait * 1000 + 100);
    expect((await ingestPost(ndjson(20, "rl4"), {}, { bearer: slow })).status).toBe(200);
  });

  it("refuses replays: an accepted batch id again (409), a batch time outside the window, missing batch headers", async () => {
    const id = randomBytes(16).toString("hex");
    expect((await ingestPost(ndjson(2, "rp"), { "x-sigil-batch-id": id })).status).toBe(200);
    const again = await ingestPost(ndjson(2, "rp"), { "x-sigil-batch-id": id });
    expect([again.status, errorCode(again)]).toEqual([409, "batch_duplicate"]);
    const old = await ingestPost(ndjson(1), { "x-sigil-batch-time": String(Date.now() - 301_000) });
    expect([old.status, errorCode(old)]).toEqual([400, "batch_time_out_of_window"]);
    const future = await ingestPost(ndjson(1), { "x-sigil-batch-time": String(Date.now() + 301_000) });
    expect([future.status, errorCode(future)]).toEqual([400, "batch_time_out_of_window"]);
    for (const h of ["x-sigil-batch-id", "x-sigil-batch-time"]) {
      const r = await ingestPost(ndjson(1), { [h]: undefined });
      expect([r.status, errorCode(r)], `without ${h}`).toEqual([400, "batch_bad_header"]);
    }
    const bad = await ingestPost(ndjson(1), { "x-sigil-batch-id": "../../etc" });
    expect([bad.status, errorCode(bad)]).toEqual([400, "batch_bad_header"]);
  });

  it("refuses a body over the limit with 413 before reading it", async () => {
    const big = ndjson(3_000);
    expect(big.length).toBeGreaterThan(256 * 1024);
    const r = await ingestPost(big);
    expect([r.status, errorCode(r)]).toEqual([413, "body_too_large"]);
  });
});

describe("the console's file serving", () => {
  it("never serves a file outside the web app, however the path is spelled", async () => {
    const passwd = fs.existsSync("/etc/passwd") ? fs.readFileSync("/etc/passwd", "utf8").split("\n")[0] : "root:x:0:0";
    const paths = [
      "/../../../../etc/passwd",
      "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
      "/..%2f..%2f..%2fetc%2fpasswd",
      "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
      "/%252e%252e/%252e%252e/etc/passwd",
      "/..\\..\\..\\etc\\passwd",
      "//etc/passwd",
      "/assets/%00../../package.json",
      "/api/../../../../etc/passwd",
    ];
    for (const p of paths) {
      const r = await httpsRequest(`https://localhost:${ports.console}${p}`, { ca }).catch((e: Error) => ({ status: -1, body: e.message, headers: {} }) as HttpsAnswer);
      expect(r.body, p).not.toContain(passwd);
      expect(r.body, p).not.toContain('"name": "sigil"');
      expect([200, 400, 401, 404, 503, -1], `${p} → ${r.status}`).toContain(r.status);
    }
  });
});
