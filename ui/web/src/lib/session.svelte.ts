// The signed-in user: name, role, permissions and CSRF token, loaded at start and after sign-in; cleared
// on sign-out or when the server reports the session gone.

import { getJson, postJson, setCsrfToken, ApiError } from "./api.ts";

export interface SessionInfo {
  user: { name: string; role: string };
  permissions: string[];
  csrf: string;
  expires_at: string;
  idle_timeout_ms: number;
}

const HINT = "sigil.signed-in";

class SessionState {
  info = $state<SessionInfo | null>(null);
  loaded = $state(false);
  /** Why the last session ended, shown on the sign-in page. */
  endedReason = $state<string | null>(null);

  can(permission: string): boolean {
    return this.info?.permissions.includes(permission) ?? false;
  }

  get user(): string {
    return this.info?.user.name ?? "";
  }

  set(info: SessionInfo | null): void {
    this.info = info;
    setCsrfToken(info?.csrf ?? null);
    try {
      if (info) localStorage.setItem(HINT, "1");
      else localStorage.removeItem(HINT);
    } catch {
      // storage disabled: no hint, the console just connects after the session check
    }
  }

  /** Whether this browser had a session last time (a hint only: the server decides). */
  likelySignedIn(): boolean {
    try {
      return localStorage.getItem(HINT) === "1";
    } catch {
      return false;
    }
  }

  async load(): Promise<void> {
    try {
      this.set(await getJson<SessionInfo>("/api/auth/session"));
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      this.set(null);
    } finally {
      this.loaded = true;
    }
  }

  async signIn(username: string, password: string): Promise<void> {
    this.set(await postJson<SessionInfo>("/api/auth/login", { username, password }));
    this.endedReason = null;
  }

  async signOut(): Promise<void> {
    try {
      await postJson("/api/auth/logout", {});
    } finally {
      this.set(null);
    }
  }

  ended(reason: string): void {
    if (this.info) this.endedReason = reason;
    this.set(null);
  }
}

export const session = new SessionState();
