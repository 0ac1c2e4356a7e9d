// The Elasticsearch store behind its circuit breaker, against a scripted HTTP peer: a node that keeps
// answering 503 opens the circuit, later writes fail at once without a request (store_circuit_open),
// and the first write after the cool-down is a trial that closes it again when the node recovered.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SigilError } from "../errors.ts";
import { ElasticsearchStore } from "../store/elasticsearch.ts";

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function flakyEs(): Promise<{ url: string; state: { down: boolean; bulkRequests: number } }> {
  const state = { down: false, bulkRequests: 0 };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const url = req.url ?? "";
      let out: { status: number; body: unknown };
      if (url.startsWith("/_nodes/_local")) out = { status: 200, body: { nodes: { n1: { version: "8.19.0" } } } };
      else if (url === "/" || url.startsWith("/?")) out = { status: 405, body: { error: "no GET /", status: 405 } };
      else if (url.startsWith("/_index_template/")) out = { status: 200, body: { acknowledged: true } };
      else if (url.startsWith("/_cat/indices")) out = { status: 200, body: [] };
      else if (url.startsWith("/_bulk")) {
        state.bulkRequests++;
        const n = body.split("\n").filter(Boolean).length / 2;
        out = state.down ? { status: 503, body: { error: { type: "unavailable", reason: "node is restarting" }, status: 503 } } : { status: 200, body: { errors: false, items: Array.from({ length: n }, () => ({ create: { status: 201 } })) } };
      } else out = { status: 404, body: { error: "not scripted" } };
      res.writeHead(out.status, { "content-type": "application/json", "x-elastic-product": "Elasticsearch" });
      res.end(JSON.stringify(out.body));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

const ev = (id: string) => ({ "@timestamp": "2026-01-01T00:00:00Z", event: { id, kind: "event", dataset: "t" } });

describe("elasticsearch store: circuit breaker", () => {
  it("opens after consecutive failures, refuses without a request, and closes after a successful trial", async () => {
    const es = await flakyEs();
    const store = new ElasticsearchStore({ node: es.url, indexPrefix: "t-", maxRetries: 0, backoffMs: 1, maxBackoffMs: 2, retentionIntervalS: 0, breaker: { failureThreshold: 3, openMs: 150, maxOpenMs: 1000 } });
    await store.init();
    await store.put("events", [ev("a")]);
    es.state.down = true;
    for (let i = 0; i < 3; i++) {
      const err = await store.put("events", [ev(`b${i}`)]).catch((e) => e);
      expect((err as SigilError).code).toBe("store_unavailable");
    }
    expect(store.breaker.state).toBe("open");
    const sent = es.state.bulkRequests;
    const refused = await store.put("events", [ev("c")]).catch((e) => e);
    expect(refused).toBeInstanceOf(SigilError);
    expect((refused as SigilError).code).toBe("store_circuit_open");
    expect((refused as SigilError).message).toContain("node is restarting");
    expect(es.state.bulkRequests).toBe(sent); // refused without touching the node
    es.state.down = false;
    await new Promise((r) => setTimeout(r, 200));
    expect(await store.put("events", [ev("d")])).toEqual({ created: 1, existing: 0 });
    expect(store.breaker.state).toBe("closed");
    await store.close();
  });

  it("lets a request already under way finish its own retries (the error names the node, not the circuit)", async () => {
    const es = await flakyEs();
    es.state.down = true;
    const store = new ElasticsearchStore({ node: es.url, indexPrefix: "t-", maxRetries: 4, backoffMs: 1, maxBackoffMs: 2, retentionIntervalS: 0, breaker: { failureThreshold: 2, openMs: 10_000 } });
    await store.init();
    const err = await store.put("events", [ev("x")]).catch((e) => e);
    expect((err as SigilError).code).toBe("store_unavailable");
    expect(es.state.bulkRequests).toBe(5);
    expect(store.breaker.describe().ok).toBe(false);
    await store.close();
  });
});
