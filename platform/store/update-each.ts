// Read-modify-write of many documents: the store's own `updateMany` when it has one (Elasticsearch: one
// mget and one bulk), else `update` per id with bounded concurrency (the embedded store, test doubles).

import type { Collection, Doc, Store, UpdateManyOptions } from "./types.ts";

/** `store.update` for every id (results in the order of `ids`); `fn` may run more than once for an id. */
export async function updateEach(store: Store, collection: Collection, ids: string[], fn: (id: string, current: Doc | null) => Doc | null, opts: UpdateManyOptions & { concurrency?: number } = {}): Promise<(Doc | null)[]> {
  if (ids.length === 0) {
    opts.beforeWrite?.();
    return [];
  }
  if (store.updateMany) return store.updateMany(collection, ids, fn, { beforeWrite: opts.beforeWrite, absent: opts.absent });
  const concurrency = opts.concurrency ?? 8;
  const out: (Doc | null)[] = new Array(ids.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      out[i] = await store.update(collection, ids[i], (cur) => fn(ids[i], cur));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  opts.beforeWrite?.();
  return out;
}
