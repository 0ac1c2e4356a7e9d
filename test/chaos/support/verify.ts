// What the chaos suite checks, read straight from Elasticsearch's REST API (not through Sigil's store
// code, so a store bug cannot hide a loss): the sequence numbers of the stored events, the correlation
// hits of each attack and the alerts on each attack's host.

export class EsReader {
  constructor(
    readonly url: string,
    readonly prefix: string,
  ) {}

  private async req<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }

  private index(collection: string): string {
    return `${this.prefix}${collection}*`;
  }

  async refresh(): Promise<void> {
    await this.req("POST", `/${this.prefix}*/_refresh?ignore_unavailable=true&allow_no_indices=true`);
  }

  /** Every stored document of a collection (its _id and the fields asked for), by scrolling. */
  async all(collection: string, fields: string[], query: unknown = { match_all: {} }): Promise<{ id: string; source: Record<string, unknown> }[]> {
    const out: { id: string; source: Record<string, unknown> }[] = [];
    type Page = { _scroll_id?: string; hits: { hits: { _id: string; _source: Record<string, unknown> }[] } };
    let page = await this.req<Page>("POST", `/${this.index(collection)}/_search?scroll=1m&ignore_unavailable=true&allow_no_indices=true`, { size: 10_000, _source: fields, sort: ["_doc"], query });
    const ids: string[] = [];
    for (;;) {
      for (const h of page.hits.hits) out.push({ id: h._id, source: h._source });
      if (page._scroll_id) ids.push(page._scroll_id);
      if (page.hits.hits.length === 0 || !page._scroll_id) break;
      page = await this.req<Page>("POST", "/_search/scroll", { scroll: "1m", scroll_id: page._scroll_id });
    }
    if (ids.length) await this.req("DELETE", "/_search/scroll", { scroll_id: [...new Set(ids)] }).catch(() => undefined);
    return out;
  }

  /**
   * How many stored events carry each sequence number (process.pid). `docs` counts the load's events
   * (those with a sequence number); `others` the rest by dataset (the console's own sign-in events,
   * dataset sigil.audit, are events too).
   */
  async eventSeqs(): Promise<{ docs: number; bySeq: Map<number, number>; others: Record<string, number> }> {
    const docs = await this.all("events", ["process.pid", "event.dataset"]);
    const bySeq = new Map<number, number>();
    const others: Record<string, number> = {};
    let n = 0;
    for (const d of docs) {
      const pid = (d.source.process as { pid?: number } | undefined)?.pid;
      if (typeof pid === "number") {
        bySeq.set(pid, (bySeq.get(pid) ?? 0) + 1);
        n++;
      } else {
        const ds = String((d.source.event as { dataset?: string } | undefined)?.dataset ?? "none");
        others[ds] = (others[ds] ?? 0) + 1;
      }
    }
    return { docs: n, bySeq, others };
  }

  /** Correlation hits of one rule, by the address they are about. */
  async hitsByIp(ruleName: string): Promise<Map<string, string[]>> {
    const docs = await this.all("signals", ["rule.name", "rule.id", "source.ip", "signal.type"], { term: { "rule.name": ruleName } });
    const out = new Map<string, string[]>();
    for (const d of docs) {
      const ip = (d.source.source as { ip?: string } | undefined)?.ip ?? "?";
      out.set(ip, [...(out.get(ip) ?? []), d.id]);
    }
    return out;
  }

  /** Alerts by every host they name. */
  async alertsByHost(): Promise<{ total: number; byHost: Map<string, string[]> }> {
    const docs = await this.all("alerts", ["entities.hosts", "status", "merged_into"]);
    const byHost = new Map<string, string[]>();
    for (const d of docs) {
      if (d.source.merged_into) continue; // closed as a duplicate of the chain it merged into
      for (const h of ((d.source.entities as { hosts?: string[] } | undefined)?.hosts ?? [])) byHost.set(h, [...(byHost.get(h) ?? []), d.id]);
    }
    return { total: docs.length, byHost };
  }
}

/** Sequence numbers in 1..upTo that are missing, and those stored more than once (by distinct ids). */
export function compareSeqs(bySeq: Map<number, number>, upTo: number): { missing: number[]; duplicated: number[]; extra: number[] } {
  const missing: number[] = [];
  const duplicated: number[] = [];
  for (let s = 1; s <= upTo; s++) {
    const n = bySeq.get(s) ?? 0;
    if (n === 0) missing.push(s);
    else if (n > 1) duplicated.push(s);
  }
  const extra = [...bySeq.keys()].filter((s) => s < 1 || !Number.isInteger(s));
  return { missing, duplicated, extra };
}

/** A short description of a list of numbers for assertion messages: "12 (3, 4, 5, ...)". */
export function sample(xs: number[]): string {
  return `${xs.length}${xs.length ? ` (${xs.slice(0, 8).join(", ")}${xs.length > 8 ? ", ..." : ""})` : ""}`;
}
