// Server-side console sessions: a random 256-bit token in the cookie, only its SHA-256 in the store
// (`state` collection), an absolute and an idle timeout, a per-session CSRF token. Lookups are cached
// for a few seconds so a busy console does not read the store per request; revocation (sign-out, user
// disabled, role changed) reaches every console process within that bound.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Store } from "../../../platform/store/types.ts";
import type { UserStore } from "./users.ts";
import { isRole, type Role } from "./permissions.ts";

export const SESSION_COOKIE = "__Host-sigil_session";
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
const KIND = "console_session";

export interface Session {
  /** Store id: `console-session:<sha256 of the token>`. */
  id: string;
  user: string;
  role: Role;
  csrf: string;
  created: number;
  expiresAt: number;
  lastSeen: number;
  ip: string | null;
}

export interface SessionOptions {
  ttlMs: number;
  idleMs: number;
  /** How long a looked-up session is trusted before the store is read again. */
  cacheMs?: number;
  /** last_seen is written back at most this often. */
  touchEveryMs?: number;
  maxCached?: number;
  now?: () => number;
}

interface Cached {
  session: Session;
  checkedAt: number;
  writtenSeen: number;
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionStore {
  private readonly cache = new Map<string, Cached>();
  private readonly now: () => number;

  constructor(private readonly store: Store, private readonly users: UserStore, private readonly opts: SessionOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts a session for a signed-in user; the old one (if the browser had one) ends: rotation. */
  async create(user: { name: string; role: Role }, meta: { ip: string | null; userAgent: string | null; previousToken?: string | null }): Promise<{ token: string; session: Session }> {
    if (meta.previousToken) await this.destroy(meta.previousToken);
    const token = randomBytes(32).toString("base64url");
    const t = this.now();
    const session: Session = {
      id: `console-session:${hashToken(token)}`,
      user: user.name,
      role: user.role,
      csrf: randomBytes(32).toString("base64url"),
      created: t,
      expiresAt: t + this.opts.ttlMs,
      lastSeen: t,
      ip: meta.ip,
    };
    await this.store.put("state", [
      {
        id: session.id,
        kind: KIND,
        "@timestamp": new Date(t).toISOString(),
        // field names stay clear of ECS objects (user, user_agent, client): the store maps those as objects
        session_user: user.name,
        csrf: session.csrf,
        created: t,
        expires_at: session.expiresAt,
        last_seen: t,
        client_address: meta.ip,
        client_agent: meta.userAgent ? meta.userAgent.slice(0, 256) : null,
      },
    ]);
    this.remember(session.id, { session, checkedAt: t, writtenSeen: t });
    return { token, session };
  }

  /** The live session for a cookie value, or null (unknown, expired, idle, user disabled). Counts as activity. */
  async lookup(token: string | undefined | null, opts: { touch?: boolean } = {}): Promise<Session | null> {
    if (!token || !TOKEN_RE.test(token)) return null;
    const id = `console-session:${hashToken(token)}`;
    const t = this.now();
    let c = this.cache.get(id);
    if (!c || t - c.checkedAt > (this.opts.cacheMs ?? 5_000)) {
      const fresh = await this.load(id, c);
      if (!fresh) {
        this.cache.delete(id);
        return null;
      }
      c = fresh;
      this.remember(id, c);
    }
    const s = c.session;
    if (t >= s.expiresAt || t - s.lastSeen > this.opts.idleMs) {
      await this.destroyId(id);
      return null;
    }
    if (opts.touch !== false) {
      s.lastSeen = t;
      if (t - c.writtenSeen > (this.opts.touchEveryMs ?? 60_000)) {
        c.writtenSeen = t;
        await this.store.update("state", id, (cur) => (cur ? { ...cur, last_seen: t } : null)).catch(() => undefined);
      }
    }
    return s;
  }

  private async load(id: string, prev: Cached | undefined): Promise<Cached | null> {
    const doc = await this.store.get("state", id);
    if (!doc || doc["kind"] !== KIND || typeof doc["session_user"] !== "string") return null;
    const user = await this.users.get(doc["session_user"]);
    if (!user || user.disabled || !isRole(user.role)) return null;
    const storedSeen = Number(doc["last_seen"]);
    const session: Session = {
      id,
      user: user.name,
      role: user.role,
      csrf: String(doc["csrf"]),
      created: Number(doc["created"]),
      expiresAt: Number(doc["expires_at"]),
      lastSeen: Math.max(storedSeen, prev?.session.lastSeen ?? 0),
      ip: typeof doc["client_address"] === "string" ? doc["client_address"] : null,
    };
    return { session, checkedAt: this.now(), writtenSeen: Math.max(storedSeen, prev?.writtenSeen ?? 0) };
  }

  private remember(id: string, c: Cached): void {
    this.cache.delete(id);
    this.cache.set(id, c);
    const max = this.opts.maxCached ?? 10_000;
    while (this.cache.size > max) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  async destroy(token: string): Promise<void> {
    if (!TOKEN_RE.test(token)) return;
    await this.destroyId(`console-session:${hashToken(token)}`);
  }

  private async destroyId(id: string): Promise<void> {
    this.cache.delete(id);
    await this.store.delete("state", [id]);
  }

  /** Ends every session of a user (disabled, role or password changed). Returns how many ended. */
  async destroyForUser(name: string): Promise<number> {
    const ids = new Set<string>();
    for (const [id, c] of this.cache) if (c.session.user === name) ids.add(id);
    await this.store.refresh("state");
    let after: string | undefined;
    for (;;) {
      const r = await this.store.search("state", {
        query: { op: "and", args: [{ op: "term", field: "kind", value: KIND, wildcard: false, phrase: false }, { op: "term", field: "session_user", value: name, wildcard: false, phrase: false }] },
        size: 1000,
        after,
        sort: [{ field: "id", order: "asc" }],
      });
      for (const d of r.hits) if (typeof d["id"] === "string") ids.add(d["id"]);
      if (!r.next || r.hits.length === 0) break;
      after = r.next;
    }
    for (const id of ids) this.cache.delete(id);
    if (ids.size) await this.store.delete("state", [...ids]);
    return ids.size;
  }

  /** Removes expired session records from the store (run periodically). */
  async sweep(): Promise<number> {
    const t = this.now();
    const r = await this.store.search("state", {
      query: {
        op: "and",
        args: [
          { op: "term", field: "kind", value: KIND, wildcard: false, phrase: false },
          { op: "or", args: [{ op: "range", field: "expires_at", lt: t }, { op: "range", field: "last_seen", lt: t - this.opts.idleMs }] },
        ],
      },
      size: 1000,
      sort: [{ field: "id", order: "asc" }],
    });
    const ids = r.hits.map((d) => String(d["id"]));
    for (const id of ids) this.cache.delete(id);
    if (ids.length) await this.store.delete("state", ids);
    return ids.length;
  }
}
