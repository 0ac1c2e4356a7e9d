// Sigil's own security: TLS with reload, dev certificates, agent tokens, rate limits, replay guard, audit log.
export * from "./types.ts";
export * from "./tls.ts";
export * from "./tokens.ts";
export * from "./limits.ts";
export * from "./audit.ts";
export { createDevCerts, type DevCertFiles, type DevCertOptions } from "./certs.ts";
