// `sigil certs dev`: a local CA plus server and client certificates for development and tests.
import path from "node:path";
import fs from "node:fs";
import { createDevCerts } from "../../platform/security/certs.ts";
import { EXIT, type Command } from "../command.ts";

export const command: Command = {
  name: "certs dev",
  summary: "create a development CA, a server certificate and a client certificate (mTLS)",
  usage: "certs dev [--out <dir>] [--host <name>...] [--client-name <cn>] [--force]",
  description: `Writes ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem and client-key.pem (keys mode 0600).
The server certificate covers localhost, 127.0.0.1, ::1 and every --host. For development and tests only.`,
  options: {
    out: { type: "string", valueName: "<dir>", default: ".sigil/certs", description: "directory to write to" },
    host: { type: "string", multiple: true, valueName: "<name|ip>", description: "extra server name or address" },
    "client-name": { type: "string", valueName: "<cn>", default: "sigil-agent", description: "common name of the client certificate" },
    force: { type: "boolean", description: "overwrite existing certificates" },
  },
  async run(args, ctx) {
    const out = path.resolve(ctx.cwd, String(args.values.out));
    if (fs.existsSync(path.join(out, "ca.pem")) && !args.values.force) {
      ctx.stderr.write(`sigil certs dev: ${out} already holds certificates; pass --force to replace them\n`);
      return EXIT.usage;
    }
    const files = await createDevCerts(out, { hosts: (args.values.host as string[] | undefined) ?? [], clientName: String(args.values["client-name"]) });
    ctx.stdout.write(
      [
        `wrote development certificates to ${files.dir}:`,
        `  CA          ${files.caCert}`,
        `  server      ${files.serverCert} (key ${files.serverKey})`,
        `  client      ${files.clientCert} (key ${files.clientKey})`,
        "",
        "Use them in sigil.yml, for example:",
        "  ingest:",
        "    http:",
        "      tls: {enabled: true, cert_file: " + files.serverCert + ", key_file: " + files.serverKey + "}",
        "",
      ].join("\n"),
    );
    return EXIT.ok;
  },
};
