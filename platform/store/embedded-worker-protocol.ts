// Messages between the embedded store and its reader workers.
import type { Location } from "../errors.ts";
import type { Collection, SearchRequest } from "./types.ts";

export interface WorkerRequest {
  id: number;
  op: "search" | "count" | "histogram" | "terms";
  collection: Collection;
  req: SearchRequest;
  intervalMs?: number;
  field?: string;
  size?: number;
}

export type WorkerResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { name: string; code: string; message: string; hint?: string; location?: Location; exitCode: 1 | 2 } };
