// The load: agent records over HTTP NDJSON to `sigil ingest`, paced open-loop at a target rate with a
// bound on requests in flight. Background lines are real logs (OpenSSH auth, Linux syslog, Apache access)
// restamped with the current time and given unique origins (so every line is a new event); canary lines
// (one critical rule match on a host of their own) are mixed into the batches at a fixed rate, and the
// moment the ingest acknowledged each canary's batch is recorded.

import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { fixtureInputs } from "../../ingest/parsers/conformance.ts";
import { ROOT } from "./cluster.ts";
import { sharedDataDir } from "../../test/support/shared-data.ts";

interface Template {
  format: string;
  file: string;
  /** JSON-escaped text before and after the timestamp. */
  pre: string;
  post: string;
  stamp: "rfc3164" | "apache";
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");
const esc = (s: string) => JSON.stringify(s).slice(1, -1);

function lines(rel: string, fixtureDir: string): string[] {
  const data = sharedDataDir();
  const file = data ? path.join(data, "logs", rel) : null;
  const raw = file && fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n") : fixtureInputs(path.join(ROOT, "ingest/parsers", fixtureDir, "fixtures")).flatMap((f) => f.lines);
  return raw.map((l) => l.replace(/\r$/, "")).filter((l) => l.trim().length > 0);
}

function syslogTemplates(ls: string[], format: string, file: string): Template[] {
  return ls.filter((l) => /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /.test(l)).map((l) => ({ format, file, pre: "", post: esc(l.slice(15)), stamp: "rfc3164" as const }));
}

function apacheTemplates(ls: string[]): Template[] {
  const out: Template[] = [];
  for (const l of ls) {
    const a = l.indexOf("[");
    const b = l.indexOf("]", a);
    if (a < 0 || b < 0) continue;
    out.push({ format: "apache-access", file: "/var/log/apache2/access.log", pre: esc(l.slice(0, a + 1)), post: esc(l.slice(b)), stamp: "apache" });
  }
  return out;
}

export interface Mix {
  /** Share of lines that are failed SSH passwords (each matches a low-severity rule). */
  sshdFailed: number;
  sshdOther: number;
  syslog: number;
  /** The rest is Apache access lines. */
}

export const DEFAULT_MIX: Mix = { sshdFailed: 0.01, sshdOther: 0.19, syslog: 0.35 };

export interface Canary {
  n: number;
  host: string;
  /** When the request carrying it was acknowledged (performance.timeOrigin-relative ms, see now()). */
  ackAt: number | null;
}

export const now = (): number => performance.timeOrigin + performance.now();

export class LoadGenerator {
  readonly run = randomBytes(3).toString("hex");
  private readonly failed: Template[];
  private readonly sshd: Template[];
  private readonly syslog: Template[];
  private readonly apache: Template[];
  private seq = 0;
  private canarySeq = 0;
  readonly canaries: Canary[] = [];
  acked = 0;
  sentRequests = 0;
  retries = 0;
  errors: string[] = [];
  ackMs: number[] = [];
  inFlight = 0;
  /** Batches not sent on time because maxInFlight requests were waiting (the pipeline pushed back). */
  behind = 0;

  constructor(
    private readonly o: { url: string; token: string; batch: number; maxInFlight: number; mix?: Mix },
  ) {
    const ssh = lines("sshd-auth/loghub/OpenSSH_2k.log", "sshd-auth");
    const all = syslogTemplates(ssh, "sshd-auth", "/var/log/auth.log");
    this.failed = all.filter((t) => t.post.includes("Failed password"));
    this.sshd = all.filter((t) => !t.post.includes("Failed password") && !t.post.includes("authentication failure"));
    this.syslog = syslogTemplates(lines("syslog-rfc3164/loghub/Linux_2k.log", "syslog-rfc3164"), "syslog-rfc3164", "/var/log/syslog").filter((t) => !/authentication failure|Failed password/.test(t.post));
    this.apache = apacheTemplates(lines("apache-access/elastic-examples/apache_logs.first5000.log", "apache-access"));
    if (!this.failed.length || !this.sshd.length || !this.syslog.length || !this.apache.length) throw new Error("bench/e2e: no sample lines (../shared/data/logs or the parsers' fixtures)");
  }

  /** One request body: `n` background records (and the canaries due), with the current time in every line. */
  private body(n: number, canaries: number): { body: string; canaries: Canary[] } {
    const t = new Date();
    const rfc3164 = `${MONTHS[t.getUTCMonth()]} ${String(t.getUTCDate()).padStart(2, " ")} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}`;
    const apache = `${pad(t.getUTCDate())}/${MONTHS[t.getUTCMonth()]}/${t.getUTCFullYear()}:${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())} +0000`;
    const mix = this.o.mix ?? DEFAULT_MIX;
    const parts: string[] = new Array(n + canaries);
    for (let i = 0; i < n; i++) {
      const k = this.seq++;
      // a fixed, well-spread sequence of choices (golden-ratio steps), the same in every run
      const r = (k * 0.6180339887498949) % 1;
      const pool = r < mix.sshdFailed ? this.failed : r < mix.sshdFailed + mix.sshdOther ? this.sshd : r < mix.sshdFailed + mix.sshdOther + mix.syslog ? this.syslog : this.apache;
      const tpl = pool[k % pool.length];
      const ts = tpl.stamp === "rfc3164" ? rfc3164 : apache;
      parts[i] = `{"message":"${tpl.pre}${ts}${tpl.post}","log":{"file":{"path":"${tpl.file}"},"offset":${k * 160}},"host":{"name":"host-${k % 64}"},"agent":{"id":"bench-e2e","type":"sigil-agent"},"sigil":{"origin":"bench:${this.run}:${k}","format":"${tpl.format}"}}`;
    }
    const cs: Canary[] = [];
    for (let j = 0; j < canaries; j++) {
      const c: Canary = { n: this.canarySeq++, host: `canary-${this.run}-${this.canarySeq - 1}`, ackAt: null };
      cs.push(c);
      const line = `<38>1 ${t.toISOString()} ${c.host} sigil-canary 42 - - SIGIL-BENCH-CANARY ${c.n}`;
      parts[n + j] = `{"message":"${line}","log":{"file":{"path":"/var/log/canary.log"},"offset":${c.n}},"host":{"name":"${c.host}"},"agent":{"id":"bench-e2e","type":"sigil-agent"},"sigil":{"origin":"canary:${this.run}:${c.n}","format":"syslog-rfc5424"}}`;
    }
    return { body: parts.join("\n") + "\n", canaries: cs };
  }

  private async send(n: number, canaries: number): Promise<void> {
    const { body, canaries: cs } = this.body(n, canaries);
    this.canaries.push(...cs);
    const batchId = randomBytes(16).toString("hex");
    this.inFlight++;
    this.sentRequests++;
    try {
      for (let attempt = 1; ; attempt++) {
        const t0 = now();
        let status = 0;
        let retryAfter = 1;
        try {
          const res = await fetch(`${this.o.url}/v1/ingest`, {
            method: "POST",
            body,
            headers: { authorization: `Bearer ${this.o.token}`, "content-type": "application/x-ndjson", "x-sigil-batch-id": batchId, "x-sigil-batch-time": String(Date.now()) },
            signal: AbortSignal.timeout(60_000),
          });
          status = res.status;
          retryAfter = Number(res.headers.get("retry-after") ?? "1") || 1;
          await res.arrayBuffer();
        } catch (err) {
          if (this.errors.length < 20) this.errors.push((err as Error).message);
        }
        if (status === 200 || status === 409) {
          const t = now();
          this.ackMs.push(t - t0);
          this.acked += n + canaries;
          for (const c of cs) c.ackAt = t;
          return;
        }
        if (status && this.errors.length < 20) this.errors.push(`HTTP ${status}`);
        if (attempt >= 30) throw new Error(`a batch was refused ${attempt} times (last: HTTP ${status})`);
        this.retries++;
        await new Promise((r) => setTimeout(r, Math.min(retryAfter * 1000, 250 * attempt)));
      }
    } finally {
      this.inFlight--;
    }
  }

  /**
   * Sends at `rate` events/s for `ms`, with `canaryPerS` canaries per second, open loop: a batch goes
   * out every `batch / rate` seconds unless `maxInFlight` requests are waiting (then it is late and
   * counted in `behind`; at most 2 s of backlog is kept, so the achieved rate is what the pipeline took).
   */
  async runFor(ms: number, rate: number, canaryPerS: number, stop?: () => boolean): Promise<void> {
    const batch = this.o.batch;
    const interval = (batch / rate) * 1000;
    const canaryEvery = canaryPerS > 0 ? 1000 / canaryPerS : Infinity;
    const start = now();
    let scheduled = 0;
    let nextCanary = start + canaryEvery / 2;
    const pending = new Set<Promise<void>>();
    while (now() - start < ms && !stop?.()) {
      const due = Math.floor((now() - start) / interval) + 1;
      if (due - scheduled > Math.ceil(2000 / interval)) {
        this.behind += due - scheduled - Math.ceil(2000 / interval);
        scheduled = due - Math.ceil(2000 / interval);
      }
      while (scheduled < due && this.inFlight < this.o.maxInFlight) {
        let c = 0;
        while (now() >= nextCanary) {
          c++;
          nextCanary += canaryEvery;
        }
        const p = this.send(batch - c, c).catch((err) => void this.errors.push((err as Error).message));
        pending.add(p);
        void p.finally(() => pending.delete(p));
        scheduled++;
      }
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(20, interval / 2))));
    }
    await Promise.all(pending);
  }
}
