// A checkpoint as a ready model: weights reassembled on one process, the GPT built to the recorded
// shape, and the tokenizer the checkpoint names.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { loadTokenizer as loadBpeTokenizer } from "../data/mod.ts";
import { createGpt } from "../model/mod.ts";
import type { GptModel } from "../model/types.ts";
import { ByteTokenizer } from "./byte-tokenizer.ts";
import { CheckpointLoadError } from "./errors.ts";
import type { CheckpointManifest } from "../checkpoint/manifest.ts";
import type { GptConfig } from "../model/types.ts";
import { loadCheckpointWeights, loadWeightsInto, modelConfigOf, readCheckpointHeader, type CheckpointWeights } from "./load-checkpoint.ts";
import type { TextTokenizer } from "./types.ts";

/** Tokenizer file name meaning "one token per byte" (ByteTokenizer), for models trained without BPE. */
export const BYTES_TOKENIZER = "bytes";

export interface LoadedModel {
  model: GptModel;
  tokenizer: TextTokenizer;
  /** The end-of-text token id, when the tokenizer has one. */
  endOfText?: number;
  weights: CheckpointWeights;
}

/** Where a relative tokenizer path may be: beside the checkpoint, its root, the run directory, or cwd. */
export function resolveTokenizerFile(file: string, checkpointDir: string): string {
  if (path.isAbsolute(file)) {
    if (existsSync(file)) return file;
    throw new CheckpointLoadError(`tokenizer ${file} (named by the checkpoint) does not exist; pass --tokenizer FILE`);
  }
  const places = [checkpointDir, path.dirname(checkpointDir), path.dirname(path.dirname(checkpointDir)), process.cwd()];
  for (const dir of places) {
    const candidate = path.join(dir, file);
    if (existsSync(candidate)) return candidate;
  }
  throw new CheckpointLoadError(`tokenizer ${file} not found beside the checkpoint, in its parent folders or here; pass --tokenizer FILE`);
}

/**
 * The tokenizer the checkpoint names (or `override`). A named file must still be the one trained
 * with: when the manifest records its sha256, a changed file is refused (a cache may be rebuilt).
 */
function loadTokenizer(
  weights: { dir: string; manifest: CheckpointManifest },
  override: string | undefined,
): { tokenizer: TextTokenizer; endOfText?: number } {
  const file = override ?? weights.manifest.data.tokenizerFile;
  if (file === BYTES_TOKENIZER) {
    const bytes = new ByteTokenizer();
    return { tokenizer: bytes, endOfText: bytes.endOfText };
  }
  const resolved = resolveTokenizerFile(file, weights.dir);
  const expected = weights.manifest.data.tokenizerSha256;
  if (override === undefined && expected !== undefined) {
    const actual = createHash("sha256").update(readFileSync(resolved)).digest("hex");
    if (actual !== expected) {
      throw new CheckpointLoadError(
        `tokenizer ${resolved} is not the one this checkpoint was trained with (sha256 differs from the manifest's); pass --tokenizer FILE to use it anyway`,
      );
    }
  }
  const bpe = loadBpeTokenizer(resolved);
  return { tokenizer: bpe, endOfText: bpe.eotId };
}

/** What a checkpoint is, without its weights: for drivers of parallel workers that load their own shards. */
export interface CheckpointHeader {
  /** The step folder. */
  dir: string;
  manifest: CheckpointManifest;
  config: GptConfig;
  tokenizer: TextTokenizer;
  endOfText?: number;
}

export function loadCheckpointHeader(checkpoint: string, options: { tokenizerFile?: string } = {}): CheckpointHeader {
  const header = readCheckpointHeader(checkpoint);
  const config = modelConfigOf(header);
  const { tokenizer, endOfText } = loadTokenizer(header, options.tokenizerFile);
  const tokenizerVocab = (tokenizer as { vocabSize?: number }).vocabSize;
  if (tokenizerVocab !== undefined && tokenizerVocab > config.vocabSize) {
    throw new CheckpointLoadError(`the tokenizer has ${tokenizerVocab} tokens but the model only ${config.vocabSize}; wrong --tokenizer?`);
  }
  return { ...header, config, tokenizer, endOfText };
}

export async function loadModel(checkpoint: string, options: { tokenizerFile?: string; seed?: number } = {}): Promise<LoadedModel> {
  const { config, tokenizer, endOfText } = loadCheckpointHeader(checkpoint, options);
  const weights = loadCheckpointWeights(checkpoint);
  const model = await createGpt(config, { seed: options.seed ?? 0 });
  loadWeightsInto(model, weights);
  return { model, tokenizer, endOfText, weights };
}
