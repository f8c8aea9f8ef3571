// The text samples at the end of a distributed run: the final checkpoint (any layout assembles into whole
// tensors) loaded into one single-process model, continued by the single-rank trainer's sampling code.
import path from "node:path";
import { pathToFileURL } from "node:url";
import { copyTensorsInto, loadCheckpoint } from "../../ml/checkpoint/store.ts";
import type { TrainBackends } from "../../ml/train/backends.ts";
import type { TrainConfig } from "../../ml/train/config.ts";
import { sampleContinuations } from "../../ml/train/run.ts";

export interface FinalSamples {
  samples: { prompt: string; continuation: string }[];
  /** unigram entropy of the training tokens (nats/token), for the closing comparison */
  unigramEntropy: number;
}

/** The workers' backends in this process: the default ones, or `createBackends()` of a module (tests). */
export async function coordinatorBackends(module: string | undefined): Promise<TrainBackends> {
  if (module === undefined) return (await import("../../ml/train/default-backends.ts")).defaultBackends();
  const mod = (await import(pathToFileURL(path.resolve(module)).href)) as { createBackends?: () => TrainBackends };
  if (typeof mod.createBackends !== "function") throw new Error(`backends module ${module} does not export createBackends()`);
  return mod.createBackends();
}

export async function finalSamples(config: TrainConfig, checkpointDir: string, backends: TrainBackends): Promise<FinalSamples> {
  const corpus = await backends.prepareCorpus(config);
  const model = await backends.createModel({ ...config.model, vocabSize: config.data.vocabSize }, config.seed);
  copyTensorsInto(model.parameters(), loadCheckpoint(checkpointDir).params, `checkpoint ${checkpointDir} (model)`);
  return { samples: await sampleContinuations(model, corpus, config), unigramEntropy: corpus.unigramEntropy };
}
