// Realistic console fixtures: one intrusion across a web server and a database host (SQL injection →
// SSH password guessing → sudo root shell → planted SSH key → large upload), built into a chain by the
// real chain builder and alert lifecycle, plus benign background events. Attacker-controlled fields
// (user agent, URL, command line, file name, messages) carry script payloads: the console must show
// them as text and run none of them.

import { ChainBuilder } from "../../../correlate/chains/builder.ts";
import { EntityModel } from "../../../correlate/chains/model.ts";
import { alertForChain } from "../../../correlate/chains/alerts.ts";
import { derivedId, eventId } from "../../../schema/event-id.ts";
import type { EcsEvent, JsonObject } from "../../../schema/ecs.ts";
import { entityFieldsOf, LEVEL_RISK, LEVEL_SEVERITY, type Alert, type Chain, type Level, type Signal } from "../../../schema/signal.ts";

/** Payloads that would run if the console ever rendered log content as HTML. Each sets a marker. */
export const XSS = {
  userAgent: `Mozilla/5.0 <script>window.__pwned_ua=1</script>`,
  url: `javascript:window.__pwned_url=1//`,
  commandLine: `bash -c "<img src=x onerror=window.__pwned_cmd=1>"`,
  fileName: `/root/.ssh/authorized_keys<svg onload=window.__pwned_file=1>`,
  message: `Accepted password for postgres <iframe srcdoc="<script>parent.__pwned_msg=1</script>"></iframe>`,
  host: `db-1"><script>window.__pwned_host=1</script>`,
};
export const XSS_MARKERS = ["__pwned_ua", "__pwned_url", "__pwned_cmd", "__pwned_file", "__pwned_msg", "__pwned_host"];

export const ATTACKER_IP = "203.0.113.50";

interface StepSpec {
  offsetS: number;
  dataset: string;
  rule: { id: string; title: string; level: Level; tags: string[] };
  event: JsonObject;
}

function ev(t: Date, dataset: string, body: JsonObject, raw: string): EcsEvent {
  return {
    "@timestamp": t.toISOString(),
    event: { id: eventId(dataset, raw), kind: "event", category: ["network"], type: ["info"], dataset, original: raw },
    ...body,
  } as EcsEvent;
}

function signalFor(e: EcsEvent, rule: StepSpec["rule"]): Signal {
  const tactic = rule.tags.filter((t) => !/^attack\.t\d/.test(t)).map((t) => t.replace(/^attack\./, "").replace(/_/g, "-"));
  const technique = rule.tags.filter((t) => /^attack\.t\d/.test(t)).map((t) => t.replace(/^attack\./, "").toUpperCase());
  return {
    ...entityFieldsOf(e),
    "@timestamp": e["@timestamp"],
    event: { id: derivedId("signal", rule.id, e.event.id), kind: "signal", dataset: "sigil.signal", severity: LEVEL_SEVERITY[rule.level], risk_score: LEVEL_RISK[rule.level], created: e["@timestamp"] },
    rule: { id: rule.id, title: rule.title, level: rule.level, tags: rule.tags, author: "Sigil tests" },
    threat: { framework: "MITRE ATT&CK", tactic: { name: tactic }, technique: { id: technique } },
    signal: { type: "match", key: String(e.host?.name ?? "unknown"), events: [{ id: e.event.id, "@timestamp": e["@timestamp"], dataset: e.event.dataset }] },
  } as Signal;
}

function steps(): StepSpec[] {
  return [
    {
      offsetS: 0,
      dataset: "nginx.access",
      rule: { id: "9f1c3a2e-web-sqli", title: "SQL injection in storefront query string", level: "high", tags: ["attack.initial_access", "attack.t1190"] },
      event: {
        host: { name: "web-1" },
        source: { ip: ATTACKER_IP },
        url: { original: XSS.url, path: "/products", query: "id=1' OR '1'='1" },
        user_agent: { original: XSS.userAgent },
        http: { request: { method: "GET" }, response: { status_code: 500 } },
        message: `GET /products?id=1' OR '1'='1 HTTP/1.1 500`,
      },
    },
    {
      offsetS: 130,
      dataset: "system.auth",
      rule: { id: "4b2d7c10-ssh-guess", title: "SSH login after repeated password failures", level: "high", tags: ["attack.credential_access", "attack.t1110.001"] },
      event: { host: { name: "db-1" }, source: { ip: ATTACKER_IP }, user: { name: "postgres" }, process: { name: "sshd", pid: 2211 }, message: XSS.message },
    },
    {
      offsetS: 240,
      dataset: "system.auth",
      rule: { id: "77e0aa31-sudo-shell", title: "Sudo to a root shell", level: "high", tags: ["attack.privilege_escalation", "attack.t1548.003"] },
      event: {
        host: { name: "db-1" },
        user: { name: "postgres", target: { name: "root" } },
        process: { name: "bash", pid: 2290, command_line: XSS.commandLine, parent: { name: "sudo", pid: 2289 } },
        message: "postgres : TTY=pts/0 ; PWD=/var/lib/postgresql ; USER=root ; COMMAND=/bin/bash",
      },
    },
    {
      offsetS: 390,
      dataset: "auditd.log",
      rule: { id: "c81f5e02-ssh-key", title: "SSH authorized_keys written by root shell", level: "high", tags: ["attack.persistence", "attack.t1098.004"] },
      event: { host: { name: "db-1" }, user: { name: "root" }, process: { name: "bash", pid: 2290 }, file: { path: XSS.fileName, name: "authorized_keys" }, message: `open ${XSS.fileName} O_WRONLY` },
    },
    {
      offsetS: 600,
      dataset: "zeek.conn",
      rule: { id: "e5a9d4b7-big-upload", title: "Large upload to a rare external address", level: "critical", tags: ["attack.exfiltration", "attack.t1048"] },
      event: { host: { name: "db-1" }, source: { ip: "10.0.2.15" }, destination: { ip: ATTACKER_IP, port: 443 }, network: { bytes: 1_800_000_000 }, process: { name: "curl", pid: 2402 }, message: "conn 10.0.2.15:51234 -> 203.0.113.50:443 1.8 GB out" },
    },
  ];
}

export interface IntrusionStage {
  events: EcsEvent[];
  signals: Signal[];
  chain: Chain;
  /** The alert once the chain crossed the alert threshold (null before). */
  alert: Alert | null;
}

/**
 * The intrusion as the pipeline would publish it, step by step: after each step the new event and
 * signal, the chain as the builder sees it, and its alert (through the real alert lifecycle).
 */
export function intrusion(start: Date): { stages: IntrusionStage[]; chainId: string } {
  const model = new EntityModel();
  const builder = new ChainBuilder(model, { alertThreshold: 50 });
  const stages: IntrusionStage[] = [];
  let alert: Alert | null = null;
  let chainId = "";
  for (const s of steps()) {
    const t = new Date(start.getTime() + s.offsetS * 1000);
    const e = ev(t, s.dataset, s.event, `${s.dataset} ${t.toISOString()} ${JSON.stringify(s.event)}`);
    model.observe(e);
    const sig = signalFor(e, s.rule);
    const r = builder.add(sig);
    chainId = r.chainId;
    const chain = builder.chain(r.chainId)!;
    if (r.promoted) {
      const upd = alertForChain(chain, alert, t.toISOString());
      if (upd) alert = upd.alert;
    }
    stages.push({ events: [e], signals: [sig], chain, alert });
  }
  return { stages, chainId };
}

/** Benign background: web requests and SSH logins spread over the hour before `end`. */
export function background(end: Date, n = 600): EcsEvent[] {
  const out: EcsEvent[] = [];
  for (let i = 0; i < n; i++) {
    const t = new Date(end.getTime() - (n - i) * 6_000);
    const web = i % 3 !== 0;
    const body: JsonObject = web
      ? { host: { name: `web-${1 + (i % 2)}` }, source: { ip: `198.51.100.${i % 200}` }, url: { path: `/products/${i % 40}` }, http: { response: { status_code: 200 } }, user_agent: { original: "Mozilla/5.0 (X11; Linux x86_64)" }, message: `GET /products/${i % 40} HTTP/1.1 200` }
      : { host: { name: "db-1" }, user: { name: "deploy" }, source: { ip: "10.0.0.4" }, message: `Accepted publickey for deploy from 10.0.0.4 port ${40000 + i}` };
    out.push(ev(t, web ? "nginx.access" : "system.auth", body, `bg ${i} ${t.toISOString()}`));
  }
  // one record whose host name is itself a payload (hostile syslog senders choose their host names)
  out.push(ev(new Date(end.getTime() - 30_000), "syslog", { host: { name: XSS.host }, message: "hello from a hostile host" }, "bg hostile host"));
  return out;
}

/** Older alerts already in the queue (different hosts and states), so filters have something to do. */
export function otherAlerts(now: Date, n: number): Alert[] {
  const levels: Level[] = ["low", "medium", "high", "critical"];
  const statuses = ["new", "acknowledged", "in_progress", "closed"] as const;
  const tactics = ["discovery", "execution", "lateral-movement", "credential-access", "persistence"];
  const out: Alert[] = [];
  for (let i = 0; i < n; i++) {
    const t = new Date(now.getTime() - (i + 1) * 60_000).toISOString();
    const status = statuses[i % 4];
    out.push({
      id: `bg-alert-${i}`,
      "@timestamp": t,
      updated: t,
      version: 1,
      title: `${tactics[i % 5].replace("-", " ")} activity on host-${i % 50}`,
      level: levels[i % 4],
      risk_score: 20 + (i % 80),
      status,
      close_reason: status === "closed" ? "benign_positive" : null,
      assignee: i % 7 === 0 ? "bob" : null,
      notes: [],
      chain_id: `bg-chain-${i}`,
      rule_ids: [`rule-${i % 12}`],
      tactics: [tactics[i % 5]],
      techniques: ["T1059"],
      entities: { users: [`user-${i % 30}`], hosts: [`host-${i % 50}`], ips: [], services: [] },
      first_seen: t,
      last_seen: t,
      signal_count: 1 + (i % 4),
      duplicate_count: 0,
    });
  }
  return out;
}
