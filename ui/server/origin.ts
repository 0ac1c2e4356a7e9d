// Which origins may send state-changing requests and open the live WebSocket: the configured public
// origin, else the console's own address as the browser names it (scheme://Host). On a loopback
// listener only loopback host names are accepted, which defeats DNS-rebinding pages.

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

export class OriginPolicy {
  private readonly fixed: string | null;

  constructor(opts: { publicOrigin: string | null; tls: boolean; loopbackOnly: boolean }, private readonly o = opts) {
    this.fixed = opts.publicOrigin ? new URL(opts.publicOrigin).origin : null;
  }

  /** True when `origin` (the Origin header) may act on this console reached via `host` (the Host header). */
  allows(origin: string | null | undefined, host: string | null | undefined): boolean {
    if (!origin || origin === "null") return false;
    if (this.fixed) return origin === this.fixed;
    if (!host) return false;
    const scheme = this.o.tls ? "https" : "http";
    if (origin !== `${scheme}://${host}`) return false;
    if (this.o.loopbackOnly) {
      const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
      return LOOPBACK_NAMES.has(name.toLowerCase());
    }
    return true;
  }
}
