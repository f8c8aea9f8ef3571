// Whether a checkpoint can continue under the current config: the model, the data and the seeds
// that decide every batch and weight must be the ones that run used (as the single-rank trainer checks).
import type { CheckpointManifest } from "../../ml/checkpoint/manifest.ts";
import { ResumeError } from "../../ml/train/errors.ts";
import type { TrainConfig } from "../../ml/train/config.ts";

export function checkResumable(dir: string, manifest: CheckpointManifest, config: TrainConfig): void {
  const saved = manifest.config as Partial<TrainConfig> | undefined;
  const same = (field: string, then: unknown, now: unknown) => {
    if (JSON.stringify(then) !== JSON.stringify(now)) {
      throw new ResumeError(`cannot resume from ${dir}: \`${field}\` was ${JSON.stringify(then)} in that run and is ${JSON.stringify(now)} now`);
    }
  };
  same("model", saved?.model, config.model);
  same("data.corpus", saved?.data?.corpus, config.data.corpus);
  same("data.vocabSize", saved?.data?.vocabSize, config.data.vocabSize);
  same("data.heldOutPerGenre", saved?.data?.heldOutPerGenre, config.data.heldOutPerGenre);
  same("data.seed", saved?.data?.seed, config.data.seed);
  same("seed", manifest.seed, config.seed);
}
