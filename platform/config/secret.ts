// Reads a secret referenced by the config (a file or an environment variable), never from the config itself.
import fs from "node:fs";
import { UsageError } from "../errors.ts";
import type { SecretRef } from "./sections/common.ts";

/** The secret's value, or null when the reference names neither a file nor a variable. */
export function readSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (ref.file) {
    try {
      return fs.readFileSync(ref.file, "utf8").trim();
    } catch (err) {
      throw new UsageError("secret_unreadable", `cannot read ${what} from ${ref.file}: ${(err as Error).message}`, {
        location: { file: ref.file },
        hint: "check the file exists and is readable by this user",
      });
    }
  }
  if (ref.env) {
    const v = env[ref.env];
    if (v === undefined) throw new UsageError("secret_missing", `${what}: environment variable ${ref.env} is not set`, { hint: `export ${ref.env}=...` });
    return v;
  }
  return null;
}
