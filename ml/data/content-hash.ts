// Content hash keying the prepared-data cache: any change to the documents, tokenizer settings,
// split settings or on-disk format gives a different key.
import { createHash } from "node:crypto";
import type { CorpusDocument } from "./types.ts";

/** Bump when the tokenizer, dataset layout or tokenization rules change. */
export const PREPARED_FORMAT_VERSION = 1;

export function preparedDataHash(docs: readonly CorpusDocument[], settings: object): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ format: PREPARED_FORMAT_VERSION, settings }));
  for (const d of docs) {
    // Length-prefixed fields, so no two different corpora serialize the same.
    for (const field of [d.id, d.genre, d.text]) {
      const bytes = Buffer.from(field, "utf8");
      h.update(`${bytes.byteLength}:`);
      h.update(bytes);
    }
  }
  return h.digest("hex");
}
