// Options shared by `sigil services up|down|status`: the services folder, ports, and which service.
import { UsageError } from "../../platform/errors.ts";
import { resolveSettings, SERVICE_NAMES, type ServiceName, type ServicesSettings } from "../../deploy/services/index.ts";
import type { CommandContext, OptionSpec, ParsedArgs } from "../command.ts";

export const servicesOptions: Record<string, OptionSpec> = {
  only: { type: "string", multiple: true, valueName: "<kafka|elasticsearch>", description: "act on this service only (repeatable)" },
  dir: { type: "string", valueName: "<dir>", description: "services folder (default: $SIGIL_SERVICES_DIR, else .sigil/services in the project)" },
  "kafka-port": { type: "string", valueName: "<port>", description: "Kafka broker port (default: $SIGIL_SERVICES_KAFKA_PORT, else 19092)" },
  "controller-port": { type: "string", valueName: "<port>", description: "Kafka controller port (default: $SIGIL_SERVICES_CONTROLLER_PORT, else 19093)" },
  "kafka-tls-port": { type: "string", valueName: "<port>", description: "Kafka TLS+SASL listener port (default: $SIGIL_SERVICES_KAFKA_TLS_PORT, else 19094)" },
  "es-port": { type: "string", valueName: "<port>", description: "Elasticsearch HTTP port (default: $SIGIL_SERVICES_ES_PORT, else 19200)" },
  "es-transport-port": { type: "string", valueName: "<port>", description: "Elasticsearch transport port (default: $SIGIL_SERVICES_ES_TRANSPORT_PORT, else 19300)" },
  json: { type: "boolean", description: "print one JSON object with every service's state on stdout" },
};

export const SERVICES_ENV_HELP = `Environment: SIGIL_SERVICES_DIR, SIGIL_SERVICES_KAFKA_PORT, SIGIL_SERVICES_CONTROLLER_PORT, SIGIL_SERVICES_KAFKA_TLS_PORT,
SIGIL_SERVICES_ES_PORT, SIGIL_SERVICES_ES_TRANSPORT_PORT, SIGIL_SERVICES_KAFKA_HEAP and SIGIL_SERVICES_ES_HEAP
(e.g. 512m), SIGIL_SERVICES_ES_USER (the unprivileged user Elasticsearch runs as when started by root;
default sigil-es), SIGIL_SERVICES_ES_NICE (the scheduling priority Elasticsearch and its session group run at, 0-19,
default 10: the pipeline's roles get the CPU first when they share the machine; 0 for normal priority), SIGIL_SERVICES_READY_TIMEOUT (seconds,
default 240). Ports given to \`up\` are
remembered, so \`status\` and \`down\` find the services where they run without repeating them.`;

export function settingsFrom(args: ParsedArgs, ctx: CommandContext, intent: "start" | "inspect"): { settings: ServicesSettings; only: ServiceName[] } {
  const str = (k: string) => (typeof args.values[k] === "string" ? (args.values[k] as string) : undefined);
  const only = ((args.values.only as string[] | undefined) ?? []).map((o) => {
    if (!(SERVICE_NAMES as readonly string[]).includes(o)) {
      throw new UsageError("services_unknown", `--only ${o}: unknown service`, { hint: `choose from ${SERVICE_NAMES.join(", ")}` });
    }
    return o as ServiceName;
  });
  const settings = resolveSettings({
    env: ctx.env,
    cwd: ctx.cwd,
    intent,
    dir: str("dir"),
    ports: { kafka: str("kafka-port"), controller: str("controller-port"), kafkaTls: str("kafka-tls-port"), elasticsearch: str("es-port"), transport: str("es-transport-port") },
  });
  return { settings, only };
}
