// `sigil tokens create|list|revoke`: agent tokens for the ingest receivers, stored hashed in the store.
import { loadConfig } from "../../platform/config/load.ts";
import { TokenStore, type TokenRecord } from "../../platform/security/tokens.ts";
import { AuditLog } from "../../platform/security/audit.ts";
import { EXIT, configOption, type Command, type CommandContext, type ParsedArgs } from "../command.ts";
import { openStore } from "../roles.ts";
import os from "node:os";

async function withTokens<T>(args: ParsedArgs, ctx: CommandContext, fn: (tokens: TokenStore, audit: AuditLog) => Promise<T>): Promise<T> {
  const config = loadConfig({ file: (args.values.config as string | undefined) ?? ctx.env.SIGIL_CONFIG ?? null, env: ctx.env });
  const store = await openStore(config, ctx.cwd);
  try {
    await store.init();
    return await fn(new TokenStore(store), new AuditLog(store));
  } finally {
    await store.close();
  }
}

function actor(ctx: CommandContext): string {
  return `cli:${ctx.env.USER ?? os.userInfo().username}`;
}

export const create: Command = {
  name: "tokens create",
  summary: "create an agent token (printed once; stored only as a hash)",
  usage: "tokens create --name <name> [--scope <scope>...] [--rate-limit <events/s>] [--json]",
  options: {
    config: configOption,
    name: { type: "string", valueName: "<name>", description: "a name for the token, e.g. the host or service it ships from" },
    scope: { type: "string", multiple: true, valueName: "<scope>", description: "what the token may do (default: ingest)" },
    "rate-limit": { type: "string", valueName: "<events/s>", description: "events per second this token may send (default: security.tokens.rate_limit_eps)" },
    json: { type: "boolean", description: "print {id, name, token} as JSON" },
  },
  async run(args, ctx) {
    const name = args.values.name as string | undefined;
    if (!name) {
      ctx.stderr.write("sigil tokens create: --name is required\nusage: sigil " + create.usage + "\n");
      return EXIT.usage;
    }
    const rl = args.values["rate-limit"] as string | undefined;
    if (rl !== undefined && !/^\d+$/.test(rl)) {
      ctx.stderr.write(`sigil tokens create: --rate-limit must be a whole number of events per second, got ${JSON.stringify(rl)}\n`);
      return EXIT.usage;
    }
    const { token, record } = await withTokens(args, ctx, async (tokens, audit) => {
      const r = await tokens.create({ name, scopes: args.values.scope as string[] | undefined, rateLimitEps: rl === undefined ? undefined : Number(rl), createdBy: actor(ctx) });
      await audit.record({ actor: actor(ctx), action: "token.create", target: r.record.id, details: { name: r.record.name, scopes: r.record.scopes } });
      return r;
    });
    if (args.values.json) ctx.stdout.write(JSON.stringify({ id: record.id, name: record.name, scopes: record.scopes, token }) + "\n");
    else ctx.stdout.write(`created token ${record.id} (${record.name}, scopes ${record.scopes.join(",")}).\nThis is the only time it is shown; store it in the agent's token file:\n${token}\n`);
    return EXIT.ok;
  },
};

export const list: Command = {
  name: "tokens list",
  summary: "list agent tokens (never their secrets)",
  usage: "tokens list [--all] [--json]",
  options: {
    config: configOption,
    all: { type: "boolean", description: "include revoked tokens" },
    json: { type: "boolean", description: "one JSON object per line" },
  },
  async run(args, ctx) {
    const rows = await withTokens(args, ctx, (tokens) => tokens.list());
    const shown = rows.filter((t) => args.values.all || !t.revoked).sort((a, b) => a.created.localeCompare(b.created));
    const strip = ({ hash: _hash, ...rest }: TokenRecord) => rest;
    if (args.values.json) for (const t of shown) ctx.stdout.write(JSON.stringify(strip(t)) + "\n");
    else {
      ctx.stdout.write(`${"ID".padEnd(14)}${"NAME".padEnd(24)}${"SCOPES".padEnd(12)}${"CREATED".padEnd(26)}STATUS\n`);
      for (const t of shown) ctx.stdout.write(`${t.id.padEnd(14)}${t.name.padEnd(24)}${t.scopes.join(",").padEnd(12)}${t.created.padEnd(26)}${t.revoked ? `revoked ${t.revoked_at}` : "active"}\n`);
    }
    return EXIT.ok;
  },
};

export const revoke: Command = {
  name: "tokens revoke",
  summary: "revoke an agent token by id or name (effective within security.tokens.refresh_ms)",
  usage: "tokens revoke <id|name>",
  positionals: true,
  options: { config: configOption },
  async run(args, ctx) {
    if (args.positionals.length !== 1) {
      ctx.stderr.write("sigil tokens revoke: give exactly one token id or name\n");
      return EXIT.usage;
    }
    const done = await withTokens(args, ctx, async (tokens, audit) => {
      const r = await tokens.revoke(args.positionals[0], actor(ctx));
      for (const t of r) await audit.record({ actor: actor(ctx), action: "token.revoke", target: t.id, details: { name: t.name } });
      return r;
    });
    for (const t of done) ctx.stdout.write(`revoked token ${t.id} (${t.name})\n`);
    return EXIT.ok;
  },
};
