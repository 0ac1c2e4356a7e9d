// Development certificates: a local CA and server and client certificates signed by it, for TLS and
// mTLS in development and tests (`sigil certs dev`). Never for production: keys are written unencrypted.

import "reflect-metadata"; // @peculiar/x509 (tsyringe) needs it, and it must load first
import fs from "node:fs";
import path from "node:path";
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface DevCertFiles {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export interface DevCertOptions {
  /** Extra DNS names or IPs for the server certificate (localhost, 127.0.0.1 and ::1 are always in). */
  hosts?: string[];
  /** Common name of the client certificate (the agent's identity for mTLS). */
  clientName?: string;
  validDays?: number;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString("hex").replace(/^[89a-f]/, "1");
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  return pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as webcrypto.CryptoKey));
}

/** Creates (or overwrites) a dev CA, a server certificate and a client certificate in `dir`. */
export async function createDevCerts(dir: string, opts: DevCertOptions = {}): Promise<DevCertFiles> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const notBefore = new Date(Date.now() - DAY);
  const notAfter = new Date(Date.now() + (opts.validDays ?? 825) * DAY);

  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=Sigil Development CA, O=Sigil",
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const leaf = async (cn: string, usage: string, names: string[]) => {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([usage], false),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ];
    if (names.length) {
      extensions.push(new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n }))));
    }
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${cn}, O=Sigil`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALG,
      extensions,
    });
    return { cert: cert.toString("pem") + "\n", key: await keyPem(keys) };
  };

  const hosts = [...new Set(["localhost", "127.0.0.1", "::1", ...(opts.hosts ?? [])])];
  const server = await leaf(hosts[0], x509.ExtendedKeyUsage.serverAuth, hosts);
  const client = await leaf(opts.clientName ?? "sigil-agent", x509.ExtendedKeyUsage.clientAuth, []);

  const files: DevCertFiles = {
    dir,
    caCert: path.join(dir, "ca.pem"),
    caKey: path.join(dir, "ca-key.pem"),
    serverCert: path.join(dir, "server.pem"),
    serverKey: path.join(dir, "server-key.pem"),
    clientCert: path.join(dir, "client.pem"),
    clientKey: path.join(dir, "client-key.pem"),
  };
  const write = (f: string, data: string, mode: number) => {
    fs.writeFileSync(f, data, { mode });
    fs.chmodSync(f, mode);
  };
  write(files.caCert, ca.toString("pem") + "\n", 0o644);
  write(files.caKey, await keyPem(caKeys), 0o600);
  write(files.serverCert, server.cert, 0o644);
  write(files.serverKey, server.key, 0o600);
  write(files.clientCert, client.cert, 0o644);
  write(files.clientKey, client.key, 0o600);
  return files;
}
