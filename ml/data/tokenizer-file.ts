// Saving and loading tokenizer.json files.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { BpeTokenizer } from "./bpe-tokenizer.ts";
import { DataFileError } from "./errors.ts";
import { parseTokenizerJson } from "./tokenizer-json.ts";

/** Writes the Hugging Face tokenizer.json (under a temporary name, renamed when whole). */
export function saveTokenizer(tokenizer: BpeTokenizer, path: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(tokenizer.toJSON()));
  renameSync(tmp, path);
}

/** Loads a byte-level BPE tokenizer.json; a missing or malformed file throws a DataFileError naming it. */
export function loadTokenizer(path: string): BpeTokenizer {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new DataFileError(path, `cannot read tokenizer JSON (${(cause as Error).message})`, { cause });
  }
  try {
    const { model, special } = parseTokenizerJson(doc);
    return new BpeTokenizer(model, special);
  } catch (cause) {
    throw new DataFileError(path, (cause as Error).message, { cause });
  }
}
