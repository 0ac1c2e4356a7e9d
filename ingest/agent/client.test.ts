import { describe, expect, it } from "vitest";
import { classifyError, classifyResponse, parseRetryAfter } from "./client.ts";

describe("classifying ingest's answers", () => {
  it("maps statuses to what the agent does", () => {
    expect(classifyResponse(200, {}, "")).toMatchObject({ ok: true });
    expect(classifyResponse(409, {}, "")).toMatchObject({ ok: true, duplicate: true });
    expect(classifyResponse(401, {}, '{"error":{"code":"token_revoked","message":"revoked"}}')).toMatchObject({ ok: false, kind: "auth", code: "agent_token_rejected" });
    expect(classifyResponse(429, { "retry-after": "7" }, "")).toMatchObject({ ok: false, kind: "throttled", retryAfterMs: 7000 });
    expect(classifyResponse(503, {}, "")).toMatchObject({ kind: "throttled" });
    expect(classifyResponse(413, {}, "")).toMatchObject({ kind: "too_large" });
    expect(classifyResponse(400, {}, '{"error":{"code":"bad_gzip","message":"x"}}')).toMatchObject({ kind: "rejected", code: "agent_batch_rejected" });
    expect(classifyResponse(500, {}, "oops")).toMatchObject({ kind: "server" });
  });

  it("keeps error text from the server short and printable", () => {
    const r = classifyResponse(400, {}, "\u0000".repeat(5000));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message.length).toBeLessThan(300);
  });

  it("tells certificate failures from network failures", () => {
    expect(classifyError(Object.assign(new Error("self-signed"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }))).toMatchObject({ kind: "tls", code: "agent_tls_verify_failed" });
    expect(classifyError(Object.assign(new Error("Hostname/IP does not match"), { code: "ERR_TLS_CERT_ALTNAME_INVALID" }))).toMatchObject({ kind: "tls" });
    expect(classifyError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))).toMatchObject({ kind: "network", code: "agent_ingest_unreachable" });
  });

  it("reads Retry-After as seconds or a date, capped", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter("99999")).toBe(600_000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter("soon")).toBeUndefined();
  });
});
