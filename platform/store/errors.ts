// Errors the stores throw beyond plain SigilErrors: documents refused by put, with which and why.
import { SigilError } from "../errors.ts";
import type { PutResult, RejectedDoc } from "./types.ts";

/**
 * Thrown by `put` after the storable documents were written: lists each refused document (its
 * position, id, code and reason) so the caller can dead-letter exactly those and go on.
 */
export class StoreRejectError extends SigilError {
  readonly rejected: RejectedDoc[];
  readonly result: PutResult;

  constructor(collection: string, rejected: RejectedDoc[], result: PutResult) {
    const first = rejected[0];
    super(
      "store_doc_rejected",
      `${rejected.length} ${collection} document(s) could not be stored; first: ${first.id ? `id ${first.id}` : `item ${first.index}`}: ${first.code}: ${first.reason}`,
      { hint: "send the rejected documents to the dead-letter topic with their reasons; the others were written", exitCode: 2 },
    );
    this.name = "StoreRejectError";
    this.rejected = rejected;
    this.result = result;
  }
}

export function isStoreRejectError(e: unknown): e is StoreRejectError {
  return e instanceof StoreRejectError;
}
