// The `sigil demo` environment: a web front end (nginx + OTLP spans), an orders API (spans) backed by
// PostgreSQL (DB client spans), an AWS account (CloudTrail), and Linux hosts (sshd/sudo syslog, Zeek
// flows), with seeded benign background traffic and one intrusion that crosses all of them.
// Deterministic for a seed and start time, so tests can assert on the chain it forms.

import { mulberry32 } from "../../platform/prng.ts";

/** The log streams the demo writes, one per source format. */
export const DEMO_STREAMS = {
  "web-access": { file: "web-access.log", format: "nginx-access", host: "web-1" },
  "otlp-traces": { file: "traces.jsonl", format: "otlp-json", host: undefined },
  cloudtrail: { file: "cloudtrail.jsonl", format: "aws-cloudtrail", host: undefined },
  auth: { file: "auth.log", format: "sshd-auth", host: undefined },
  "zeek-conn": { file: "zeek-conn.log", format: "zeek", host: "sensor-1" },
} as const;
export type DemoStream = keyof typeof DEMO_STREAMS;

export interface DemoRecord {
  /** Event time, epoch ms. */
  t: number;
  stream: DemoStream;
  line: string;
  /** The intrusion step this record belongs to (benign records have none). */
  step?: string;
}

export interface DemoOptions {
  seed?: number;
  /** Event time of the first record. */
  start?: Date;
  /** Length of the benign background, minutes. */
  minutes?: number;
  /** Benign web requests per minute. */
  requestsPerMinute?: number;
  benign?: boolean;
  intrusion?: boolean;
}

/** What the intrusion did, for tests and the console's "what to look for" hint. */
export const INTRUSION_STEPS = [
  { id: "recon", what: "scanner burst against the storefront from the attacker's address", tactic: "reconnaissance" },
  { id: "sqli", what: "SQL injection through the storefront into the orders API and its database", tactic: "initial-access" },
  { id: "ssrf", what: "SSRF from the orders API to the cloud instance metadata service (role credentials stolen)", tactic: "credential-access" },
  { id: "cloud", what: "stolen role credentials used from the attacker's address: new access key, admin policy, CloudTrail stopped", tactic: "persistence" },
  { id: "ssh", what: "password guessing then a successful SSH login to the database host", tactic: "credential-access" },
  { id: "sudo", what: "sudo to a root shell and an SSH key planted for root", tactic: "privilege-escalation" },
  { id: "exfil", what: "a large upload from the database host to the attacker", tactic: "exfiltration" },
] as const;

export const DEMO_FACTS = {
  attackerIp: "203.0.113.66",
  account: "111122223333",
  region: "eu-west-1",
  hosts: { web: { name: "web-1", ip: "10.0.1.10" }, api: { name: "api-1", ip: "10.0.1.20" }, db: { name: "db-1", ip: "10.0.2.20" } },
  roleArn: "arn:aws:sts::111122223333:assumed-role/orders-api-role/i-0a1b2c3d4e5f60718",
  stolenKey: "ASIAXDEMOROLE0000001",
};

const rng = mulberry32;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
function nginxTime(t: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

const BROWSERS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
];
const PAGES = ["/", "/products", "/products/1042", "/products/2210", "/cart", "/checkout", "/static/app.js", "/static/app.css", "/images/hero.webp", "/search?q=running+shoes", "/account"];
const SCAN_PATHS = [
  "/.env", "/.git/config", "/wp-login.php", "/wp-admin/", "/phpmyadmin/", "/admin/", "/server-status", "/.aws/credentials", "/config.php.bak",
  "/backup.sql", "/actuator/env", "/api/v1/debug", "/.DS_Store", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/cgi-bin/luci", "/owa/", "/solr/admin/",
  "/static/../../../../etc/passwd", "/download?file=../../../../etc/shadow", "/.svn/entries", "/console", "/telescope/requests", "/xmlrpc.php",
];

class Ids {
  constructor(private readonly r: () => number) {}
  hex(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += Math.floor(this.r() * 16).toString(16);
    return s;
  }
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

interface SpanSpec {
  service: string;
  host: string;
  hostIp: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: 2 | 3; // server, client
  start: number;
  durMs: number;
  status?: number;
  attrs: Record<string, string | number>;
}

function otlpLine(spans: SpanSpec[]): string {
  const byService = new Map<string, SpanSpec[]>();
  for (const s of spans) byService.set(s.service, [...(byService.get(s.service) ?? []), s]);
  const resourceSpans = [...byService.entries()].map(([service, list]) => ({
    resource: {
      attributes: [
        { key: "service.name", value: { stringValue: service } },
        { key: "host.name", value: { stringValue: list[0].host } },
        { key: "host.ip", value: { arrayValue: { values: [{ stringValue: list[0].hostIp }] } } },
        { key: "cloud.provider", value: { stringValue: "aws" } },
        { key: "cloud.account.id", value: { stringValue: DEMO_FACTS.account } },
        { key: "cloud.region", value: { stringValue: DEMO_FACTS.region } },
        { key: "deployment.environment", value: { stringValue: "production" } },
      ],
    },
    scopeSpans: [
      {
        scope: { name: "io.opentelemetry.http", version: "1.40.0" },
        spans: list.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: `${BigInt(s.start) * 1_000_000n}`,
          endTimeUnixNano: `${BigInt(s.start + s.durMs) * 1_000_000n}`,
          attributes: Object.entries(s.attrs).map(([key, v]) => ({ key, value: typeof v === "number" ? { intValue: String(v) } : { stringValue: v } })),
          status: { code: (s.status ?? 200) >= 500 ? 2 : 0 },
        })),
      },
    ],
  }));
  return JSON.stringify({ resourceSpans });
}

function cloudtrail(t: number, ids: Ids, o: { name: string; source: string; ip: string; ua: string; identity: Record<string, unknown>; req?: Record<string, unknown> | null; resp?: Record<string, unknown> | null; readOnly?: boolean; error?: string }): string {
  return JSON.stringify({
    eventVersion: "1.09",
    userIdentity: o.identity,
    eventTime: new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z"),
    eventSource: o.source,
    eventName: o.name,
    awsRegion: DEMO_FACTS.region,
    sourceIPAddress: o.ip,
    userAgent: o.ua,
    ...(o.error ? { errorCode: o.error, errorMessage: `User is not authorized to perform ${o.name}` } : {}),
    requestParameters: o.req ?? null,
    responseElements: o.resp ?? null,
    requestID: ids.uuid(),
    eventID: ids.uuid(),
    readOnly: o.readOnly ?? false,
    eventType: "AwsApiCall",
    managementEvent: true,
    recipientAccountId: DEMO_FACTS.account,
    eventCategory: "Management",
  });
}

function syslog(t: number, host: string, app: string, pid: number, msg: string): string {
  const pri = app === "sshd" || app === "sudo" ? 86 : 38; // authpriv.info / auth.info
  return `<${pri}>1 ${new Date(t).toISOString()} ${host} ${app} ${pid} - - ${msg}`;
}

function zeekConn(t: number, ids: Ids, o: { src: string; sport: number; dst: string; dport: number; proto?: string; service?: string; dur: number; ob: number; rb: number; state?: string }): string {
  return JSON.stringify({
    ts: t / 1000,
    uid: "C" + ids.hex(17),
    "id.orig_h": o.src,
    "id.orig_p": o.sport,
    "id.resp_h": o.dst,
    "id.resp_p": o.dport,
    proto: o.proto ?? "tcp",
    ...(o.service ? { service: o.service } : {}),
    duration: o.dur,
    orig_bytes: o.ob,
    resp_bytes: o.rb,
    conn_state: o.state ?? "SF",
    local_orig: o.src.startsWith("10."),
    local_resp: o.dst.startsWith("10."),
    missed_bytes: 0,
    history: "ShADadFf",
    orig_pkts: Math.max(1, Math.round(o.ob / 1200)),
    orig_ip_bytes: o.ob + 40 * Math.max(1, Math.round(o.ob / 1200)),
    resp_pkts: Math.max(1, Math.round(o.rb / 1200)),
    resp_ip_bytes: o.rb + 40 * Math.max(1, Math.round(o.rb / 1200)),
  });
}

/** Generates the demo's records in event-time order. */
export function generateDemo(opts: DemoOptions = {}): DemoRecord[] {
  const r = rng(opts.seed ?? 7);
  const ids = new Ids(r);
  const start = (opts.start ?? new Date(Date.UTC(2026, 0, 15, 9, 0, 0))).getTime();
  const minutes = opts.minutes ?? 60;
  const rpm = opts.requestsPerMinute ?? 300;
  const out: DemoRecord[] = [];
  const H = DEMO_FACTS.hosts;
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const clients = Array.from({ length: 400 }, (_, i) => (i < 250 ? `198.51.100.${1 + (i % 250)}` : `192.0.2.${1 + (i % 150)}`)).map((ip, i) => ({ ip, ua: BROWSERS[i % BROWSERS.length] }));
  let pid = 20_000;

  /** One storefront request: nginx line, storefront server span, and for /api paths the orders API and its DB span. */
  const request = (t: number, client: { ip: string; ua: string }, method: string, target: string, status: number, bytes: number, step?: string, extra?: (trace: string, apiSpan: string, t: number) => SpanSpec[], db?: string) => {
    out.push({ t, stream: "web-access", line: `${client.ip} - - [${nginxTime(t)}] "${method} ${target} HTTP/1.1" ${status} ${bytes} "-" "${client.ua}"`, step });
    const trace = ids.hex(32);
    const front = ids.hex(16);
    const [path, query] = target.split("?");
    const spans: SpanSpec[] = [
      {
        service: "storefront", host: H.web.name, hostIp: H.web.ip, traceId: trace, spanId: front, name: `${method} ${path.startsWith("/api") ? path : "/*"}`, kind: 2, start: t, durMs: 40, status,
        attrs: { "http.request.method": method, "url.path": path, ...(query ? { "url.query": query } : {}), "url.scheme": "https", "client.address": client.ip, "http.response.status_code": status, "user_agent.original": client.ua, "server.address": "shop.example.com" },
      },
    ];
    if (path.startsWith("/api/")) {
      const call = ids.hex(16);
      const api = ids.hex(16);
      spans.push({ service: "storefront", host: H.web.name, hostIp: H.web.ip, traceId: trace, spanId: call, parentSpanId: front, name: `${method}`, kind: 3, start: t + 2, durMs: 30, status, attrs: { "http.request.method": method, "url.full": `http://orders-api.internal:8080${target}`, "server.address": "orders-api.internal", "http.response.status_code": status } });
      spans.push({
        service: "orders-api", host: H.api.name, hostIp: H.api.ip, traceId: trace, spanId: api, parentSpanId: call, name: `${method} ${path}`, kind: 2, start: t + 4, durMs: 25, status,
        attrs: { "http.request.method": method, "url.path": path, ...(query ? { "url.query": query } : {}), "client.address": H.web.ip, "http.response.status_code": status, "enduser.id": "" },
      });
      if (db) spans.push({ service: "orders-api", host: H.api.name, hostIp: H.api.ip, traceId: trace, spanId: ids.hex(16), parentSpanId: api, name: "SELECT orders", kind: 3, start: t + 6, durMs: 8, attrs: { "db.system": "postgresql", "db.name": "shop", "db.statement": db, "server.address": H.db.ip, "server.port": 5432 } });
      if (extra) spans.push(...extra(trace, api, t + 8));
    }
    out.push({ t, stream: "otlp-traces", line: otlpLine(spans), step });
  };

  if (opts.benign !== false) {
    // storefront traffic
    for (let m = 0; m < minutes; m++) {
      const n = Math.round(rpm * (0.8 + 0.4 * r()));
      for (let i = 0; i < n; i++) {
        const t = start + m * 60_000 + Math.floor(r() * 60_000);
        const c = pick(clients);
        const roll = r();
        if (roll < 0.25) {
          const id = 1000 + Math.floor(r() * 9000);
          request(t, c, "GET", `/api/orders?id=${id}`, 200, 512 + Math.floor(r() * 2048), undefined, undefined, "SELECT id, status, total FROM orders WHERE id = $1 AND customer_id = $2");
        } else if (roll < 0.3) {
          request(t, c, "POST", "/api/cart", 201, 128, undefined, undefined, "INSERT INTO cart_items (cart_id, product_id, qty) VALUES ($1, $2, $3)");
        } else if (roll < 0.305) {
          request(t, c, "GET", pick(["/favicon.ico", "/products/999999", "/old-sale"]), 404, 153);
        } else {
          request(t, c, "GET", pick(PAGES), r() < 0.1 ? 304 : 200, 1024 + Math.floor(r() * 40_000));
        }
      }
    }
    // cloud control plane: CI deploys, the API's role reading product images, an admin rotating her key
    const ci = { type: "IAMUser", principalId: "AIDAXDEMOCIDEPLOYER01", arn: `arn:aws:iam::${DEMO_FACTS.account}:user/ci-deployer`, accountId: DEMO_FACTS.account, accessKeyId: "AKIAXDEMOCIDEPLOY001", userName: "ci-deployer" };
    const role = { type: "AssumedRole", principalId: "AROAXDEMOORDERSAPI01:i-0a1b2c3d4e5f60718", arn: DEMO_FACTS.roleArn, accountId: DEMO_FACTS.account, accessKeyId: "ASIAXDEMOROLE0000002", sessionContext: { sessionIssuer: { type: "Role", principalId: "AROAXDEMOORDERSAPI01", arn: `arn:aws:iam::${DEMO_FACTS.account}:role/orders-api-role`, accountId: DEMO_FACTS.account, userName: "orders-api-role" }, attributes: { creationDate: new Date(start - 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z"), mfaAuthenticated: "false" } } };
    const alice = { type: "IAMUser", principalId: "AIDAXDEMOALICE000001", arn: `arn:aws:iam::${DEMO_FACTS.account}:user/alice`, accountId: DEMO_FACTS.account, accessKeyId: "AKIAXDEMOALICE000001", userName: "alice" };
    for (let m = 0; m < minutes; m += 2) {
      const t = start + m * 60_000 + Math.floor(r() * 60_000);
      out.push({ t, stream: "cloudtrail", line: cloudtrail(t, ids, { name: pick(["DescribeInstances", "DescribeSecurityGroups", "GetCallerIdentity"]), source: "ec2.amazonaws.com", ip: "192.0.2.200", ua: "aws-cli/2.17.0", identity: ci, readOnly: true }) });
      const t2 = start + m * 60_000 + Math.floor(r() * 60_000);
      out.push({ t: t2, stream: "cloudtrail", line: cloudtrail(t2, ids, { name: "GetObject", source: "s3.amazonaws.com", ip: H.api.ip, ua: "aws-sdk-java/2.25.0", identity: role, req: { bucketName: "shop-product-images", key: `img/${Math.floor(r() * 5000)}.webp` }, readOnly: true }) });
    }
    const rot = start + Math.floor(minutes * 0.3) * 60_000;
    out.push({ t: rot, stream: "cloudtrail", line: cloudtrail(rot, ids, { name: "CreateAccessKey", source: "iam.amazonaws.com", ip: "192.0.2.10", ua: "console.amazonaws.com", identity: alice, req: { userName: "alice" }, resp: { accessKey: { accessKeyId: "AKIAXDEMOALICE000002", status: "Active", userName: "alice" } } }) });
    out.push({ t: rot + 60_000, stream: "cloudtrail", line: cloudtrail(rot + 60_000, ids, { name: "DeleteAccessKey", source: "iam.amazonaws.com", ip: "192.0.2.10", ua: "console.amazonaws.com", identity: alice, req: { userName: "alice", accessKeyId: "AKIAXDEMOALICE000001" } }) });
    // admins on the Linux hosts: key logins, one password typo, routine sudo
    for (let m = 5; m < minutes; m += 11) {
      const t = start + m * 60_000;
      const host = pick([H.api.name, H.db.name, H.web.name]);
      const p = pid++;
      if (m % 3 === 0) out.push({ t: t - 4000, stream: "auth", line: syslog(t - 4000, host, "sshd", p, "Failed password for alice from 192.0.2.10 port 51122 ssh2") });
      out.push({ t, stream: "auth", line: syslog(t, host, "sshd", p, `Accepted publickey for alice from 192.0.2.10 port ${50000 + (m % 900)} ssh2: ED25519 SHA256:Qm9vZ2xlZWFsaWNla2V5ZmluZ2VycHJpbnQ`) });
      out.push({ t: t + 1, stream: "auth", line: syslog(t + 1, host, "sshd", p, "pam_unix(sshd:session): session opened for user alice(uid=1001) by (uid=0)") });
      out.push({ t: t + 30_000, stream: "auth", line: syslog(t + 30_000, host, "sudo", pid++, `   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl ${pick(["status", "restart", "reload"])} ${pick(["nginx", "postgresql", "orders-api"])}`) });
      out.push({ t: t + 600_000, stream: "auth", line: syslog(t + 600_000, host, "sshd", p, "pam_unix(sshd:session): session closed for user alice") });
    }
    // network flows seen by the sensor: package mirrors, backups to the internal backup server, DNS
    for (let m = 0; m < minutes; m++) {
      const t = start + m * 60_000 + Math.floor(r() * 60_000);
      const h = pick([H.web, H.api, H.db]);
      out.push({ t, stream: "zeek-conn", line: zeekConn(t, ids, { src: h.ip, sport: 40000 + Math.floor(r() * 20000), dst: pick(["151.101.2.132", "91.189.91.83", "185.125.190.36"]), dport: 443, service: "ssl", dur: 0.4 + r(), ob: 800 + Math.floor(r() * 3000), rb: 20_000 + Math.floor(r() * 900_000) }) });
      out.push({ t: t + 500, stream: "zeek-conn", line: zeekConn(t + 500, ids, { src: h.ip, sport: 50000 + Math.floor(r() * 10000), dst: "10.0.0.2", dport: 53, proto: "udp", service: "dns", dur: 0.01, ob: 60, rb: 120, state: "SF" }) });
      if (m % 15 === 7) out.push({ t: t + 900, stream: "zeek-conn", line: zeekConn(t + 900, ids, { src: H.db.ip, sport: 60000 + m, dst: "10.0.3.5", dport: 873, service: "rsync", dur: 95, ob: 600_000_000 + Math.floor(r() * 1e8), rb: 40_000 }) });
    }
  }

  if (opts.intrusion !== false) {
    const A = { ip: DEMO_FACTS.attackerIp, ua: "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))" };
    const t0 = start + Math.floor(minutes * 0.4) * 60_000;
    // 1. scanner burst
    for (let i = 0; i < 60; i++) request(t0 + i * 700, A, "GET", SCAN_PATHS[i % SCAN_PATHS.length], i % 7 === 3 ? 403 : 404, 153, "recon");
    // 2. SQL injection through the storefront into the API and the database
    const sqli = "id=1' UNION SELECT username, password_hash, email FROM customers--";
    const t1 = t0 + 4 * 60_000;
    request(t1, A, "GET", `/api/orders?${sqli.replace(/ /g, "%20").replace(/'/g, "%27")}`, 200, 48_211, "sqli", undefined, `SELECT id, status, total FROM orders WHERE id = '1' UNION SELECT username, password_hash, email FROM customers--' AND customer_id = $2`);
    // 3. SSRF to the instance metadata service: the API fetches the role's credentials for the attacker
    const t2 = t1 + 3 * 60_000;
    const imds = `http://169.254.169.254/latest/meta-data/iam/security-credentials/orders-api-role`;
    request(t2, A, "GET", `/api/export?format=pdf&template_url=${encodeURIComponent(imds)}`, 200, 1_310, "ssrf", (trace, parent, t) => [
      { service: "orders-api", host: H.api.name, hostIp: H.api.ip, traceId: trace, spanId: ids.hex(16), parentSpanId: parent, name: "GET", kind: 3, start: t, durMs: 3, attrs: { "http.request.method": "GET", "url.full": imds, "server.address": "169.254.169.254", "server.port": 80, "http.response.status_code": 200 } },
    ]);
    // 4. the stolen role credentials, used from the attacker's address
    const stolen = { type: "AssumedRole", principalId: "AROAXDEMOORDERSAPI01:i-0a1b2c3d4e5f60718", arn: DEMO_FACTS.roleArn, accountId: DEMO_FACTS.account, accessKeyId: DEMO_FACTS.stolenKey, sessionContext: { sessionIssuer: { type: "Role", principalId: "AROAXDEMOORDERSAPI01", arn: `arn:aws:iam::${DEMO_FACTS.account}:role/orders-api-role`, accountId: DEMO_FACTS.account, userName: "orders-api-role" }, attributes: { creationDate: new Date(t2).toISOString().replace(/\.\d{3}Z$/, "Z"), mfaAuthenticated: "false" } } };
    const ua = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023";
    const t3 = t2 + 2 * 60_000;
    const ct = (dt: number, name: string, source: string, req: Record<string, unknown> | null, resp?: Record<string, unknown> | null, readOnly = false) =>
      out.push({ t: t3 + dt, stream: "cloudtrail", line: cloudtrail(t3 + dt, ids, { name, source, ip: A.ip, ua, identity: stolen, req, resp: resp ?? null, readOnly }), step: "cloud" });
    ct(0, "GetCallerIdentity", "sts.amazonaws.com", null, null, true);
    ct(20_000, "ListBuckets", "s3.amazonaws.com", { Host: "s3.eu-west-1.amazonaws.com" }, null, true);
    ct(45_000, "CreateUser", "iam.amazonaws.com", { userName: "backup-svc" }, { user: { userName: "backup-svc", arn: `arn:aws:iam::${DEMO_FACTS.account}:user/backup-svc` } });
    ct(50_000, "CreateAccessKey", "iam.amazonaws.com", { userName: "backup-svc" }, { accessKey: { accessKeyId: "AKIAXDEMOBACKDOOR001", status: "Active", userName: "backup-svc" } });
    ct(55_000, "AttachUserPolicy", "iam.amazonaws.com", { userName: "backup-svc", policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" });
    ct(70_000, "StopLogging", "cloudtrail.amazonaws.com", { name: `arn:aws:cloudtrail:${DEMO_FACTS.region}:${DEMO_FACTS.account}:trail/management-events` });
    // 5. password guessing, then a successful SSH login to the database host
    const t4 = t3 + 4 * 60_000;
    const sp = pid++;
    for (let i = 0; i < 8; i++) out.push({ t: t4 + i * 2500, stream: "auth", line: syslog(t4 + i * 2500, H.db.name, "sshd", sp + i, `Failed password for deploy from ${A.ip} port ${41000 + i} ssh2`), step: "ssh" });
    const tOk = t4 + 8 * 2500;
    out.push({ t: tOk, stream: "auth", line: syslog(tOk, H.db.name, "sshd", sp + 9, `Accepted password for deploy from ${A.ip} port 41009 ssh2`), step: "ssh" });
    out.push({ t: tOk + 1, stream: "auth", line: syslog(tOk + 1, H.db.name, "sshd", sp + 9, "pam_unix(sshd:session): session opened for user deploy(uid=1002) by (uid=0)"), step: "ssh" });
    // 6. root shell and a planted key
    out.push({ t: tOk + 40_000, stream: "auth", line: syslog(tOk + 40_000, H.db.name, "sudo", pid++, "  deploy : TTY=pts/1 ; PWD=/home/deploy ; USER=root ; COMMAND=/bin/bash"), step: "sudo" });
    out.push({ t: tOk + 70_000, stream: "auth", line: syslog(tOk + 70_000, H.db.name, "sudo", pid++, "  deploy : TTY=pts/1 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/tee -a /root/.ssh/authorized_keys"), step: "sudo" });
    // 7. the customer database leaves for the attacker
    const t5 = tOk + 3 * 60_000;
    out.push({ t: t5, stream: "zeek-conn", line: zeekConn(t5, ids, { src: H.db.ip, sport: 52811, dst: A.ip, dport: 8443, service: "ssl", dur: 184.2, ob: 1_873_221_442, rb: 88_410 }), step: "exfil" });
  }
  out.sort((a, b) => a.t - b.t);
  return out;
}

/** The records of each stream as file contents (one record per line). */
export function demoFiles(records: readonly DemoRecord[]): Map<DemoStream, string> {
  const files = new Map<DemoStream, string[]>();
  for (const rec of records) {
    const list = files.get(rec.stream) ?? [];
    list.push(rec.line);
    files.set(rec.stream, list);
  }
  return new Map([...files.entries()].map(([k, v]) => [k, v.join("\n") + "\n"]));
}
