import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addRoleUsers, client, PASSWORD, signIn, startHarness, type Harness } from "../test-support/harness.ts";
import { LoginThrottle } from "./throttle.ts";
import { SessionStore } from "./sessions.ts";
import { UserStore } from "./users.ts";
import { checkPasswordPolicy } from "./passwords.ts";
import { MemoryStore } from "../test-support/memory-store.ts";
import type { SigilError } from "../../../platform/errors.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await addRoleUsers(h);
});
afterAll(async () => h.close());

describe("sign-in", () => {
  it("sets an HttpOnly, Secure, SameSite=Strict host-only cookie and returns the CSRF token and permissions", async () => {
    const c = client(h);
    const res = await c.fetch("/api/auth/login", { method: "POST", json: { username: "Analyst", password: PASSWORD } });
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Host-sigil_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Domain=/);
    const body = (await res.json()) as { user: { name: string; role: string }; csrf: string; permissions: string[] };
    expect(body.user).toEqual({ name: "analyst", role: "analyst" });
    expect(body.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.permissions).toContain("alerts:triage");
    expect(body.permissions).not.toContain("users:manage");
    // the store keeps only a hash of the token
    const stored = [...(h.store.data.get("state")?.keys() ?? [])];
    expect(stored.some((k) => k.includes(cookie.split("=")[1].split(";")[0]))).toBe(false);
  });

  it("refuses a wrong password and an unknown user the same way, and audits both", async () => {
    const c = client(h);
    const wrong = await c.fetch("/api/auth/login", { method: "POST", json: { username: "viewer", password: "not the password" } });
    const unknown = await c.fetch("/api/auth/login", { method: "POST", json: { username: "mallory", password: "not the password" } });
    expect(wrong.status).toBe(400);
    expect(unknown.status).toBe(400);
    expect(await wrong.json()).toEqual(await unknown.json());
    const audit = [...(h.store.data.get("audit")?.values() ?? [])].filter((r) => r["action"] === "auth.sign_in_failed");
    expect(audit.map((r) => r["actor"])).toEqual(expect.arrayContaining(["viewer", "mallory"]));
  });

  it("rotates the session on sign-in: the previous cookie stops working", async () => {
    const c = await signIn(h, "viewer");
    const old = c.cookie!;
    const res = await c.fetch("/api/auth/login", { method: "POST", json: { username: "viewer", password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(c.cookie).not.toBe(old);
    expect((await fetch(h.url + "/api/auth/session", { headers: { cookie: old } })).status).toBe(401);
    expect((await c.fetch("/api/auth/session")).status).toBe(200);
  });

  it("signs out: the cookie is cleared and the session is gone", async () => {
    const c = await signIn(h, "engineer");
    const cookie = c.cookie!;
    const res = await c.fetch("/api/auth/logout", { method: "POST" });
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toMatch(/__Host-sigil_session=;/);
    expect((await fetch(h.url + "/api/auth/session", { headers: { cookie } })).status).toBe(401);
  });

  it("ends every session of a user who is disabled", async () => {
    await h.deps.users.add({ name: "temp", role: "analyst", password: PASSWORD, createdBy: "t" });
    const temp = await signIn(h, "temp");
    const admin = await signIn(h, "admin");
    const res = await admin.fetch("/api/users/temp", { method: "PATCH", json: { disabled: true } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { sessions_ended: number }).sessions_ended).toBe(1);
    expect((await temp.fetch("/api/alerts")).status).toBe(401);
    const again = await client(h).fetch("/api/auth/login", { method: "POST", json: { username: "temp", password: PASSWORD } });
    expect(again.status).toBe(400);
  });

  it("throttles repeated failures for a user name with Retry-After", async () => {
    await h.deps.users.add({ name: "target", role: "viewer", password: PASSWORD, createdBy: "t" });
    const c = client(h);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await c.fetch("/api/auth/login", { method: "POST", json: { username: "target", password: "guess " + i } })).status);
    expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
    expect(statuses[5]).toBe(429);
    const locked = await c.fetch("/api/auth/login", { method: "POST", json: { username: "target", password: PASSWORD } });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await locked.json()) as { error: string }).error).toBe("too_many_attempts");
  });

  it("refuses a sign-in posted from another origin (login CSRF) and non-JSON bodies", async () => {
    const evil = await client(h).fetch("/api/auth/login", { method: "POST", json: { username: "viewer", password: PASSWORD }, headers: { origin: "https://evil.example" } });
    expect(evil.status).toBe(403);
    const form = await client(h).fetch("/api/auth/login", { method: "POST", body: "username=viewer&password=x", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(form.status).toBe(400);
    expect(((await form.json()) as { error: string }).error).toBe("bad_request");
  });

  it("changes a password: the old one stops working, other sessions end", async () => {
    await h.deps.users.add({ name: "changer", role: "viewer", password: PASSWORD, createdBy: "t" });
    const a = await signIn(h, "changer");
    const b = await signIn(h, "changer");
    const res = await a.fetch("/api/auth/password", { method: "POST", json: { current: PASSWORD, password: "a whole new passphrase" } });
    expect(res.status).toBe(200);
    expect((await b.fetch("/api/auth/session")).status).toBe(401);
    expect((await a.fetch("/api/auth/session")).status).toBe(200);
    await expect(signIn(h, "changer")).rejects.toThrow(/failed/);
    await signIn(h, "changer", "a whole new passphrase");
  });
});

describe("sessions", () => {
  it("end after the idle timeout and after the absolute timeout", async () => {
    const store = new MemoryStore();
    const users = new UserStore(store);
    await users.add({ name: "u", role: "viewer", password: PASSWORD, createdBy: "t" });
    let t = 1_000_000;
    const s = new SessionStore(store, users, { ttlMs: 10_000, idleMs: 3_000, cacheMs: 0, now: () => t });
    const a = await s.create({ name: "u", role: "viewer" }, { ip: null, userAgent: null });
    t += 2_000;
    expect(await s.lookup(a.token)).not.toBeNull();
    t += 3_001;
    expect(await s.lookup(a.token)).toBeNull(); // idle
    const b = await s.create({ name: "u", role: "viewer" }, { ip: null, userAgent: null });
    for (let i = 0; i < 4; i++) {
      t += 2_000;
      expect(await s.lookup(b.token)).not.toBeNull();
    }
    t += 2_000; // active all along, but 10 s after sign-in
    expect(await s.lookup(b.token)).toBeNull(); // absolute
  });

  it("follow role changes and disabling within the cache bound", async () => {
    const store = new MemoryStore();
    const users = new UserStore(store);
    await users.add({ name: "u", role: "viewer", password: PASSWORD, createdBy: "t" });
    let t = 0;
    const s = new SessionStore(store, users, { ttlMs: 1e9, idleMs: 1e9, cacheMs: 5_000, now: () => t });
    const a = await s.create({ name: "u", role: "viewer" }, { ip: null, userAgent: null });
    await users.setRole("u", "admin");
    expect((await s.lookup(a.token))!.role).toBe("viewer");
    t += 5_001;
    expect((await s.lookup(a.token))!.role).toBe("admin");
    await users.setDisabled("u", true);
    t += 5_001;
    expect(await s.lookup(a.token)).toBeNull();
  });
});

describe("throttle", () => {
  it("locks a user after the limit, doubles the lockout, caps it, and an address after 4x the limit", () => {
    let t = 0;
    const th = new LoginThrottle({ maxFailures: 3, windowMs: 60_000, maxLockoutMs: 8_000, now: () => t });
    for (let i = 0; i < 2; i++) th.failure("bob", "1.2.3.4");
    expect(th.retryAfter("bob", "1.2.3.4")).toBe(0);
    th.failure("bob", "1.2.3.4");
    expect(th.retryAfter("bob", "9.9.9.9")).toBe(1000);
    th.failure("bob", null);
    expect(th.retryAfter("bob", null)).toBe(2000);
    for (let i = 0; i < 5; i++) th.failure("bob", null);
    expect(th.retryAfter("bob", null)).toBe(8000);
    t += 8_001;
    expect(th.retryAfter("bob", null)).toBe(0);
    for (let i = 0; i < 12; i++) th.failure(`user${i}`, "5.5.5.5");
    expect(th.retryAfter("someone-else", "5.5.5.5")).toBeGreaterThan(0);
  });
});

describe("users", () => {
  it("validates names, roles and passwords", async () => {
    const users = new UserStore(new MemoryStore());
    const code = async (p: Promise<unknown>) => ((await p.then(() => null, (e: SigilError) => e)) as SigilError | null)?.code;
    expect(await code(users.add({ name: "<b>", role: "viewer", password: PASSWORD, createdBy: "t" }))).toBe("user_bad_name");
    expect(await code(users.add({ name: "ok", role: "root", password: PASSWORD, createdBy: "t" }))).toBe("user_bad_role");
    expect(await code(users.add({ name: "ok", role: "viewer", password: "short", createdBy: "t" }))).toBe("password_weak");
    await users.add({ name: "ok", role: "viewer", password: PASSWORD, createdBy: "t" });
    expect(await code(users.add({ name: "OK", role: "viewer", password: PASSWORD, createdBy: "t" }))).toBe("user_exists");
    const stored = await users.get("ok");
    expect(stored!.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(JSON.stringify(await users.list())).not.toContain("argon2");
    expect(() => checkPasswordPolicy("okokokokokokokok", "ok")).toThrow(/user name/);
  });
});
