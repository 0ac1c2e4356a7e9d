// `sigil services down`: stops the local Kafka and Elasticsearch this project folder started.
import { formatReport, servicesDown } from "../../deploy/services/index.ts";
import { EXIT, type Command } from "../command.ts";
import { SERVICES_ENV_HELP, servicesOptions, settingsFrom } from "./services-options.ts";

export const command: Command = {
  name: "services down",
  summary: "stop the local Kafka and Elasticsearch started by `services up`",
  usage: "services down [--only <kafka|elasticsearch>] [--purge] [--json]",
  description: `Stops the services cleanly (SIGTERM, then SIGKILL after 60 s). Only processes started from this
services folder are stopped; anything else on the ports is left alone. --purge also deletes their data
(the downloaded engines are kept).

${SERVICES_ENV_HELP}`,
  options: {
    ...servicesOptions,
    purge: { type: "boolean", description: "also delete the services' data and logs (keeps the downloads)" },
  },
  async run(args, ctx) {
    const { settings, only } = settingsFrom(args, ctx, "inspect");
    const reports = await servicesDown(settings, { only, purge: args.values.purge === true, progress: (line) => ctx.stderr.write(`services: ${line}\n`) });
    if (args.values.json) ctx.stdout.write(JSON.stringify({ services: reports }) + "\n");
    else for (const r of reports) ctx.stdout.write(formatReport(r) + "\n");
    return EXIT.ok;
  },
};
