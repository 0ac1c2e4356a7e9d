// Suricata EVE JSON: alerts (rule, severity, action), flows, DNS (v1 and v2 answer formats), HTTP,
// TLS, file info, SSH, stats and the rest, with endpoints, Community ID and the whole EVE record kept
// under suricata.eve.*.

import type { EcsEvent, EventCategory, EventType, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import type { Parser } from "../types.ts";
import { lineParser } from "../common/line-parser.ts";
import { finish, relate } from "../common/event.ts";
import { asObject, parseJsonObject } from "../common/json.ts";
import { asIp, asNumber, asPort, communityId } from "../common/net.ts";
import { parseIso, toIso, type ZoneOffset } from "../common/time.ts";
import { urlFields } from "../common/web.ts";

const ENDPOINT_KEYS = new Set(["timestamp", "src_ip", "src_port", "dest_ip", "dest_port", "proto"]);

function text(v: JsonValue | undefined): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function isoOf(v: JsonValue | undefined, zone: ZoneOffset): string | undefined {
  return typeof v === "string" ? toIso(parseIso(v, zone)) ?? undefined : undefined;
}

function classify(ev: EcsEvent, category: EventCategory[], type: EventType[]): void {
  ev.event.category = category;
  ev.event.type = type;
}

function dnsFields(ev: EcsEvent, d: JsonObject): void {
  const dns: JsonObject = {};
  const type = text(d.type);
  if (type) dns.type = type;
  const id = asNumber(d.id);
  if (id !== undefined) dns.id = id;
  const rrname = text(d.rrname);
  if (rrname) {
    dns.question = { name: rrname, ...(text(d.rrtype) ? { type: text(d.rrtype) } : {}) };
    relate(ev, "hosts", rrname);
  }
  const rcode = text(d.rcode);
  if (rcode) {
    dns.response_code = rcode;
    ev.event.outcome = rcode === "NOERROR" ? "success" : "failure";
  }
  const answers: JsonObject[] = [];
  if (Array.isArray(d.answers)) {
    for (const a of d.answers) {
      const o = asObject(a);
      if (!o) continue;
      answers.push({ ...(text(o.rrname) ? { name: text(o.rrname) } : {}), ...(text(o.rrtype) ? { type: text(o.rrtype) } : {}), ...(asNumber(o.ttl) !== undefined ? { ttl: asNumber(o.ttl) } : {}), ...(o.rdata !== undefined ? { data: String(o.rdata) } : {}) });
    }
  } else if (type === "answer" && d.rdata !== undefined) {
    // EVE DNS v1: one answer per record
    answers.push({ ...(rrname ? { name: rrname } : {}), ...(text(d.rrtype) ? { type: text(d.rrtype) } : {}), ...(asNumber(d.ttl) !== undefined ? { ttl: asNumber(d.ttl) } : {}), data: String(d.rdata) });
  }
  if (answers.length > 0) {
    dns.answers = answers;
    const ips = answers.map((a) => asIp(a.data)).filter((x): x is string => x !== undefined);
    if (ips.length > 0) dns.resolved_ip = ips;
    for (const ip of ips) relate(ev, "ip", ip);
  }
  const flags = (["aa", "tc", "rd", "ra", "ad", "cd"] as const).filter((f) => d[f] === true).map((f) => f.toUpperCase());
  if (flags.length > 0) dns.header_flags = flags;
  ev.dns = dns;
}

export function eveEvent(o: JsonObject, zone: ZoneOffset): EcsEvent | { code: string; reason: string } {
  const ts = isoOf(o.timestamp, zone);
  if (!ts) return { code: "suricata_bad_timestamp", reason: `timestamp ${JSON.stringify(o.timestamp)?.slice(0, 40)} is not an ISO 8601 time` };
  const type = text(o.event_type) ?? "unknown";
  const ev: EcsEvent = { "@timestamp": ts, event: { id: "", kind: "event", category: ["network"], type: ["protocol"], dataset: "suricata.eve", module: "suricata", action: type } };
  const sip = asIp(o.src_ip);
  const dip = asIp(o.dest_ip);
  const sport = asPort(o.src_port);
  const dport = asPort(o.dest_port);
  if (sip) {
    ev.source = { address: sip, ip: sip, ...(sport !== undefined ? { port: sport } : {}) };
    relate(ev, "ip", sip);
  }
  if (dip) {
    ev.destination = { address: dip, ip: dip, ...(dport !== undefined ? { port: dport } : {}) };
    relate(ev, "ip", dip);
  }
  const network: JsonObject = {};
  const proto = text(o.proto);
  if (proto) network.transport = proto.toLowerCase();
  const app = text(o.app_proto);
  if (app) network.protocol = app.toLowerCase();
  const cid = text(o.community_id) ?? (sip && dip && sport !== undefined && dport !== undefined && proto ? communityId(sip, sport, dip, dport, proto) : undefined);
  if (cid) network.community_id = cid;
  const iface = text(o.in_iface);
  if (iface) ev.observer = { ingress: { interface: { name: iface } }, vendor: "OISF", product: "Suricata", type: "ids" };
  const host = text(o.host);
  if (host) ev.host = { name: host };

  const flow = asObject(o.flow);
  if (flow) {
    const ps = asNumber(flow.pkts_toserver);
    const pc = asNumber(flow.pkts_toclient);
    const bs = asNumber(flow.bytes_toserver);
    const bc = asNumber(flow.bytes_toclient);
    if (ev.source) Object.assign(ev.source, { ...(bs !== undefined ? { bytes: bs } : {}), ...(ps !== undefined ? { packets: ps } : {}) });
    if (ev.destination) Object.assign(ev.destination, { ...(bc !== undefined ? { bytes: bc } : {}), ...(pc !== undefined ? { packets: pc } : {}) });
    if (bs !== undefined || bc !== undefined) network.bytes = (bs ?? 0) + (bc ?? 0);
    if (ps !== undefined || pc !== undefined) network.packets = (ps ?? 0) + (pc ?? 0);
    const start = isoOf(flow.start, zone);
    const end = isoOf(flow.end, zone);
    if (start) ev.event.start = start;
    if (end) ev.event.end = end;
    if (start && end) ev.event.duration = Math.max(0, (Date.parse(end) - Date.parse(start)) * 1e6);
  }

  switch (type) {
    case "alert": {
      const a = asObject(o.alert) ?? {};
      ev.event.kind = "alert";
      const blocked = a.action === "blocked";
      classify(ev, ["network", "intrusion_detection"], [blocked ? "denied" : "allowed"]);
      const rule: JsonObject = {};
      const sid = asNumber(a.signature_id);
      if (sid !== undefined) rule.id = String(sid);
      const sig = text(a.signature);
      if (sig) rule.name = sig;
      const cat = text(a.category);
      if (cat) {
        rule.category = cat;
        ev.message = cat;
      }
      const rev = asNumber(a.rev);
      if (rev !== undefined) rule.version = String(rev);
      ev.rule = rule;
      const sev = asNumber(a.severity);
      if (sev !== undefined) ev.event.severity = sev;
      break;
    }
    case "flow":
    case "netflow":
      classify(ev, ["network"], ["connection", "end"]);
      break;
    case "drop":
      classify(ev, ["network"], ["connection", "denied"]);
      break;
    case "dns": {
      classify(ev, ["network"], ["protocol"]);
      network.protocol = "dns";
      const d = asObject(o.dns);
      if (d) dnsFields(ev, d);
      break;
    }
    case "fileinfo":
      classify(ev, ["network", "file"], ["info"]);
      break;
    case "stats":
      ev.event.kind = "metric";
      classify(ev, [], ["info"]);
      break;
    case "anomaly":
      classify(ev, ["network"], ["info"]);
      break;
    case "ssh":
    case "tls":
    case "http":
    case "smtp":
    case "smb":
    case "krb5":
    case "rdp":
    case "dhcp":
    case "ftp":
    default:
      classify(ev, ["network"], ["protocol"]);
  }

  const http = asObject(o.http);
  if (http) {
    if (type === "http") ev.event.category = ["network", "web"];
    const h: JsonObject = {};
    const method = text(http.http_method);
    const req: JsonObject = {};
    if (method) req.method = method.toUpperCase();
    const ref = text(http.http_refer);
    if (ref) req.referrer = ref;
    if (Object.keys(req).length > 0) h.request = req;
    const status = asNumber(http.status);
    const resp: JsonObject = {};
    if (status !== undefined) {
      resp.status_code = status;
      if (type === "http") ev.event.outcome = status >= 400 ? "failure" : "success";
    }
    const len = asNumber(http.length);
    if (len !== undefined) resp.body = { bytes: len };
    if (Object.keys(resp).length > 0) h.response = resp;
    const proto = text(http.protocol);
    if (proto) {
      const m = /HTTP\/(\d(?:\.\d)?)/.exec(proto);
      if (m) h.version = m[1];
    }
    if (Object.keys(h).length > 0) ev.http = h;
    const url = text(http.url);
    const hostname = text(http.hostname);
    if (url || hostname) {
      ev.url = url ? urlFields(url) : {};
      if (hostname) {
        ev.url.domain = hostname;
        if (ev.destination) ev.destination.domain = hostname;
        relate(ev, "hosts", hostname);
      }
    }
    const ua = text(http.http_user_agent);
    if (ua) ev.user_agent = { original: ua };
  }
  const tls = asObject(o.tls);
  if (tls) {
    network.protocol = "tls";
    const t: JsonObject = {};
    const version = text(tls.version);
    if (version) {
      const m = /^(TLS|SSL)\s*v?(\d(?:\.\d)?)/i.exec(version);
      if (m) {
        t.version_protocol = m[1].toLowerCase();
        t.version = m[2];
      }
    }
    const sni = text(tls.sni);
    if (sni) {
      t.client = { server_name: sni };
      if (ev.destination) ev.destination.domain = sni;
      relate(ev, "hosts", sni);
    }
    const ja3 = asObject(tls.ja3);
    if (ja3 && text(ja3.hash)) t.client = { ...(t.client as JsonObject | undefined), ja3: text(ja3.hash) };
    const ja3s = asObject(tls.ja3s);
    const server: JsonObject = {};
    if (ja3s && text(ja3s.hash)) server.ja3s = text(ja3s.hash);
    if (text(tls.subject)) server.subject = text(tls.subject);
    if (text(tls.issuerdn)) server.issuer = text(tls.issuerdn);
    const nb = isoOf(tls.notbefore, zone);
    const na = isoOf(tls.notafter, zone);
    if (nb) server.not_before = nb;
    if (na) server.not_after = na;
    if (text(tls.fingerprint)) server.hash = { sha1: (text(tls.fingerprint) as string).replace(/:/g, "").toUpperCase() };
    if (Object.keys(server).length > 0) t.server = server;
    if (typeof tls.session_resumed === "boolean") t.resumed = tls.session_resumed;
    if (Object.keys(t).length > 0) ev.tls = t;
  }
  const fi = asObject(o.fileinfo);
  if (fi) {
    const file: JsonObject = {};
    const name = text(fi.filename);
    if (name) {
      file.path = name;
      file.name = name.slice(name.lastIndexOf("/") + 1);
    }
    const size = asNumber(fi.size);
    if (size !== undefined) file.size = size;
    const magic = text(fi.magic);
    if (magic) file.type = magic;
    const hash: JsonObject = {};
    for (const h of ["md5", "sha1", "sha256"]) {
      const v = text(fi[h]);
      if (v) {
        hash[h] = v;
        relate(ev, "hash", v);
      }
    }
    if (Object.keys(hash).length > 0) file.hash = hash;
    if (Object.keys(file).length > 0) ev.file = file;
  }
  if (Object.keys(network).length > 0) ev.network = network;
  const eve: JsonObject = {};
  for (const k of Object.keys(o)) if (!ENDPOINT_KEYS.has(k) && o[k] !== undefined) eve[k] = o[k];
  ev.suricata = { eve };
  return ev;
}

export const parser: Parser = lineParser({
  name: "suricata-eve",
  description: "Suricata EVE JSON: alerts, flows, DNS v1/v2, HTTP, TLS, fileinfo, SSH, stats, anomalies",
  detect: (sample) => (sample.charCodeAt(0) === 123 && sample.includes('"event_type"') && sample.includes('"timestamp"') ? 0.95 : 0),
  parse(rec, env) {
    const r = parseJsonObject(rec.data, env.ctx.jsonLimits);
    if (!r.ok) return r;
    if (typeof r.value.event_type !== "string") return { code: "suricata_not_eve", reason: "JSON record has no event_type: not a Suricata EVE record" };
    const ev = eveEvent(r.value, env.zone);
    if (!("event" in ev)) return ev;
    return finish(ev, rec, rec.data);
  },
});
