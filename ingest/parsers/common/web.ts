// Web server access logs shared by apache-access and nginx-access: the common/combined log format with
// optional virtual host prefix, nginx's forwarded address list and trailing X-Forwarded-For, Apache's
// ssl_request format; the request line split into method, url.* and http.version.

import type { EcsEvent, JsonObject } from "../../../schema/ecs.ts";
import { asIp, asPort } from "./net.ts";
import { relate } from "./event.ts";
import { parseClfDate, toIso, type ZoneOffset } from "./time.ts";

// [vhost[:port] ]client[, client...] ident user [time] "request" status bytes tail
const ACCESS = /^(?:(\S+) )??((?:[^\s,]+, ?)*[^\s,]+) (\S+) (\S+|"[^"]*") \[([^\]]{20,40})\] "((?:[^"\\]|\\.)*)" (\d{3}|-) (\d+|-)(.*)$/;
// [time] client protocol cipher "request" bytes
const SSL_REQUEST = /^\[([^\]]{20,40})\] (\S+) (\S+) (\S+) "((?:[^"\\]|\\.)*)" (\d+|-)$/;
const REQUEST = /^([A-Za-z][A-Za-z0-9_-]{0,31}) (\S+)(?: HTTP\/(\d(?:\.\d)?))?$/;

/** Quoted fields after the status and size ("referrer" "user agent" "x-forwarded-for" ...). */
function quotedFields(tail: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < tail.length && out.length < 16) {
    while (tail.charCodeAt(i) === 32) i++;
    if (tail.charCodeAt(i) !== 34) {
      const sp = tail.indexOf(" ", i);
      const end = sp < 0 ? tail.length : sp;
      if (end > i) out.push(tail.slice(i, end));
      i = end;
      continue;
    }
    let j = i + 1;
    while (j < tail.length && tail.charCodeAt(j) !== 34) j += tail.charCodeAt(j) === 92 ? 2 : 1;
    out.push(tail.slice(i + 1, Math.min(j, tail.length)));
    i = j + 1;
  }
  return out;
}

/** url.original, url.path, url.query, url.extension (and url.domain/port/scheme for absolute URLs). */
export function urlFields(target: string): JsonObject {
  const url: JsonObject = { original: target };
  let pathPart = target;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)/.exec(target);
  if (scheme) {
    url.scheme = scheme[1].toLowerCase();
    const hostPort = scheme[2].replace(/^[^@]*@/, "");
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
    if (m) {
      url.domain = m[1];
      const p = asPort(m[2]);
      if (p !== undefined) url.port = p;
    }
    pathPart = target.slice(scheme[0].length) || "/";
  }
  const hash = pathPart.indexOf("#");
  if (hash >= 0) {
    url.fragment = pathPart.slice(hash + 1);
    pathPart = pathPart.slice(0, hash);
  }
  const q = pathPart.indexOf("?");
  if (q >= 0) {
    url.query = pathPart.slice(q + 1);
    pathPart = pathPart.slice(0, q);
  }
  if (pathPart.length > 0) {
    url.path = pathPart;
    const slash = pathPart.lastIndexOf("/");
    const dot = pathPart.lastIndexOf(".");
    if (dot > slash + 1 && dot < pathPart.length - 1 && pathPart.length - dot <= 11) url.extension = pathPart.slice(dot + 1).toLowerCase();
  }
  return url;
}

/** Fills http.request.method, url.*, http.version from a request line; false when it is not one. */
export function applyRequestLine(ev: EcsEvent, request: string): boolean {
  const m = REQUEST.exec(request);
  if (!m) return false;
  const http = (ev.http ??= {}) as JsonObject;
  http.request = { ...(http.request as JsonObject | undefined), method: m[1].toUpperCase() };
  if (m[3]) http.version = m[3];
  ev.url = urlFields(m[2]);
  return true;
}

function sourceFrom(ev: EcsEvent, addr: string): void {
  const ip = asIp(addr);
  ev.source = ip !== undefined ? { address: addr, ip } : { address: addr, domain: addr };
  if (ip !== undefined) relate(ev, "ip", ip);
  else relate(ev, "hosts", addr);
}

export interface AccessLine {
  ev: EcsEvent;
  /** Source-specific fields, placed by the caller under apache.access / nginx.access. */
  extra: JsonObject;
}

/**
 * Parses one access log line into an event with @timestamp, source, user, http, url and user agent.
 * Null when the line is not in a known access log format or its time is not valid.
 */
export function parseAccessLine(line: string, zone: ZoneOffset, dataset: string, module: string): AccessLine | null {
  const extra: JsonObject = {};
  let ev: EcsEvent;
  let request: string;
  let status: string | undefined;
  let bytes: string | undefined;
  const m = ACCESS.exec(line);
  if (m) {
    const ts = toIso(parseClfDate(m[5], zone));
    if (ts === null) return null;
    ev = { "@timestamp": ts, event: { id: "", kind: "event", category: ["web"], type: ["access"], dataset, module } };
    if (m[1] !== undefined) {
      const vh = /^(.*?)(?::(\d+))?$/.exec(m[1])!;
      const dom = vh[1];
      ev.destination = { domain: dom };
      const port = asPort(vh[2]);
      if (port !== undefined) ev.destination.port = port;
      extra.vhost = m[1];
    }
    const clients = m[2].split(/, ?/);
    if (clients.length > 1) extra.remote_ip_list = clients;
    sourceFrom(ev, clients[0]);
    for (const c of clients.slice(1)) {
      const ip = asIp(c);
      if (ip) relate(ev, "ip", ip);
    }
    const ident = m[3];
    if (ident !== "-") extra.ident = ident;
    const user = m[4].startsWith('"') ? m[4].slice(1, -1) : m[4];
    if (user !== "-" && user !== "") {
      ev.user = { name: user };
      relate(ev, "user", user);
    }
    request = m[6];
    status = m[7];
    bytes = m[8];
    const tail = quotedFields(m[9]);
    const http = (ev.http = {} as JsonObject);
    if (tail.length >= 1 && tail[0] !== "-" && tail[0] !== "") http.request = { referrer: tail[0] };
    if (tail.length >= 2 && tail[1] !== "-" && tail[1] !== "") ev.user_agent = { original: tail[1] };
    if (tail.length >= 3) {
      const xff = tail[2];
      if (xff !== "-" && xff !== "") {
        extra.forwarded_for = xff;
        for (const part of xff.split(/, ?/)) {
          const ip = asIp(part.trim());
          if (ip) relate(ev, "ip", ip);
        }
      }
      if (tail.length > 3) extra.extra_fields = tail.slice(3);
    }
  } else {
    const s = SSL_REQUEST.exec(line);
    if (!s) return null;
    const ts = toIso(parseClfDate(s[1], zone));
    if (ts === null) return null;
    ev = { "@timestamp": ts, event: { id: "", kind: "event", category: ["web"], type: ["access"], dataset, module } };
    sourceFrom(ev, s[2]);
    extra.ssl = { protocol: s[3], cipher: s[4] };
    ev.tls = { cipher: s[4], version_protocol: s[3].replace(/v[\d.]+$/, "").toLowerCase(), version: s[3].replace(/^\D+/, "") };
    request = s[5];
    bytes = s[6];
    ev.http = {};
  }
  if (request !== "-" && request !== "" && !applyRequestLine(ev, request)) extra.request_line = request;
  const http = ev.http as JsonObject;
  if (status !== undefined && status !== "-") {
    const code = Number(status);
    http.response = { status_code: code };
    ev.event.outcome = code >= 400 ? "failure" : "success";
    if (code >= 400) ev.event.type = ["access", "error"];
  }
  if (bytes !== undefined && bytes !== "-") {
    const resp = (http.response ??= {}) as JsonObject;
    resp.body = { bytes: Number(bytes) };
  }
  if (Object.keys(http).length === 0) delete ev.http;
  return { ev, extra };
}

/** 0..1: how much a line looks like an access log line. */
export function looksAccess(line: string): number {
  return ACCESS.test(line) || SSL_REQUEST.test(line) ? 0.9 : 0;
}
