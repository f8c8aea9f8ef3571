// Continuing a run from a checkpoint, on one rank or many: whether the checkpoint may continue under the current
// config (the model, the data and the seeds that decide every batch and weight must be the ones that run used),
// and where the loop then starts.
import type { CheckpointManifest } from "../checkpoint/manifest.ts";
import type { TrainConfig } from "./config.ts";
import { ResumeError } from "./errors.ts";
import type { LoopStart } from "./loop.ts";

/** Throws ResumeError naming the first difference; `tokenizer` (when known here) must be the file that run used. */
export function checkResumable(
  dir: string,
  manifest: CheckpointManifest,
  config: TrainConfig,
  tokenizer?: { file: string; sha256?: string },
): void {
  const saved = manifest.config as Partial<TrainConfig> | undefined;
  const same = (field: string, then: unknown, now: unknown) => {
    if (JSON.stringify(then) !== JSON.stringify(now)) {
      throw new ResumeError(
        `cannot resume from ${dir}: \`${field}\` was ${JSON.stringify(then)} in that run and is ${JSON.stringify(now)} now`,
      );
    }
  };
  same("model", saved?.model, config.model);
  same("data.vocabSize", saved?.data?.vocabSize, config.data.vocabSize);
  same("data.corpus", saved?.data?.corpus, config.data.corpus);
  same("data.heldOutPerGenre", saved?.data?.heldOutPerGenre, config.data.heldOutPerGenre);
  same("data.seed", saved?.data?.seed, config.data.seed);
  same("seed", manifest.seed, config.seed);
  const savedTokenizer = manifest.data.tokenizerSha256;
  if (savedTokenizer && tokenizer?.sha256 && savedTokenizer !== tokenizer.sha256) {
    throw new ResumeError(
      `cannot resume from ${dir}: the tokenizer (${tokenizer.file}) differs from the one that run used (sha256 mismatch)`,
    );
  }
}

/** The loop's start at the checkpoint in `dir`: its progress and the figures it recorded. */
export function startFrom(dir: string, manifest: CheckpointManifest): LoopStart {
  return {
    progress: { step: manifest.step, tokensSeen: manifest.tokensSeen, samplesSeen: manifest.samplesSeen },
    checkpointDir: dir,
    lastLoss: manifest.metrics.loss,
    lastValLoss: manifest.metrics.valLoss,
  };
}
