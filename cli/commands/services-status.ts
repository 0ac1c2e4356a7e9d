// `sigil services status`: reports whether the local Kafka and Elasticsearch answer, with their versions.
import { formatReport, servicesStatus } from "../../deploy/services/index.ts";
import { EXIT, type Command } from "../command.ts";
import { SERVICES_ENV_HELP, servicesOptions, settingsFrom } from "./services-options.ts";

export const command: Command = {
  name: "services status",
  summary: "report whether the local Kafka and Elasticsearch are healthy, with their versions",
  usage: "services status [--only <kafka|elasticsearch>] [--json]",
  description: `Asks each service itself (Kafka: metadata and a group coordinator through the client protocol;
Elasticsearch: cluster health yellow or green). Exit 0 when every service asked about is healthy, 1 otherwise.

${SERVICES_ENV_HELP}`,
  options: servicesOptions,
  async run(args, ctx) {
    const { settings, only } = settingsFrom(args, ctx, "inspect");
    const reports = await servicesStatus(settings, { only });
    const healthy = reports.every((r) => r.healthy);
    if (args.values.json) ctx.stdout.write(JSON.stringify({ healthy, services: reports }) + "\n");
    else {
      for (const r of reports) ctx.stdout.write(formatReport(r) + "\n");
      if (!healthy) ctx.stderr.write("sigil services status: not every service is healthy; start them with `sigil services up`\n");
    }
    return healthy ? EXIT.ok : EXIT.failure;
  },
};
