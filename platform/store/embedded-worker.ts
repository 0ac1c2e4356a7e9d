// A reader worker of the embedded store: runs searches, counts, histograms and terms on its own
// read-only SQLite connection, so long queries never block the main thread's event loop.
import { parentPort, workerData } from "node:worker_threads";
import { SigilError } from "../errors.ts";
import { QueryEngine, openDb } from "./embedded-db.ts";
import type { WorkerRequest, WorkerResponse } from "./embedded-worker-protocol.ts";

const { file, cacheMb } = workerData as { file: string; cacheMb: number };
const db = openDb(file, { readonly: true, cacheMb });
const engine = new QueryEngine(db);

parentPort!.on("message", (m: WorkerRequest) => {
  let res: WorkerResponse;
  try {
    let result: unknown;
    switch (m.op) {
      case "search":
        result = engine.search(m.collection, m.req);
        break;
      case "count":
        result = engine.count(m.collection, m.req);
        break;
      case "histogram":
        result = engine.histogram(m.collection, m.req, m.intervalMs ?? 0);
        break;
      case "terms":
        result = engine.terms(m.collection, m.req, m.field ?? "", m.size ?? 0);
        break;
    }
    res = { id: m.id, ok: true, result };
  } catch (err) {
    const e = err as SigilError;
    res = {
      id: m.id,
      ok: false,
      error: { name: e.name, code: e instanceof SigilError ? e.code : "store_query_failed", message: String(e.message ?? e), hint: e.hint, location: e.location, exitCode: e instanceof SigilError ? e.exitCode : 1 },
    };
  }
  parentPort!.postMessage(res);
});
