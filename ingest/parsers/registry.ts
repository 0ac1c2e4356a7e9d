// Every parser Sigil has, by name. The name is the folder under ingest/parsers/, the --format value,
// the config `format`, the metric label and the heading in ingest/README.md. Adding a format: create
// its folder (index.ts exporting `parser`, <name>.test.ts, fixtures/) and add one line here.

import type { Parser } from "./types.ts";
import { parser as apacheAccess } from "./apache-access/index.ts";
import { parser as appJson } from "./app-json/index.ts";
import { parser as awsCloudtrail } from "./aws-cloudtrail/index.ts";
import { parser as azureLogAnalytics } from "./azure-log-analytics/index.ts";
import { parser as ecs } from "./ecs/index.ts";
import { parser as k8sAudit } from "./k8s-audit/index.ts";
import { parser as otlpJson } from "./otlp-json/index.ts";
import { parser as suricataEve } from "./suricata-eve/index.ts";
import { parser as apacheError } from "./apache-error/index.ts";
import { parser as linuxAuditd } from "./linux-auditd/index.ts";
import { parser as nginxAccess } from "./nginx-access/index.ts";
import { parser as nginxError } from "./nginx-error/index.ts";
import { parser as sshdAuth } from "./sshd-auth/index.ts";
import { parser as syslogRfc3164 } from "./syslog-rfc3164/index.ts";
import { parser as syslogRfc5424 } from "./syslog-rfc5424/index.ts";
import { parser as windowsEventsJson } from "./windows-events-json/index.ts";
import { parser as zeek } from "./zeek/index.ts";

/** Registry order breaks detection ties: more specific formats first. */
export const PARSERS: Readonly<Record<string, Parser>> = Object.freeze({
  "sshd-auth": sshdAuth,
  "syslog-rfc5424": syslogRfc5424,
  "syslog-rfc3164": syslogRfc3164,
  "linux-auditd": linuxAuditd,
  zeek,
  "apache-access": apacheAccess,
  "nginx-access": nginxAccess,
  "apache-error": apacheError,
  "nginx-error": nginxError,
  "aws-cloudtrail": awsCloudtrail,
  "k8s-audit": k8sAudit,
  "suricata-eve": suricataEve,
  "otlp-json": otlpJson,
  "azure-log-analytics": azureLogAnalytics,
  "windows-events-json": windowsEventsJson,
  ecs,
  "app-json": appJson,
});

/** Formats whose records are JSON objects: in auto mode each JSON line is routed to the one that recognizes it. */
export const JSON_FORMATS: ReadonlySet<string> = new Set<string>(["ecs", "azure-log-analytics", "windows-events-json", "zeek", "suricata-eve", "aws-cloudtrail", "k8s-audit", "otlp-json", "app-json"]);

export const PARSER_NAMES: readonly string[] = Object.keys(PARSERS);

/** The parser of that name, or undefined. */
export function getParser(name: string): Parser | undefined {
  return Object.prototype.hasOwnProperty.call(PARSERS, name) ? PARSERS[name] : undefined;
}
