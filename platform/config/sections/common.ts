// Shared config building blocks: TLS options for every listener and client, durations, secrets.
import { z } from "zod";

/** A TLS listener or client. Off by default on loopback; certificates are read from files and reloaded on change. */
export const tlsSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    cert_file: z.string().nullable().default(null),
    key_file: z.string().nullable().default(null),
    ca_file: z.string().nullable().default(null),
    /** Listener only: ask for (optional) or require (required) a client certificate: mTLS. */
    client_auth: z.enum(["none", "optional", "required"]).default("none"),
    min_version: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.3"),
    /** Client only: verify the server certificate. */
    verify: z.boolean().default(true),
  })
  .prefault({});
export type TlsConfig = z.infer<typeof tlsSchema>;

/** A secret is read from a file or an environment variable, never written in clear in the config file. */
export const secretSchema = z
  .strictObject({
    file: z.string().nullable().default(null),
    env: z.string().nullable().default(null),
  })
  .prefault({});
export type SecretRef = z.infer<typeof secretSchema>;

export const portSchema = z.number().int().min(0).max(65535);
export const hostSchema = z.string().min(1);
