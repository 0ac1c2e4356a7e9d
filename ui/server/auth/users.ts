// Console users in the store's `users` collection: name, role, argon2id hash, disabled flag. Shared by
// `sigil users add|list|disable` and the console's admin API; every change is audited by the caller.

import { SigilError, UsageError } from "../../../platform/errors.ts";
import type { Store } from "../../../platform/store/types.ts";
import { hashPassword, checkPasswordPolicy, verifyPassword, verifyDummy, needsRehash } from "./passwords.ts";
import { isRole, ROLES, type Role } from "./permissions.ts";

export interface UserRecord {
  [key: string]: string | boolean | null;
  id: string; // = name
  name: string;
  role: Role;
  password_hash: string;
  disabled: boolean;
  created: string;
  created_by: string;
  updated: string;
  last_sign_in: string | null;
}

/** What the API and the CLI show: never the hash. */
export interface UserView {
  name: string;
  role: Role;
  disabled: boolean;
  created: string;
  created_by: string;
  last_sign_in: string | null;
}

export const USER_NAME_RE = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

export function normalizeUserName(name: string): string {
  return name.trim().toLowerCase();
}

export function checkUserName(name: string): string {
  const n = normalizeUserName(name);
  if (!USER_NAME_RE.test(n)) {
    throw new UsageError("user_bad_name", `user name ${JSON.stringify(name.slice(0, 80))} must be 1-64 of a-z 0-9 . _ @ - and start with a letter or digit`);
  }
  return n;
}

export function viewOf(u: UserRecord): UserView {
  return { name: u.name, role: u.role, disabled: u.disabled, created: u.created, created_by: u.created_by, last_sign_in: u.last_sign_in };
}

export class UserStore {
  constructor(private readonly store: Store, private readonly now = () => new Date()) {}

  async get(name: string): Promise<UserRecord | null> {
    const n = normalizeUserName(name);
    if (!USER_NAME_RE.test(n)) return null;
    const doc = await this.store.get("users", n);
    return doc && isRole(doc["role"]) ? (doc as unknown as UserRecord) : null;
  }

  async add(opts: { name: string; role: string; password: string; createdBy: string }): Promise<UserView> {
    const name = checkUserName(opts.name);
    if (!isRole(opts.role)) throw new UsageError("user_bad_role", `role ${JSON.stringify(opts.role)} is not one of ${ROLES.join(", ")}`);
    checkPasswordPolicy(opts.password, name);
    if (await this.store.get("users", name)) {
      throw new UsageError("user_exists", `user ${name} exists`, { hint: "pick another name, or re-enable the user with `sigil users enable`" });
    }
    const at = this.now().toISOString();
    const rec: UserRecord = {
      id: name,
      name,
      role: opts.role,
      password_hash: await hashPassword(opts.password),
      disabled: false,
      created: at,
      created_by: opts.createdBy,
      updated: at,
      last_sign_in: null,
    };
    await this.store.put("users", [rec]);
    await this.store.refresh("users");
    return viewOf(rec);
  }

  async list(): Promise<UserView[]> {
    const out: UserView[] = [];
    let after: string | undefined;
    for (;;) {
      const r = await this.store.search("users", { size: 1000, after, sort: [{ field: "id", order: "asc" }], timeField: "created" });
      for (const d of r.hits) if (isRole(d["role"])) out.push(viewOf(d as unknown as UserRecord));
      if (!r.next || r.hits.length === 0) break;
      after = r.next;
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  private async change(name: string, fn: (u: UserRecord) => UserRecord): Promise<UserView> {
    const n = normalizeUserName(name);
    const doc = await this.store.update("users", n, (cur) => (cur && isRole(cur["role"]) ? fn(cur as unknown as UserRecord) : null));
    if (!doc || !isRole(doc["role"])) throw new SigilError("user_not_found", `no user named ${n}`, { exitCode: 2, hint: "list users with `sigil users list`" });
    await this.store.refresh("users");
    return viewOf(doc as unknown as UserRecord);
  }

  setDisabled(name: string, disabled: boolean): Promise<UserView> {
    return this.change(name, (u) => ({ ...u, disabled, updated: this.now().toISOString() }));
  }

  setRole(name: string, role: string): Promise<UserView> {
    if (!isRole(role)) throw new UsageError("user_bad_role", `role ${JSON.stringify(role)} is not one of ${ROLES.join(", ")}`);
    return this.change(name, (u) => ({ ...u, role, updated: this.now().toISOString() }));
  }

  async setPassword(name: string, password: string): Promise<UserView> {
    checkPasswordPolicy(password, normalizeUserName(name));
    const hash = await hashPassword(password);
    return this.change(name, (u) => ({ ...u, password_hash: hash, updated: this.now().toISOString() }));
  }

  /**
   * The user when the name and password are right and the user is enabled; null otherwise, after the
   * same amount of work, so timing does not reveal which names exist.
   */
  async authenticate(name: string, password: string): Promise<UserRecord | null> {
    const u = await this.get(name);
    if (!u || u.disabled) return verifyDummy(password).then(() => null);
    if (!(await verifyPassword(u.password_hash, password))) return null;
    const at = this.now().toISOString();
    const rehash = needsRehash(u.password_hash) ? await hashPassword(password) : null;
    await this.store
      .update("users", u.id, (cur) => (cur ? { ...cur, last_sign_in: at, ...(rehash ? { password_hash: rehash } : {}) } : null))
      .catch(() => undefined);
    return { ...u, last_sign_in: at };
  }
}
