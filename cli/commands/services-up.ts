// `sigil services up`: starts (or reuses) the local Kafka broker and Elasticsearch node for development and tests.
import { formatReport, servicesUp } from "../../deploy/services/index.ts";
import { EXIT, type Command } from "../command.ts";
import { SERVICES_ENV_HELP, servicesOptions, settingsFrom } from "./services-options.ts";

export const command: Command = {
  name: "services up",
  summary: "start a local Kafka and Elasticsearch for development and tests (idempotent)",
  usage: "services up [--only <kafka|elasticsearch>] [--kafka-port <port>] [--es-port <port>] [--json]",
  description: `Fetches Kafka (KRaft, one node) and Elasticsearch from Maven Central the first time (needs Java 17
and Maven), starts them on 127.0.0.1, waits until they really answer, and prints their addresses and
versions. Running services are reused, so \`up\` twice is fine. Data, logs and pids stay in the services
folder (git-ignored).

${SERVICES_ENV_HELP}`,
  options: servicesOptions,
  async run(args, ctx) {
    const { settings, only } = settingsFrom(args, ctx, "start");
    const reports = await servicesUp(settings, { only, progress: (line) => ctx.stderr.write(`services: ${line}\n`) });
    if (args.values.json) {
      ctx.stdout.write(JSON.stringify({ services: reports }) + "\n");
      return EXIT.ok;
    }
    for (const r of reports) ctx.stdout.write(formatReport(r) + "\n");
    const kafka = reports.find((r) => r.name === "kafka");
    const es = reports.find((r) => r.name === "elasticsearch");
    const env = [kafka ? `SIGIL_BUS__KAFKA__BROKERS=${kafka.address}` : "", es ? `SIGIL_STORE__TYPE=elasticsearch SIGIL_STORE__ELASTICSEARCH__NODE=${es.address}` : ""].filter(Boolean);
    ctx.stdout.write(`\nto use them: SIGIL_BUS__TYPE=kafka ${env.join(" ")}\n`);
    if (kafka?.secure) {
      ctx.stdout.write(`Kafka with TLS and SASL PLAIN: ${kafka.secure.address}, CA ${kafka.secure.caFile}, user ${kafka.secure.username}, password in ${kafka.secure.passwordFile}\n`);
    }
    return EXIT.ok;
  },
};
