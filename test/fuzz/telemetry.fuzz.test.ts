// Fuzz: the telemetry listener every role serves (/metrics, /healthz, /readyz), token-guarded: random
// methods, paths, headers and raw bytes get a 2xx/4xx with a JSON error code (503 only from /readyz
// when a check fails), never a 5xx crash, and /metrics stays behind its token. Budget: SIGIL_FUZZ_RUNS.

import net from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTelemetryServer, type TelemetryServer } from "../../platform/telemetry/server.ts";
import { Health } from "../../platform/telemetry/health.ts";
import { anyString, fuzzParams, fuzzTimeout, uriPart } from "./support/budget.ts";

const TOKEN = "telemetry-secret-0123456789";
let srv: TelemetryServer;

beforeAll(async () => {
  srv = await startTelemetryServer({ host: "127.0.0.1", port: 0, token: TOKEN, health: new Health() });
});
afterAll(async () => srv?.close());

describe("fuzz: the telemetry listener", () => {
  it(
    "answers random requests with 2xx or a JSON 4xx, and never serves /metrics without the token",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"),
          fc.oneof(fc.constantFrom("/metrics", "/healthz", "/readyz", "/metrics?x=1", "/metrics/", "/../metrics", "//metrics", "/METRICS", "/"), anyString(60).map((s) => "/" + uriPart(s))),
          fc.oneof(fc.constant(undefined), fc.constantFrom(`Bearer ${TOKEN}`, `Bearer ${TOKEN}x`, `bearer ${TOKEN}`, "Bearer", `Bearer ${"x".repeat(5000)}`), fc.string({ maxLength: 40 })),
          async (method, path, auth) => {
            const headers: Record<string, string> = {};
            if (auth !== undefined && /^[\t\x20-\x7e]*$/.test(auth)) headers.authorization = auth;
            const res = await fetch(srv.url + path, { method, headers, signal: AbortSignal.timeout(10_000) });
            const text = await res.text();
            expect(res.status, `${method} ${path}`).toBeLessThan(500);
            if (res.status >= 400) expect((JSON.parse(text) as { error: string }).error, `${method} ${path}`).toMatch(/^[a-z_]+$/);
            if (res.status === 200 && path.split("?")[0] === "/metrics") expect(headers.authorization?.replace(/^[\t ]+|[\t ]+$/g, "")).toBe(`Bearer ${TOKEN}`);
          },
        ),
        fuzzParams(),
      );
    },
    fuzzTimeout(100),
  );

  it("answers raw random bytes with a JSON 400 or a close, and keeps serving", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)), fc.string({ unit: "binary", maxLength: 300 }).map((s) => Buffer.from(`GET /metrics HTTP/1.1\r\n${s}\r\n\r\n`))), async (bytes) => {
        const got = await new Promise<string>((resolve) => {
          let out = "";
          const s = net.connect(srv.port, "127.0.0.1", () => s.end(bytes));
          s.on("data", (d) => (out += d.toString("latin1")));
          s.on("close", () => resolve(out));
          s.on("error", () => resolve(out));
          s.setTimeout(3_000, () => s.destroy());
        });
        expect(got).not.toMatch(/^HTTP\/1\.1 5/);
        expect(got).not.toContain("# HELP");
      }),
      fuzzParams(0.5),
    );
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
  });
});
