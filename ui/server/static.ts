// Serves the built web app from memory: hashed assets cached for a year, index.html revalidated, each
// with precomputed brotli and gzip variants and an ETag, so a first load is a handful of small responses.
// Paths without a file extension get index.html (the app routes in the browser).

import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { brotliCompressSync, gzipSync, constants as zlib } from "node:zlib";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
  ".webmanifest": "application/manifest+json",
};

interface Asset {
  type: string;
  etag: string;
  immutable: boolean;
  raw: Buffer;
  br: Buffer | null;
  gzip: Buffer | null;
}

export class StaticFiles {
  private readonly files = new Map<string, Asset>();

  constructor(readonly dir: string) {
    this.load(dir, "");
    if (!this.files.has("/index.html")) throw new Error(`${dir} has no index.html`);
  }

  private load(dir: string, prefix: string): void {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      if (ent.name.startsWith(".")) continue;
      const full = path.join(dir, ent.name);
      const url = `${prefix}/${ent.name}`;
      if (ent.isDirectory()) {
        this.load(full, url);
        continue;
      }
      const raw = fs.readFileSync(full);
      const ext = path.extname(ent.name).toLowerCase();
      const type = TYPES[ext] ?? "application/octet-stream";
      const compressible = /^(text\/|application\/(json|manifest)|image\/svg)/.test(type) && raw.length > 512;
      this.files.set(url, {
        type,
        etag: `"${createHash("sha256").update(raw).digest("base64url").slice(0, 22)}"`,
        immutable: url.startsWith("/assets/"),
        raw,
        br: compressible ? brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }) : null,
        gzip: compressible ? gzipSync(raw, { level: 9 }) : null,
      });
    }
  }

  /** The response for a GET of `pathname`, or null when it is not a file of the app nor an app route. */
  respond(pathname: string, headers: { acceptEncoding?: string; ifNoneMatch?: string }): Response | null {
    let asset = this.files.get(pathname);
    if (!asset) {
      if (pathname.startsWith("/assets/") || path.extname(pathname) !== "") return null;
      asset = this.files.get("/index.html")!;
    }
    const h = new Headers({
      "content-type": asset.type,
      etag: asset.etag,
      "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      vary: "accept-encoding",
    });
    if (headers.ifNoneMatch && headers.ifNoneMatch === asset.etag) return new Response(null, { status: 304, headers: h });
    const ae = headers.acceptEncoding ?? "";
    let body = asset.raw;
    if (asset.br && /\bbr\b/.test(ae)) {
      body = asset.br;
      h.set("content-encoding", "br");
    } else if (asset.gzip && /\bgzip\b/.test(ae)) {
      body = asset.gzip;
      h.set("content-encoding", "gzip");
    }
    h.set("content-length", String(body.length));
    return new Response(new Uint8Array(body.buffer, body.byteOffset, body.byteLength) as unknown as BodyInit, { status: 200, headers: h });
  }
}
