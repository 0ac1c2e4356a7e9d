// Feeds the demo environment to a running Sigil the way real services would: web, cloud and network
// logs over the HTTP NDJSON receiver (docs/decisions/0009-agent-wire-format.md), spans over OTLP/HTTP JSON, and the Linux
// hosts' sshd/sudo lines over syslog (TCP, octet-counted RFC 6587 framing).

import net from "node:net";
import tls from "node:tls";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { SigilError } from "../../platform/errors.ts";
import { DEMO_STREAMS, type DemoRecord } from "./generate.ts";

export interface SendTargets {
  /** Base URL of the HTTP NDJSON receiver, e.g. http://127.0.0.1:8088 */
  http: string;
  /** Base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:4318 */
  otlp: string;
  /** host:port of the syslog TCP receiver. */
  syslog: string;
  /** Bearer token for the HTTP and OTLP receivers. */
  token: string;
  /** Use TLS for syslog (HTTP(S) follows the URLs' schemes). */
  syslogTls?: boolean;
  /** Trust this CA (PEM) for TLS connections to the receivers (dev certificates). */
  ca?: string;
}

export interface SendStats {
  http: number;
  otlp: number;
  syslog: number;
  batches: number;
}

const BATCH = 2_000;

async function post(url: string, body: Buffer, headers: Record<string, string>, what: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { method: "POST", body: new Uint8Array(body), headers });
    } catch (err) {
      if (attempt < 20) {
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
        continue;
      }
      throw new SigilError("demo_target_unreachable", `cannot reach the ${what} receiver at ${url}: ${(err as Error).message}`, {
        location: { address: url },
        hint: "start Sigil first (`sigil start`), or pass --http/--otlp/--syslog addresses",
      });
    }
    if (res.status === 429 || res.status === 503) {
      const after = Number(res.headers.get("retry-after") ?? "1");
      await new Promise((r) => setTimeout(r, Math.max(100, Math.min(10, after) * 1000)));
      continue;
    }
    if (res.status >= 400 && res.status !== 409) {
      const text = (await res.text()).slice(0, 300);
      throw new SigilError("demo_send_rejected", `the ${what} receiver at ${url} answered ${res.status}: ${text}`, {
        location: { address: url },
        hint: res.status === 401 || res.status === 403 ? "check the ingest token (--token-file)" : "see the receiver's log",
      });
    }
    await res.arrayBuffer();
    return;
  }
}

/** Sends records in order, grouped in batches per receiver; resolves when every batch was accepted. */
export class DemoSender {
  readonly stats: SendStats = { http: 0, otlp: 0, syslog: 0, batches: 0 };
  private socket: net.Socket | null = null;

  constructor(private readonly t: SendTargets) {}

  async send(records: readonly DemoRecord[]): Promise<void> {
    const http: DemoRecord[] = [];
    const otlp: DemoRecord[] = [];
    const sys: DemoRecord[] = [];
    for (const r of records) {
      if (r.stream === "otlp-traces") otlp.push(r);
      else if (r.stream === "auth") sys.push(r);
      else http.push(r);
    }
    for (let i = 0; i < http.length; i += BATCH) await this.sendHttp(http.slice(i, i + BATCH));
    for (const r of otlp) {
      await post(`${this.t.otlp.replace(/\/$/, "")}/v1/traces`, Buffer.from(r.line), { "content-type": "application/json", authorization: `Bearer ${this.t.token}` }, "OTLP");
      this.stats.otlp++;
    }
    if (sys.length) await this.sendSyslog(sys);
  }

  private async sendHttp(batch: DemoRecord[]): Promise<void> {
    const lines = batch.map((r) => {
      const s = DEMO_STREAMS[r.stream];
      return JSON.stringify({
        message: r.line,
        event: { created: new Date().toISOString() },
        input: { type: "demo" },
        ...(s.host ? { host: { name: s.host } } : {}),
        agent: { id: "sigil-demo", type: "sigil-demo", version: "0.1.0" },
        sigil: { format: s.format },
      });
    });
    const body = gzipSync(Buffer.from(lines.join("\n") + "\n"));
    await post(`${this.t.http.replace(/\/$/, "")}/v1/ingest`, body, {
      "content-type": "application/x-ndjson",
      "content-encoding": "gzip",
      authorization: `Bearer ${this.t.token}`,
      "x-sigil-batch-id": randomBytes(16).toString("hex"),
      "x-sigil-batch-time": String(Date.now()),
      "x-sigil-batch-lines": String(batch.length),
      "user-agent": "sigil-demo/0.1.0",
    }, "HTTP");
    this.stats.http += batch.length;
    this.stats.batches++;
  }

  private async connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const [host, portText] = splitHostPort(this.t.syslog);
    const port = Number(portText);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = this.t.syslogTls ? tls.connect({ host, port, ca: this.t.ca, servername: host }, () => resolve(s)) : net.connect({ host, port }, () => resolve(s));
      s.once("error", (err) =>
        reject(new SigilError("demo_target_unreachable", `cannot reach the syslog receiver at ${this.t.syslog}: ${err.message}`, { location: { address: this.t.syslog }, hint: "start Sigil first, or pass --syslog host:port" })),
      );
    });
    this.socket = sock;
    return sock;
  }

  private async sendSyslog(records: DemoRecord[]): Promise<void> {
    const sock = await this.connect();
    for (const r of records) {
      const msg = Buffer.from(r.line);
      const ok = sock.write(`${msg.length} ${r.line}`);
      this.stats.syslog++;
      if (!ok) await new Promise((resolve) => sock.once("drain", resolve));
    }
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = null;
    if (s) await new Promise<void>((resolve) => s.end(() => resolve()));
  }
}

function splitHostPort(hp: string): [string, string] {
  const i = hp.lastIndexOf(":");
  if (i <= 0) throw new SigilError("demo_bad_address", `syslog address ${hp} is not host:port`, { exitCode: 2 });
  return [hp.slice(0, i).replace(/^\[|\]$/g, ""), hp.slice(i + 1)];
}
