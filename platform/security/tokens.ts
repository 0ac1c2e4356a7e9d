// Agent tokens: created once (the secret is shown once), stored only as a SHA-256 hash, scoped,
// revocable; receivers verify them through a cache refreshed every few seconds, so a revocation takes
// effect within `refresh_ms` on every ingest instance.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { SigilError, UsageError } from "../errors.ts";
import type { Store } from "../store/types.ts";
import type { TokenInfo, TokenVerifier } from "./types.ts";

export const TOKEN_PREFIX = "sgl_";
const ID_RE = /^[0-9a-f]{12}$/;

export interface TokenRecord {
  [key: string]: string | number | boolean | string[] | null;
  id: string;
  name: string;
  /** SHA-256 of the secret part, hex. Tokens are 256-bit random, so a fast hash is enough. */
  hash: string;
  scopes: string[];
  created: string;
  created_by: string;
  revoked: boolean;
  revoked_at: string | null;
  rate_limit_eps: number;
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** Splits "sgl_<id>_<secret>"; null when the shape is wrong. */
export function parseToken(token: string): { id: string; secret: string } | null {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const rest = token.slice(TOKEN_PREFIX.length);
  const i = rest.indexOf("_");
  if (i < 0) return null;
  const id = rest.slice(0, i);
  const secret = rest.slice(i + 1);
  if (!ID_RE.test(id) || secret.length < 20) return null;
  return { id, secret };
}

export class TokenStore {
  constructor(private readonly store: Store) {}

  /** Creates a token; returns the plain token (shown once) and its stored record. */
  async create(opts: { name: string; scopes?: string[]; rateLimitEps?: number; createdBy?: string }): Promise<{ token: string; record: TokenRecord }> {
    const name = opts.name.trim();
    if (!/^[\w.@:-]{1,64}$/.test(name)) {
      throw new UsageError("token_bad_name", `token name ${JSON.stringify(opts.name)} must be 1-64 letters, digits, . _ @ : -`);
    }
    const existing = await this.list();
    if (existing.some((t) => t.name === name && !t.revoked)) {
      throw new UsageError("token_name_taken", `an active token named ${name} exists`, { hint: `revoke it first (sigil tokens revoke ${name}) or pick another name` });
    }
    const id = randomBytes(6).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const record: TokenRecord = {
      id,
      name,
      hash: sha256(secret),
      scopes: opts.scopes?.length ? opts.scopes : ["ingest"],
      created: new Date().toISOString(),
      created_by: opts.createdBy ?? "cli",
      revoked: false,
      revoked_at: null,
      rate_limit_eps: opts.rateLimitEps ?? 0,
    };
    await this.store.put("tokens", [record]);
    return { token: `${TOKEN_PREFIX}${id}_${secret}`, record };
  }

  async list(): Promise<TokenRecord[]> {
    const out: TokenRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const r = await this.store.search("tokens", { size: 1000, after, sort: [{ field: "id", order: "asc" }], timeField: "created" });
      out.push(...(r.hits as unknown as TokenRecord[]));
      if (!r.next) break;
      after = r.next;
    }
    return out;
  }

  /** Revokes by id or name; returns the revoked records. */
  async revoke(idOrName: string, by = "cli"): Promise<TokenRecord[]> {
    const all = await this.list();
    const hits = all.filter((t) => !t.revoked && (t.id === idOrName || t.name === idOrName));
    if (hits.length === 0) throw new UsageError("token_not_found", `no active token with id or name ${idOrName}`, { hint: "see `sigil tokens list`" });
    const now = new Date().toISOString();
    for (const t of hits) {
      await this.store.update("tokens", t.id, (cur) => (cur ? { ...cur, revoked: true, revoked_at: now, revoked_by: by } : null));
    }
    return hits.map((t) => ({ ...t, revoked: true, revoked_at: now }));
  }

  async get(id: string): Promise<TokenRecord | null> {
    return (await this.store.get("tokens", id)) as TokenRecord | null;
  }
}

/**
 * Verifies bearer tokens against the token store through a cache. Known tokens are re-read every
 * `refreshMs`; an unknown id is looked up once (so a new token works at once) and negative answers
 * are cached briefly to keep a flood of bad tokens off the store.
 */
export class CachedTokenVerifier implements TokenVerifier {
  private cache = new Map<string, TokenRecord>();
  private misses = new Map<string, number>();
  private loadedAt = 0;
  private loading: Promise<void> | null = null;

  constructor(private readonly tokens: TokenStore, private readonly refreshMs = 2000, private readonly now = () => Date.now()) {}

  private async refresh(): Promise<void> {
    if (this.now() - this.loadedAt < this.refreshMs) return;
    this.loading ??= (async () => {
      try {
        const list = await this.tokens.list();
        this.cache = new Map(list.map((t) => [t.id, t]));
        this.misses.clear();
        this.loadedAt = this.now();
      } finally {
        this.loading = null;
      }
    })();
    await this.loading;
  }

  async verify(bearer: string, scope: string): Promise<TokenInfo | null> {
    const parsed = parseToken(bearer);
    if (!parsed) return null;
    try {
      await this.refresh();
    } catch (err) {
      // store unreachable: keep answering from the last list, but never from an empty one
      if (this.loadedAt === 0) throw new SigilError("token_store_unavailable", `cannot verify tokens: ${(err as Error).message}`);
    }
    let rec = this.cache.get(parsed.id);
    if (!rec) {
      const missAt = this.misses.get(parsed.id);
      if (missAt !== undefined && this.now() - missAt < this.refreshMs) return null;
      rec = (await this.tokens.get(parsed.id)) ?? undefined;
      if (!rec) {
        if (this.misses.size > 10_000) this.misses.clear();
        this.misses.set(parsed.id, this.now());
        return null;
      }
      this.cache.set(rec.id, rec);
    }
    if (rec.revoked || !rec.scopes.includes(scope)) return null;
    const a = Buffer.from(sha256(parsed.secret), "hex");
    const b = Buffer.from(rec.hash, "hex");
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    return { id: rec.id, name: rec.name, scopes: rec.scopes, rate_limit_eps: rec.rate_limit_eps };
  }
}
