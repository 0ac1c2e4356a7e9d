// Zeek (Bro) network logs, TSV with #fields/#types headers or JSON lines (dotted id.orig_h or
// underscore id_orig_h keys, @stream/_path names): connection endpoints, Community ID and per-log ECS
// fields (conn, dns, http, ssl, files, notice, weird, kerberos, ntlm, smb, dce_rpc, ssh, rdp, x509 ...),
// every Zeek field kept under zeek.<log>.*.

import type { EcsEvent, EventCategory, EventType, JsonObject, JsonValue } from "../../../schema/ecs.ts";
import { isUnsafeKey } from "../../../schema/fields.ts";
import type { Emit, ParseContext, Parser, ParserSession, RawRecord } from "../types.ts";
import { finish, reject, relate } from "../common/event.ts";
import { asIp, asPort, communityId } from "../common/net.ts";
import { parseJsonObject } from "../common/json.ts";
import { compileZone, epochSecondsToMs, parseIso, toIso, type ZoneOffset } from "../common/time.ts";

/** Field sets that identify a log when neither the record nor the file name says which it is. */
const SIGNATURES: Array<[string, string[]]> = [
  ["conn", ["conn_state"]],
  ["dns", ["qtype_name"]],
  ["dns", ["query", "trans_id"]],
  ["http", ["trans_depth", "method"]],
  ["http", ["trans_depth", "status_code"]],
  ["ssl", ["cipher", "server_name"]],
  ["ssl", ["established", "version"]],
  ["files", ["fuid", "analyzers"]],
  ["notice", ["note"]],
  ["weird", ["name", "notice", "peer"]],
  ["x509", ["certificate.version"]],
  ["kerberos", ["request_type"]],
  ["ntlm", ["domainname"]],
  ["dce_rpc", ["endpoint", "operation"]],
  ["smb_mapping", ["share_type"]],
  ["smb_files", ["action", "path", "name"]],
  ["ssh", ["auth_success"]],
  ["ssh", ["client", "server", "version"]],
  ["rdp", ["cookie"]],
  ["dhcp", ["assigned_addr"]],
  ["dhcp", ["msg_types"]],
  ["smtp", ["mailfrom"]],
  ["ftp", ["command", "reply_code"]],
  ["pe", ["machine", "is_exe"]],
  ["software", ["software_type"]],
  ["tunnel", ["tunnel_type"]],
];

const KNOWN_LOGS = new Set([
  "conn", "dns", "http", "ssl", "files", "notice", "weird", "x509", "kerberos", "ntlm", "dce_rpc", "smb_mapping", "smb_files", "ssh", "rdp", "dhcp",
  "smtp", "ftp", "pe", "software", "tunnel", "sip", "snmp", "socks", "syslog", "radius", "rfb", "mysql", "modbus", "dnp3", "irc", "intel",
  "known_hosts", "known_services", "known_certs", "dpd", "capture_loss", "stats", "ntp", "signatures", "traceroute", "packet_filter", "reporter",
  "loaded_scripts", "ocsp", "netcontrol", "notice_alarm", "weird_stats", "analyzer",
]);

/** The log name from a file name: conn.log, SCRANTON_conn.log, conn.09:00:00-10:00:00.log.gz, http_eth0.log. */
export function logFromPath(p: string | undefined): string | undefined {
  if (!p) return undefined;
  const base = p.slice(Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\")) + 1).toLowerCase();
  const stem = base.replace(/\.(log|json|ndjson|txt)(\.gz)?$/, "").replace(/\.\d\d:\d\d:\d\d-\d\d:\d\d:\d\d$/, "");
  if (KNOWN_LOGS.has(stem)) return stem;
  for (const part of stem.split(/[_.-]/).reverse()) if (KNOWN_LOGS.has(part)) return part;
  const parts = stem.split("_");
  for (let i = 0; i < parts.length; i++) {
    const tail = parts.slice(i).join("_");
    if (KNOWN_LOGS.has(tail)) return tail;
  }
  return undefined;
}

function bySignature(rec: JsonObject): string | undefined {
  for (const [log, keys] of SIGNATURES) if (keys.every((k) => rec[k] !== undefined)) return log;
  return undefined;
}

/** Keys of the Zeek connection id, in both the dotted and the underscore spelling. */
function idField(rec: JsonObject, which: "orig_h" | "orig_p" | "resp_h" | "resp_p"): JsonValue | undefined {
  const dotted = rec[`id.${which}`];
  if (dotted !== undefined) return dotted;
  const under = rec[`id_${which}`];
  if (under !== undefined) return under;
  const id = rec.id;
  return id !== null && typeof id === "object" && !Array.isArray(id) ? (id as JsonObject)[which] : undefined;
}

const TCP_LOGS = new Set(["http", "ssl", "ssh", "smtp", "ftp", "rdp", "smb_mapping", "smb_files", "ntlm", "mysql", "irc", "socks", "rfb", "dce_rpc"]);

const COMMON = new Set(["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "id_orig_h", "id_orig_p", "id_resp_h", "id_resp_p", "id", "@stream", "@system", "@proc", "_path", "_system_name", "_write_ts", "@path"]);

function num(v: JsonValue | undefined): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v !== "" && v !== "-" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function text(v: JsonValue | undefined): string | undefined {
  return typeof v === "string" && v !== "" && v !== "-" ? v : undefined;
}

function list(v: JsonValue | undefined): JsonValue[] {
  return Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
}

function classify(ev: EcsEvent, category: EventCategory[], type: EventType[]): void {
  ev.event.category = category;
  ev.event.type = type;
}

/** Puts Zeek field `k` under obj, nesting dotted names (cert.not_valid_before → cert.not_valid_before). */
function putNested(obj: JsonObject, k: string, v: JsonValue): void {
  const parts = k.split(".");
  let cur = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i];
    if (isUnsafeKey(p)) return;
    const next = cur[p];
    if (next === undefined || next === null || typeof next !== "object" || Array.isArray(next)) cur = cur[p] = {};
    else cur = next as JsonObject;
  }
  const last = parts[parts.length - 1];
  if (!isUnsafeKey(last)) cur[last] = v;
}

const DNS_CLASS: Record<string, string> = { C_INTERNET: "IN", C_CHAOS: "CH", C_HESIOD: "HS", C_NONE: "NONE", C_ANY: "ANY" };

/** Builds the event of one Zeek record (already decoded to a JSON object). */
export function zeekEvent(rec: JsonObject, log: string, zone: ZoneOffset): EcsEvent | { code: string; reason: string } {
  const tsv = rec.ts;
  const ms = typeof tsv === "string" && !/^\d+(\.\d+)?$/.test(tsv) ? parseIso(tsv, zone) : epochSecondsToMs(tsv);
  const ts = toIso(ms);
  if (ts === null) return { code: "zeek_bad_timestamp", reason: `ts ${JSON.stringify(tsv)?.slice(0, 40)} is not an epoch time or ISO 8601 time` };
  const ev: EcsEvent = { "@timestamp": ts, event: { id: "", kind: "event", category: ["network"], type: ["info"], dataset: `zeek.${log}`, module: "zeek" } };
  const zeekNs: JsonObject = {};
  const uid = text(rec.uid);
  const zeek: JsonObject = { [log]: zeekNs };
  if (uid) zeek.session_id = uid;
  ev.zeek = zeek;
  for (const k of Object.keys(rec)) {
    if (COMMON.has(k)) continue;
    const v = rec[k];
    if (v === undefined || v === null || v === "-") continue;
    putNested(zeekNs, k, v);
  }
  const system = text(rec["@system"]) ?? text(rec._system_name);
  if (system) ev.observer = { hostname: system, type: "sensor", vendor: "Zeek" };

  const sip = asIp(idField(rec, "orig_h"));
  const dip = asIp(idField(rec, "resp_h"));
  const sport = asPort(idField(rec, "orig_p"));
  const dport = asPort(idField(rec, "resp_p"));
  if (sip) {
    ev.source = { address: sip, ip: sip };
    if (sport !== undefined) ev.source.port = sport;
    relate(ev, "ip", sip);
  }
  if (dip) {
    ev.destination = { address: dip, ip: dip };
    if (dport !== undefined) ev.destination.port = dport;
    relate(ev, "ip", dip);
  }
  // logs of TCP-only protocols carry no proto field
  const proto = text(rec.proto) ?? (TCP_LOGS.has(log) ? "tcp" : undefined);
  const network: JsonObject = {};
  if (proto) network.transport = proto.toLowerCase();
  if (sip && dip && sport !== undefined && dport !== undefined && proto) {
    const cid = communityId(sip, sport, dip, dport, proto);
    if (cid) network.community_id = cid;
  }
  ev.network = network;

  switch (log) {
    case "conn": {
      classify(ev, ["network"], ["connection"]);
      const service = text(rec.service);
      if (service) network.protocol = service.split(",")[0].toLowerCase();
      const dur = num(rec.duration);
      if (dur !== undefined) ev.event.duration = Math.round(dur * 1e9);
      const ob = num(rec.orig_ip_bytes) ?? num(rec.orig_bytes);
      const rb = num(rec.resp_ip_bytes) ?? num(rec.resp_bytes);
      const op = num(rec.orig_pkts);
      const rp = num(rec.resp_pkts);
      if (ev.source) {
        if (ob !== undefined) ev.source.bytes = ob;
        if (op !== undefined) ev.source.packets = op;
      }
      if (ev.destination) {
        if (rb !== undefined) ev.destination.bytes = rb;
        if (rp !== undefined) ev.destination.packets = rp;
      }
      if (ob !== undefined || rb !== undefined) network.bytes = (ob ?? 0) + (rb ?? 0);
      if (op !== undefined || rp !== undefined) network.packets = (op ?? 0) + (rp ?? 0);
      const lo = rec.local_orig;
      const lr = rec.local_resp;
      if (typeof lo === "boolean" && typeof lr === "boolean") network.direction = lo && lr ? "internal" : lo ? "outbound" : lr ? "inbound" : "external";
      const state = text(rec.conn_state);
      if (state === "REJ" || state === "S0") ev.event.type = ["connection", "denied"];
      else if (state === "SF") ev.event.type = ["connection", "end"];
      break;
    }
    case "dns": {
      classify(ev, ["network"], ["protocol", "info"]);
      network.protocol = "dns";
      const dns: JsonObject = {};
      const q = text(rec.query);
      if (q) {
        const question: JsonObject = { name: q };
        const qt = text(rec.qtype_name);
        if (qt) question.type = qt;
        const qc = text(rec.qclass_name);
        if (qc) question.class = DNS_CLASS[qc] ?? qc;
        dns.question = question;
        relate(ev, "hosts", q);
      }
      const id = num(rec.trans_id);
      if (id !== undefined) dns.id = id;
      const rcode = text(rec.rcode_name);
      if (rcode) dns.response_code = rcode;
      const answers = list(rec.answers);
      const ttls = list(rec.TTLs);
      if (answers.length > 0) {
        dns.answers = answers.map((a, i) => {
          const o: JsonObject = { data: String(a) };
          const t = num(ttls[i]);
          if (t !== undefined) o.ttl = t;
          return o;
        });
        const resolved = answers.map((a) => asIp(a)).filter((x): x is string => x !== undefined);
        if (resolved.length > 0) dns.resolved_ip = resolved;
        for (const ip of resolved) relate(ev, "ip", ip);
      }
      const flags = ["AA", "TC", "RD", "RA"].filter((f) => rec[f] === true || rec[f] === "T");
      if (flags.length > 0) dns.header_flags = flags;
      dns.type = answers.length > 0 || rcode ? "answer" : "query";
      const rtt = num(rec.rtt);
      if (rtt !== undefined) ev.event.duration = Math.round(rtt * 1e9);
      ev.dns = dns;
      if (rcode && rcode !== "NOERROR") ev.event.outcome = "failure";
      else if (rcode) ev.event.outcome = "success";
      break;
    }
    case "http": {
      classify(ev, ["network", "web"], ["connection", "protocol"]);
      network.protocol = "http";
      const http: JsonObject = {};
      const method = text(rec.method);
      const request: JsonObject = {};
      if (method) request.method = method.toUpperCase();
      const reqBytes = num(rec.request_body_len);
      if (reqBytes !== undefined) request.body = { bytes: reqBytes };
      const referrer = text(rec.referrer);
      if (referrer) request.referrer = referrer;
      if (Object.keys(request).length > 0) http.request = request;
      const response: JsonObject = {};
      const status = num(rec.status_code);
      if (status !== undefined) {
        response.status_code = status;
        ev.event.outcome = status >= 400 ? "failure" : "success";
      }
      const respBytes = num(rec.response_body_len);
      if (respBytes !== undefined) response.body = { bytes: respBytes };
      if (Object.keys(response).length > 0) http.response = response;
      const version = text(rec.version);
      if (version) http.version = version;
      ev.http = http;
      const uri = text(rec.uri);
      const host = text(rec.host);
      if (uri || host) {
        const url: JsonObject = {};
        if (uri) {
          url.original = uri;
          const q = uri.indexOf("?");
          url.path = q >= 0 ? uri.slice(0, q) : uri;
          if (q >= 0) url.query = uri.slice(q + 1);
        }
        if (host) {
          url.domain = host;
          if (ev.destination) ev.destination.domain = host;
          relate(ev, "hosts", host);
        }
        if (dport !== undefined) url.port = dport;
        ev.url = url;
      }
      const ua = text(rec.user_agent);
      if (ua) ev.user_agent = { original: ua };
      const user = text(rec.username);
      if (user) {
        ev.user = { name: user };
        relate(ev, "user", user);
      }
      break;
    }
    case "ssl": {
      classify(ev, ["network"], ["connection", "protocol"]);
      network.protocol = "tls";
      const tls: JsonObject = {};
      const version = text(rec.version);
      if (version) {
        const m = /^(TLS|SSL|DTLS)v?(\d)\.?(\d)?$/i.exec(version);
        if (m) {
          tls.version_protocol = m[1].toLowerCase();
          tls.version = m[3] !== undefined ? `${m[2]}.${m[3]}` : m[2];
        }
      }
      const cipher = text(rec.cipher);
      if (cipher) tls.cipher = cipher;
      const curve = text(rec.curve);
      if (curve) tls.curve = curve;
      if (typeof rec.established === "boolean") tls.established = rec.established;
      if (typeof rec.resumed === "boolean") tls.resumed = rec.resumed;
      const sni = text(rec.server_name);
      if (sni) {
        tls.client = { server_name: sni };
        if (ev.destination) ev.destination.domain = sni;
        relate(ev, "hosts", sni);
      }
      const subject = text(rec.subject);
      const issuer = text(rec.issuer);
      if (subject || issuer) tls.server = { ...(subject ? { subject } : {}), ...(issuer ? { issuer } : {}) };
      const ja3 = text(rec.ja3);
      if (ja3) tls.client = { ...(tls.client as JsonObject | undefined), ja3 };
      ev.tls = tls;
      const status = text(rec.validation_status);
      if (status) ev.event.outcome = status === "ok" ? "success" : "failure";
      break;
    }
    case "files": {
      classify(ev, ["file"], ["info"]);
      const file: JsonObject = {};
      const name = text(rec.filename);
      if (name) file.name = name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
      if (name) file.path = name;
      const mime = text(rec.mime_type);
      if (mime) file.mime_type = mime;
      const size = num(rec.total_bytes) ?? num(rec.seen_bytes);
      if (size !== undefined) file.size = size;
      const hash: JsonObject = {};
      for (const h of ["md5", "sha1", "sha256"]) {
        const v = text(rec[h]);
        if (v) {
          hash[h] = v;
          relate(ev, "hash", v);
        }
      }
      if (Object.keys(hash).length > 0) file.hash = hash;
      if (Object.keys(file).length > 0) ev.file = file;
      const tx = list(rec.tx_hosts).map((x) => asIp(x)).filter((x): x is string => !!x);
      const rx = list(rec.rx_hosts).map((x) => asIp(x)).filter((x): x is string => !!x);
      if (tx[0] && !ev.source) ev.source = { address: tx[0], ip: tx[0] };
      if (rx[0] && !ev.destination) ev.destination = { address: rx[0], ip: rx[0] };
      for (const ip of [...tx, ...rx]) relate(ev, "ip", ip);
      const conns = list(rec.conn_uids).filter((x): x is string => typeof x === "string");
      if (conns.length > 0 && !uid) zeek.session_id = conns[0];
      break;
    }
    case "notice":
    case "signatures":
    case "intel": {
      ev.event.kind = "alert";
      classify(ev, ["intrusion_detection", "network"], ["info"]);
      const note = text(rec.note) ?? text(rec.sig_id) ?? text(rec["seen.indicator"]);
      const msg = text(rec.msg) ?? text(rec.event_msg);
      if (note) ev.rule = { name: note };
      if (msg) ev.message = msg;
      const src = asIp(rec.src);
      const dst = asIp(rec.dst);
      if (src && !ev.source) ev.source = { address: src, ip: src };
      if (dst && !ev.destination) ev.destination = { address: dst, ip: dst };
      const p = asPort(rec.p);
      if (p !== undefined && ev.destination && ev.destination.port === undefined) ev.destination.port = p;
      for (const ip of [src, dst]) relate(ev, "ip", ip);
      break;
    }
    case "weird": {
      classify(ev, ["network"], ["info"]);
      const name = text(rec.name);
      if (name) ev.event.action = name;
      break;
    }
    case "kerberos": {
      classify(ev, ["network", "authentication"], ["protocol", "info"]);
      network.protocol = "kerberos";
      const client = text(rec.client);
      if (client) {
        // Zeek writes "name/REALM"; some exporters "name@REALM"
        const at = client.lastIndexOf("@");
        const sep = at > 0 ? at : client.lastIndexOf("/");
        const principal = sep > 0 ? client.slice(0, sep) : client;
        const realm = sep > 0 ? client.slice(sep + 1) : "";
        ev.user = { name: principal, ...(realm ? { domain: realm } : {}) };
        relate(ev, "user", principal);
      }
      const action = text(rec.request_type);
      if (action) ev.event.action = action;
      if (typeof rec.success === "boolean") ev.event.outcome = rec.success ? "success" : "failure";
      break;
    }
    case "ntlm": {
      classify(ev, ["network", "authentication"], ["protocol", "info"]);
      network.protocol = "ntlm";
      const user = text(rec.username);
      if (user) {
        ev.user = { name: user };
        const dom = text(rec.domainname);
        if (dom) ev.user.domain = dom;
        relate(ev, "user", user);
      }
      const host = text(rec.hostname);
      if (host && ev.source) ev.source.domain = host;
      if (typeof rec.success === "boolean") ev.event.outcome = rec.success ? "success" : "failure";
      break;
    }
    case "ssh": {
      classify(ev, ["network", "authentication"], ["protocol", "info"]);
      network.protocol = "ssh";
      if (typeof rec.auth_success === "boolean") ev.event.outcome = rec.auth_success ? "success" : "failure";
      break;
    }
    case "rdp": {
      classify(ev, ["network"], ["protocol", "info"]);
      network.protocol = "rdp";
      const cookie = text(rec.cookie);
      if (cookie) {
        ev.user = { name: cookie };
        relate(ev, "user", cookie);
      }
      break;
    }
    case "dce_rpc": {
      classify(ev, ["network"], ["protocol", "info"]);
      network.protocol = "dce_rpc";
      const op = text(rec.operation);
      if (op) ev.event.action = op;
      break;
    }
    case "smb_mapping":
    case "smb_files": {
      classify(ev, ["network", "file"], ["protocol", "info"]);
      network.protocol = "smb";
      const path = text(rec.path);
      const name = text(rec.name);
      if (path || name) ev.file = { ...(name ? { name } : {}), ...(path ? { path: name && log === "smb_files" ? `${path}\\${name}` : path } : {}) };
      const action = text(rec.action);
      if (action) ev.event.action = action;
      break;
    }
    case "dhcp": {
      classify(ev, ["network"], ["protocol", "info"]);
      network.protocol = "dhcp";
      break;
    }
    case "x509": {
      classify(ev, ["network"], ["info"]);
      break;
    }
    default:
      classify(ev, ["network"], ["info"]);
  }
  if (Object.keys(network).length === 0) delete ev.network;
  return ev;
}

/** Decodes one TSV value by its #types type. */
function tsvValue(raw: string, type: string | undefined, sets: string, empty: string, unset: string): JsonValue | undefined {
  if (raw === unset) return undefined;
  const t = type ?? "string";
  if (t.startsWith("set[") || t.startsWith("vector[")) {
    if (raw === empty) return [];
    const inner = t.slice(t.indexOf("[") + 1, -1);
    return raw.split(sets).map((x) => tsvValue(x, inner, sets, empty, unset) ?? null);
  }
  if (raw === empty) return "";
  switch (t) {
    case "count":
    case "int":
    case "port":
    case "double":
    case "interval":
    case "time": {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    case "bool":
      return raw === "T" ? true : raw === "F" ? false : raw;
    default:
      return unescapeZeek(raw);
  }
}

function unescapeZeek(s: string): string {
  if (!s.includes("\\x")) return s;
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

interface TsvHeader {
  separator: string;
  setSeparator: string;
  empty: string;
  unset: string;
  path?: string;
  fields?: string[];
  types?: string[];
}

const DIRECTIVE = /^#(separator|set_separator|empty_field|unset_field|path|open|close|fields|types)(?:[ \t](.*))?$/;
/** The start of a Zeek TSV row: `ts` as epoch seconds with microseconds, a tab, and a uid or another column. */
const TSV_ROW = /^\d{9,10}\.\d{1,9}\t(?:C[0-9A-Za-z]{8,21}\t|F[0-9A-Za-z]{8,21}\t|[^\t]*\t)/;

export const parser: Parser = {
  name: "zeek",
  description: "Zeek network logs: TSV with #fields headers or JSON lines; conn, dns, http, ssl, files, notice, kerberos, ntlm, smb, ...",
  detect(sample) {
    if (sample.charCodeAt(0) === 35 /* # */) return DIRECTIVE.test(sample) ? 0.99 : 0;
    // a TSV data row: epoch seconds with a fraction, then the connection uid (C + 15-21 base62) or more columns
    if (TSV_ROW.test(sample)) return sample.split("\t", 12).length >= 5 ? 0.7 : 0;
    if (sample.charCodeAt(0) !== 123) return 0;
    const hasTs = sample.includes('"ts":');
    if (!hasTs) return 0;
    if (sample.includes('"id.orig_h"') || sample.includes('"id_orig_h"') || sample.includes('"@stream"') || sample.includes('"_path"')) return 0.95;
    if (sample.includes('"fuid"') || sample.includes('"note"') || sample.includes('"uid"')) return 0.8;
    return 0;
  },
  isHeader: (line) => DIRECTIVE.test(line),
  open(ctx: ParseContext): ParserSession {
    const zone = compileZone(ctx.timezone);
    let header: TsvHeader = { separator: "\t", setSeparator: ",", empty: "(empty)", unset: "-" };

    const emitRecord = (obj: JsonObject, rec: RawRecord, log: string | undefined, emit: Emit) => {
      const name = log ?? bySignature(obj);
      if (!name) {
        emit.reject(reject("zeek_unknown_log", "cannot tell which Zeek log this record is from: no @stream/_path field, no #path header, no log name in the file name", rec));
        return;
      }
      const r = zeekEvent(obj, name.replace(/[^a-z0-9_]/gi, "_").toLowerCase(), zone);
      if ("code" in r && !("event" in r)) emit.reject(reject(r.code, r.reason, rec));
      else emit.event(finish(r as EcsEvent, rec, rec.data), rec);
    };

    return {
      push(rec, emit) {
        const line = rec.data;
        if (line.charCodeAt(0) === 35 /* # */) {
          const m = DIRECTIVE.exec(line);
          if (!m) {
            emit.reject(reject("zeek_bad_header", "unknown Zeek header line; expected #separator, #fields, #types, #path, ...", rec));
            return;
          }
          const value = m[2] ?? "";
          switch (m[1]) {
            case "separator":
              header = { separator: unescapeZeek(value.trim()), setSeparator: ",", empty: "(empty)", unset: "-" };
              break;
            case "set_separator":
              header.setSeparator = unescapeZeek(value);
              break;
            case "empty_field":
              header.empty = value;
              break;
            case "unset_field":
              header.unset = value;
              break;
            case "path":
              header.path = value;
              break;
            case "fields":
              header.fields = value.split(header.separator);
              break;
            case "types":
              header.types = value.split(header.separator);
              break;
            default:
              break;
          }
          return;
        }
        if (line.charCodeAt(0) === 123 /* { */) {
          const r = parseJsonObject(line, ctx.jsonLimits);
          if (!r.ok) {
            emit.reject(reject(r.code, r.reason, rec));
            return;
          }
          const o = r.value;
          const log = text(o["@stream"]) ?? text(o._path) ?? text(o["@path"]) ?? logFromPath(rec.path ?? rec.source);
          emitRecord(o, rec, log, emit);
          return;
        }
        if (!header.fields) {
          emit.reject(reject("zeek_no_fields_header", "Zeek TSV line before any #fields header", rec));
          return;
        }
        const values = line.split(header.separator);
        if (values.length !== header.fields.length) {
          emit.reject(reject("zeek_field_count", `Zeek TSV line has ${values.length} fields, the #fields header names ${header.fields.length}`, rec));
          return;
        }
        const obj: JsonObject = {};
        for (let i = 0; i < values.length; i++) {
          const k = header.fields[i];
          if (isUnsafeKey(k)) continue;
          const v = tsvValue(values[i], header.types?.[i], header.setSeparator, header.empty, header.unset);
          if (v !== undefined) obj[k] = v;
        }
        emitRecord(obj, rec, header.path ?? logFromPath(rec.path ?? rec.source), emit);
      },
      flush() {
        // records are independent; the header state ends with the stream
      },
    };
  },
};
