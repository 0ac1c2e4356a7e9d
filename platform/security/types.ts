// Contracts of Sigil's own security: who an agent token belongs to, and how receivers verify it.

/** A verified agent token: what a receiver learns from a valid bearer token. */
export interface TokenInfo {
  id: string;
  name: string;
  scopes: string[];
  /** Events per second this token may send; 0 = the configured default. */
  rate_limit_eps: number;
}

export interface TokenVerifier {
  /** The token's info when the bearer secret is valid, unrevoked and carries `scope`; else null. */
  verify(bearer: string, scope: string): Promise<TokenInfo | null>;
}
