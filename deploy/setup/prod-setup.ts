// The compose "prod" profile's one-shot setup container (Elastic's setup-container pattern): checks the
// secrets in .env, creates a private CA and the service certificates on first start (unless you put
// your own in the certs volume), signals readiness so Kafka and Elasticsearch can start, then creates
// the Elasticsearch role and user Sigil writes with, and exits.
// Run by docker-compose.yml as: node --import tsx deploy/setup/prod-setup.ts

import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { createDevCerts } from "../../platform/security/certs.ts";

const CERTS = process.env.SIGIL_CERTS_DIR ?? "/certs";
const ES_URL = process.env.SIGIL_SETUP_ES_URL ?? "https://elasticsearch:9200";
/** uid/gid the Elasticsearch, Kafka and Sigil images run as (elasticsearch, appuser, node); group 0 as Elastic's images use. */
const OWNER = { uid: 1000, gid: 0 };

function fail(message: string): never {
  process.stderr.write(`sigil setup: ${message}\n`);
  process.exit(1);
}

function log(message: string): void {
  process.stdout.write(`sigil setup: ${message}\n`);
}

function requireSecret(name: string): string {
  const v = process.env[name] ?? "";
  if (v.length < 12) fail(`${name} is ${v ? "shorter than 12 characters" : "not set"}; set it in .env (see deploy/compose.env.example)`);
  return v;
}

async function ensureCerts(): Promise<void> {
  const ca = path.join(CERTS, "ca.pem");
  if (fs.existsSync(ca)) log(`using the certificates in ${CERTS}`);
  else {
    log(`creating a private CA and certificates in ${CERTS}`);
    await createDevCerts(CERTS, { hosts: ["kafka", "elasticsearch", "ingest", "console", "correlate"], clientName: "sigil-agent" });
  }
  for (const f of ["server.pem", "server-key.pem"]) if (!fs.existsSync(path.join(CERTS, f))) fail(`${path.join(CERTS, f)} is missing next to ca.pem`);
  // Kafka reads its key and certificate chain from one PEM file.
  fs.writeFileSync(path.join(CERTS, "kafka-keystore.pem"), fs.readFileSync(path.join(CERTS, "server-key.pem"), "utf8") + fs.readFileSync(path.join(CERTS, "server.pem"), "utf8"));
  fs.chownSync(CERTS, OWNER.uid, OWNER.gid);
  fs.chmodSync(CERTS, 0o750);
  for (const f of fs.readdirSync(CERTS)) {
    const p = path.join(CERTS, f);
    fs.chownSync(p, OWNER.uid, OWNER.gid);
    fs.chmodSync(p, f === "ca-key.pem" ? 0o600 : f.endsWith("key.pem") || f === "kafka-keystore.pem" ? 0o640 : 0o644);
  }
}

function request(method: string, urlPath: string, auth: string, body?: unknown): Promise<{ status: number; text: string }> {
  const url = new URL(urlPath, ES_URL);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca: fs.readFileSync(path.join(CERTS, "ca.pem")),
        headers: { authorization: `Basic ${Buffer.from(auth).toString("base64")}`, "content-type": "application/json" },
        timeout: 10_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

async function ensureEsUser(elasticPassword: string, sigilPassword: string): Promise<void> {
  const auth = `elastic:${elasticPassword}`;
  const deadline = Date.now() + 5 * 60_000;
  let last = "";
  for (let delay = 1000; ; delay = Math.min(delay * 2, 10_000)) {
    try {
      const r = await request("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s", auth);
      if (r.status === 200) break;
      last = `HTTP ${r.status} ${r.text.slice(0, 200)}`;
      if (r.status === 401) fail(`Elasticsearch rejected the elastic user's password (ELASTIC_PASSWORD); it is fixed when the data volume is first created`);
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) fail(`Elasticsearch at ${ES_URL} did not become ready: ${last}`);
    log(`waiting for Elasticsearch at ${ES_URL} (${last})`);
    await new Promise((r) => setTimeout(r, delay));
  }
  const role = await request("PUT", "/_security/role/sigil_writer", auth, {
    cluster: ["monitor", "manage_index_templates"],
    indices: [{ names: ["sigil-*"], privileges: ["all"] }],
  });
  if (role.status >= 300) fail(`cannot create the Elasticsearch role sigil_writer: HTTP ${role.status} ${role.text.slice(0, 300)}`);
  const user = await request("PUT", "/_security/user/sigil", auth, { password: sigilPassword, roles: ["sigil_writer"], full_name: "Sigil roles" });
  if (user.status >= 300) fail(`cannot create the Elasticsearch user sigil: HTTP ${user.status} ${user.text.slice(0, 300)}`);
  log("Elasticsearch user sigil (role sigil_writer on sigil-*) is ready");
}

const elasticPassword = requireSecret("ELASTIC_PASSWORD");
const sigilEsPassword = requireSecret("SIGIL_ES_PASSWORD");
requireSecret("SIGIL_KAFKA_PASSWORD");
requireSecret("SIGIL_METRICS_TOKEN");
await ensureCerts();
fs.writeFileSync(path.join(CERTS, ".ready"), new Date().toISOString() + "\n");
log("certificates ready; Kafka and Elasticsearch may start");
await ensureEsUser(elasticPassword, sigilEsPassword);
