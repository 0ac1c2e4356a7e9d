import { afterAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { createDevCerts } from "./certs.ts";
import { clientTlsOptions, serverTlsOptions, watchCertificates } from "./tls.ts";
import { RateLimiter, ReplayGuard } from "./limits.ts";
import { CachedTokenVerifier, TokenStore, parseToken } from "./tokens.ts";
import { tlsSchema } from "../config/sections/common.ts";
import type { Doc, Store } from "../store/types.ts";
import { SigilError } from "../errors.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-sec-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function get(port: number, opts: https.RequestOptions): Promise<{ status: number; peerCN?: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, path: "/", ...opts }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("TLS", () => {
  it("serves TLS 1.3 with dev certificates, verifies the server, and enforces mTLS", async () => {
    const files = await createDevCerts(dir);
    const cfg = tlsSchema.parse({ enabled: true, cert_file: files.serverCert, key_file: files.serverKey, ca_file: files.caCert, client_auth: "required" });
    const server = https.createServer(serverTlsOptions(cfg, "test"), (req, res) => {
      const cert = (req.socket as import("node:tls").TLSSocket).getPeerCertificate();
      res.setHeader("x-proto", (req.socket as import("node:tls").TLSSocket).getProtocol() ?? "");
      res.end(cert.subject?.CN ?? "");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const withClient = clientTlsOptions(tlsSchema.parse({ ca_file: files.caCert, cert_file: files.clientCert, key_file: files.clientKey }), "client");
      expect((await get(port, withClient as https.RequestOptions)).status).toBe(200);
      // no client certificate: refused
      const noClient = clientTlsOptions(tlsSchema.parse({ ca_file: files.caCert }), "client");
      await expect(get(port, noClient as https.RequestOptions)).rejects.toThrow();
      // unknown CA: the client refuses the server
      const other = await createDevCerts(path.join(dir, "other"));
      const wrongCa = clientTlsOptions(tlsSchema.parse({ ca_file: other.caCert, cert_file: files.clientCert, key_file: files.clientKey }), "client");
      await expect(get(port, wrongCa as https.RequestOptions)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    } finally {
      server.close();
    }
  });

  it("names the missing file when TLS is on without a certificate", () => {
    const cfg = tlsSchema.parse({ enabled: true });
    try {
      serverTlsOptions(cfg, "ingest http");
      expect.unreachable();
    } catch (err) {
      expect((err as SigilError).code).toBe("tls_missing_file");
    }
  });

  it("reloads a changed certificate without restarting", async () => {
    const a = await createDevCerts(path.join(dir, "a"));
    const live = path.join(dir, "live");
    fs.mkdirSync(live, { recursive: true });
    for (const [src, dst] of [[a.serverCert, "s.pem"], [a.serverKey, "s-key.pem"]]) fs.copyFileSync(src, path.join(live, dst));
    const cfg = tlsSchema.parse({ enabled: true, cert_file: path.join(live, "s.pem"), key_file: path.join(live, "s-key.pem") });
    const server = https.createServer(serverTlsOptions(cfg, "test"), (_q, s) => s.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const stop = watchCertificates(server, cfg, "test", undefined, 50);
    try {
      await get(port, { ca: fs.readFileSync(a.caCert) });
      const b = await createDevCerts(path.join(dir, "b"));
      fs.copyFileSync(b.serverCert, path.join(live, "s.pem"));
      fs.copyFileSync(b.serverKey, path.join(live, "s-key.pem"));
      const deadline = Date.now() + 5000;
      let ok = false;
      while (Date.now() < deadline && !ok) {
        await new Promise((r) => setTimeout(r, 100));
        ok = await get(port, { ca: fs.readFileSync(b.caCert), agent: false }).then(() => true, () => false);
      }
      expect(ok).toBe(true);
    } finally {
      stop();
      server.close();
    }
  });
});

describe("limits", () => {
  it("rate-limits per key with a token bucket and says when to retry", () => {
    let t = 0;
    const rl = new RateLimiter(100, () => t);
    expect(rl.take("a", 60)).toBe(0);
    expect(rl.take("a", 60)).toBeGreaterThan(0);
    expect(rl.take("b", 60)).toBe(0);
    t += 1000;
    expect(rl.take("a", 60)).toBe(0);
    expect(rl.take("a", 10, 0)).toBe(0); // 0 = unlimited
  });

  it("refuses replayed, stale and future batches", () => {
    let t = 1_000_000;
    const g = new ReplayGuard(60_000, () => t);
    expect(g.check("batch-0001", String(t))).toEqual({ ok: true });
    g.accept("batch-0001", t);
    expect(g.check("batch-0001", String(t))).toMatchObject({ ok: false, code: "batch_duplicate" });
    expect(g.check("batch-0002", String(t - 61_000))).toMatchObject({ ok: false, code: "batch_too_old" });
    expect(g.check("batch-0003", String(t + 61_000))).toMatchObject({ ok: false, code: "batch_from_future" });
    expect(g.check("x", String(t))).toMatchObject({ ok: false, code: "batch_bad_header" });
    t += 120_000;
    g.accept("batch-0004", t);
    expect(g.check("batch-0001", String(t))).toEqual({ ok: true }); // expired from memory, and in-window again
  });
});

/** A minimal in-memory stand-in for the store (unit test only). */
function fakeStore(): Store {
  const data = new Map<string, Map<string, Doc>>();
  const coll = (c: string) => data.get(c) ?? data.set(c, new Map()).get(c)!;
  return {
    kind: "embedded",
    init: async () => {},
    put: async (c, docs) => {
      for (const d of docs) coll(c).set(String(d.id), structuredClone(d));
      return { created: docs.length, existing: 0 };
    },
    get: async (c, id) => structuredClone(coll(c).get(id) ?? null),
    getMany: async () => [],
    update: async (c, id, fn) => {
      const next = fn(structuredClone(coll(c).get(id) ?? null));
      if (next) coll(c).set(id, next);
      return next;
    },
    delete: async () => {},
    search: async (c) => ({ total: coll(c).size, totalIsLowerBound: false, hits: [...coll(c).values()].map((d) => structuredClone(d)) }),
    count: async () => 0,
    histogram: async () => [],
    terms: async () => [],
    refresh: async () => {},
    health: async () => ({ ok: true, detail: "fake" }),
    close: async () => {},
  };
}

describe("tokens", () => {
  it("creates tokens shown once and stored hashed; verifies, scopes and revokes them", async () => {
    const store = fakeStore();
    const tokens = new TokenStore(store);
    const { token, record } = await tokens.create({ name: "web-01" });
    expect(parseToken(token)?.id).toBe(record.id);
    const stored = JSON.stringify(await store.get("tokens", record.id));
    expect(stored).not.toContain(parseToken(token)!.secret);
    let t = 0;
    const v = new CachedTokenVerifier(tokens, 2000, () => t);
    expect(await v.verify(token, "ingest")).toMatchObject({ id: record.id, name: "web-01" });
    expect(await v.verify(token, "admin")).toBeNull();
    expect(await v.verify(token.slice(0, -2) + "xx", "ingest")).toBeNull();
    expect(await v.verify("garbage", "ingest")).toBeNull();
    await expect(tokens.create({ name: "web-01" })).rejects.toMatchObject({ code: "token_name_taken" });
    await tokens.revoke("web-01");
    expect(await v.verify(token, "ingest")).not.toBeNull(); // cached until the next refresh
    t += 2001;
    expect(await v.verify(token, "ingest")).toBeNull(); // revoked within refresh_ms
  });
});
