// The listener: HTTPS and WSS with a configured certificate (HSTS on), plain HTTP refused off loopback
// unless allowed, and the built web app served from memory (compressed, cached, app routes → index.html).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createDevCerts, type DevCertFiles } from "../../platform/security/certs.ts";
import { consoleSchema } from "../../platform/config/sections/console.ts";
import { addRoleUsers, PASSWORD, startHarness, type Harness } from "./test-support/harness.ts";
import { checkListenerSecurity } from "./server.ts";
import { StaticFiles } from "./static.ts";
import { buildIsFresh, sourceHash } from "./web-build.ts";
import { brotliDecompressSync } from "node:zlib";

function request(url: string, ca: Buffer, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: opts.method ?? "GET", headers: opts.headers, ca }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("HTTPS and WSS", () => {
  let dir: string;
  let certs: DevCertFiles;
  let h: Harness;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-console-tls-"));
    certs = await createDevCerts(dir);
    h = await startHarness({ tls: { enabled: true, cert_file: certs.serverCert, key_file: certs.serverKey } });
    await addRoleUsers(h, ["viewer"]);
  });
  afterAll(async () => {
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("serves the API over TLS with HSTS, signs in, and opens the live channel over WSS", async () => {
    expect(h.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = fs.readFileSync(certs.caCert);
    const login = await request(h.url + "/api/auth/login", ca, { method: "POST", headers: { origin: h.url, "content-type": "application/json" }, body: JSON.stringify({ username: "viewer", password: PASSWORD }) });
    expect(login.status).toBe(200);
    expect(login.headers["strict-transport-security"]).toMatch(/max-age=\d+/);
    const cookie = String(login.headers["set-cookie"]).split(";")[0];
    const ws = new WebSocket(h.url.replace("https", "wss") + "/api/live", { ca, headers: { origin: h.url, cookie } });
    const hello = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once("message", (d) => resolve(JSON.parse(String(d))));
      ws.once("error", reject);
    });
    expect(hello.type).toBe("hello");
    ws.close();
    // a plain-HTTP origin is not the console's origin
    const wrong = await request(h.url + "/api/auth/logout", ca, { method: "POST", headers: { origin: h.url.replace("https", "http"), cookie, "content-type": "application/json" }, body: "{}" });
    expect(wrong.status).toBe(403);
  });

  it("refuses plain HTTP off loopback unless allowed", () => {
    const cfg = (o: Record<string, unknown>) => consoleSchema.parse(o);
    expect(() => checkListenerSecurity(cfg({ host: "0.0.0.0" }))).toThrow(expect.objectContaining({ code: "console_insecure_listener" }));
    expect(() => checkListenerSecurity(cfg({ host: "0.0.0.0", allow_insecure_http: true }))).not.toThrow();
    expect(() => checkListenerSecurity(cfg({ host: "127.0.0.1" }))).not.toThrow();
    expect(() => checkListenerSecurity(cfg({ host: "10.0.0.5", tls: { enabled: true } }))).not.toThrow();
  });
});

describe("static files", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-console-static-"));
    fs.mkdirSync(path.join(dir, "assets"));
    fs.writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>x</title>" + " ".repeat(1000));
    fs.writeFileSync(path.join(dir, "assets", "app-abc123.js"), "console.log('app');" + "/*pad*/".repeat(200));
    fs.writeFileSync(path.join(dir, ".secret"), "no");
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("serves hashed assets for a year, index.html revalidated, compressed when asked, 304 on a match", async () => {
    const s = new StaticFiles(dir);
    const a = s.respond("/assets/app-abc123.js", { acceptEncoding: "gzip, br" })!;
    expect(a.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(a.headers.get("content-encoding")).toBe("br");
    expect(brotliDecompressSync(Buffer.from(await a.arrayBuffer())).toString()).toContain("console.log('app')");
    const idx = s.respond("/", {})!;
    expect(idx.headers.get("cache-control")).toBe("no-cache");
    expect(s.respond("/", { ifNoneMatch: idx.headers.get("etag")! })!.status).toBe(304);
  });

  it("answers app routes with index.html and nothing else outside the build", async () => {
    const s = new StaticFiles(dir);
    expect(await s.respond("/chains/abc", {})!.text()).toContain("<title>x</title>");
    expect(s.respond("/assets/missing.js", {})).toBeNull();
    expect(s.respond("/x.map", {})).toBeNull();
    // files are looked up in an in-memory map of the build (dotfiles left out): nothing else is reachable
    for (const p of ["/.secret", "/../../etc/passwd", "/assets/../.secret"]) {
      const r = s.respond(p, {});
      expect(r === null || (await r.text()).includes("<title>x</title>"), p).toBe(true);
    }
  });
});

describe("web build freshness", () => {
  it("hashes the sources and knows a build stamped with another hash is stale", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-console-dist-"));
    try {
      const hash = sourceHash();
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect(buildIsFresh(dir, hash)).toBe(false);
      fs.writeFileSync(path.join(dir, "index.html"), "x");
      fs.writeFileSync(path.join(dir, ".source-hash"), hash + "\n");
      expect(buildIsFresh(dir, hash)).toBe(true);
      expect(buildIsFresh(dir, "0".repeat(64))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
