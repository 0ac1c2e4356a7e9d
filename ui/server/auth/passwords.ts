// Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane) and the password policy.

import argon2 from "argon2";
import { UsageError } from "../../../platform/errors.ts";

export const MIN_PASSWORD_CHARS = 12;
export const MAX_PASSWORD_CHARS = 1024;

const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Throws `password_weak` when the password breaks the policy. */
export function checkPasswordPolicy(password: string, userName?: string): void {
  if (password.length < MIN_PASSWORD_CHARS) {
    throw new UsageError("password_weak", `the password must have at least ${MIN_PASSWORD_CHARS} characters`, { hint: "use a passphrase of several words" });
  }
  if (password.length > MAX_PASSWORD_CHARS) throw new UsageError("password_weak", `the password must have at most ${MAX_PASSWORD_CHARS} characters`);
  if (userName && password.toLowerCase().includes(userName.toLowerCase())) {
    throw new UsageError("password_weak", "the password must not contain the user name");
  }
  if (new Set(password).size < 5) throw new UsageError("password_weak", "the password repeats too few distinct characters");
}

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_CHARS) return false;
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | null = null;

/**
 * Spends the same time as a real verification, for unknown or disabled users, so response times do not
 * reveal which user names exist.
 */
export async function verifyDummy(password: string): Promise<false> {
  dummy ??= hashPassword("sigil-dummy-password-for-timing");
  await verifyPassword(await dummy, password);
  return false;
}

/** True when a stored hash was made with weaker parameters than today's and should be re-hashed. */
export function needsRehash(hash: string): boolean {
  return argon2.needsRehash(hash, OPTIONS);
}
