// `sigil users add|list|disable|enable`: console users in the store, passwords hashed with argon2id.
// A password is read from a prompt without echo (on a terminal) or from the first line of stdin, never
// from a flag (flags end up in shell history and process lists). Every change is audited.

import os from "node:os";
import type { Readable, Writable } from "node:stream";
import { loadConfig } from "../../platform/config/load.ts";
import { AuditLog } from "../../platform/security/audit.ts";
import { UsageError } from "../../platform/errors.ts";
import { isRole, ROLES } from "../../ui/server/auth/permissions.ts";
import { UserStore, type UserView } from "../../ui/server/auth/users.ts";
import { SessionStore } from "../../ui/server/auth/sessions.ts";
import type { Store } from "../../platform/store/types.ts";
import { EXIT, configOption, type Command, type CommandContext, type ParsedArgs } from "../command.ts";
import { openStore } from "../roles.ts";

async function withUsers<T>(args: ParsedArgs, ctx: CommandContext, fn: (users: UserStore, audit: AuditLog, store: Store) => Promise<T>): Promise<T> {
  const config = loadConfig({ file: (args.values.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
  const store = await openStore(config, ctx.cwd);
  try {
    await store.init();
    return await fn(new UserStore(store), new AuditLog(store), store);
  } finally {
    await store.close();
  }
}

function actor(ctx: CommandContext): string {
  return `cli:${ctx.env.USER ?? os.userInfo().username}`;
}

type TtyIn = Readable & { isTTY?: boolean; setRawMode?: (on: boolean) => void };

/** Reads one line from a terminal without echoing it. */
function promptHidden(input: TtyIn, output: Writable, question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(question);
    let value = "";
    input.setRawMode?.(true);
    input.resume();
    const done = (err?: Error) => {
      input.setRawMode?.(false);
      input.pause();
      input.off("data", onData);
      output.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new UsageError("aborted", "aborted"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else if (ch >= " ") value += ch;
        if (value.length > 1024) return done(new UsageError("password_weak", "the password must have at most 1024 characters"));
      }
    };
    input.on("data", onData);
  });
}

/** The first line of a non-terminal stdin (e.g. `printf '%s\n' "$PW" | sigil users add ...`). */
async function firstLine(input: Readable): Promise<string> {
  let text = "";
  for await (const chunk of input) {
    text += chunk.toString();
    const i = text.indexOf("\n");
    if (i >= 0) return text.slice(0, i).replace(/\r$/, "");
    if (text.length > 4096) break;
  }
  return text.replace(/\r?\n$/, "");
}

export async function readPassword(ctx: CommandContext): Promise<string> {
  const input = ctx.stdin as TtyIn;
  if (input.isTTY) {
    const a = await promptHidden(input, ctx.stderr, "Password: ");
    const b = await promptHidden(input, ctx.stderr, "Repeat the password: ");
    if (a !== b) throw new UsageError("password_mismatch", "the two passwords differ");
    return a;
  }
  const pw = await firstLine(input);
  if (!pw) throw new UsageError("password_missing", "no password on stdin", { hint: "pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | sigil users add <name> --role analyst" });
  return pw;
}

function nameArg(args: ParsedArgs, ctx: CommandContext, usage: string): string | null {
  if (args.positionals.length !== 1) {
    ctx.stderr.write(`sigil ${usage.split(" ").slice(0, 2).join(" ")}: give exactly one user name\nusage: sigil ${usage}\n`);
    return null;
  }
  return args.positionals[0];
}

function line(u: UserView): string {
  return `${u.name.padEnd(24)} ${u.role.padEnd(9)} ${(u.disabled ? "disabled" : "active").padEnd(9)} last sign-in ${u.last_sign_in ?? "never"}`;
}

export const add: Command = {
  name: "users add",
  summary: "add a console user (password from a prompt or stdin)",
  usage: "users add <name> --role <viewer|analyst|engineer|admin>",
  description: `Roles: viewer reads alerts, chains, events and rules; analyst also triages; engineer also sees pipeline health; admin also manages users and reads the audit log.
The password (at least 12 characters) is asked for twice on a terminal, or read from the first line of stdin.`,
  positionals: true,
  options: {
    config: configOption,
    role: { type: "string", valueName: "<role>", description: `one of ${ROLES.join(", ")}` },
    json: { type: "boolean", description: "print the user as JSON" },
  },
  async run(args, ctx) {
    const name = nameArg(args, ctx, add.usage);
    if (name === null) return EXIT.usage;
    const role = args.values.role as string | undefined;
    if (!role || !isRole(role)) {
      ctx.stderr.write(`sigil users add: --role must be one of ${ROLES.join(", ")}\n`);
      return EXIT.usage;
    }
    const password = await readPassword(ctx);
    const user = await withUsers(args, ctx, async (users, audit) => {
      const u = await users.add({ name, role, password, createdBy: actor(ctx) });
      await audit.record({ actor: actor(ctx), action: "user.create", target: u.name, details: { role: u.role } });
      return u;
    });
    ctx.stdout.write(args.values.json ? JSON.stringify(user) + "\n" : `added ${user.name} (${user.role})\n`);
    return EXIT.ok;
  },
};

export const list: Command = {
  name: "users list",
  summary: "list console users, their roles and state",
  usage: "users list [--json]",
  options: { config: configOption, json: { type: "boolean", description: "one JSON object per line" } },
  async run(args, ctx) {
    const users = await withUsers(args, ctx, (u) => u.list());
    if (args.values.json) for (const u of users) ctx.stdout.write(JSON.stringify(u) + "\n");
    else if (users.length === 0) ctx.stderr.write("no users yet; add one with `sigil users add <name> --role admin`\n");
    else for (const u of users) ctx.stdout.write(line(u) + "\n");
    return EXIT.ok;
  },
};

function toggle(disabled: boolean): Command {
  const verb = disabled ? "disable" : "enable";
  return {
    name: `users ${verb}`,
    summary: disabled ? "disable a console user and end their sessions" : "re-enable a disabled console user",
    usage: `users ${verb} <name>`,
    description: disabled ? "The user can no longer sign in; open consoles of the user are signed out within seconds." : undefined,
    positionals: true,
    options: { config: configOption },
    async run(args, ctx) {
      const name = nameArg(args, ctx, `users ${verb} <name>`);
      if (name === null) return EXIT.usage;
      const { user, ended } = await withUsers(args, ctx, async (users, audit, store) => {
        const u = await users.setDisabled(name, disabled);
        await audit.record({ actor: actor(ctx), action: `user.${verb}`, target: u.name });
        // sessions are server-side records: ending them here signs the user out of every console
        const n = disabled ? await new SessionStore(store, users, { ttlMs: 1, idleMs: 1 }).destroyForUser(u.name) : 0;
        return { user: u, ended: n };
      });
      ctx.stdout.write(`${verb}d ${user.name}${ended ? `; ended ${ended} session(s)` : ""}\n`);
      return EXIT.ok;
    },
  };
}

export const disable = toggle(true);
export const enable = toggle(false);
