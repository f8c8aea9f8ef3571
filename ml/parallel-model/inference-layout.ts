// Which (dp, pp, tp) layouts a model can run inference in, checked before any worker is started, with the
// reason in one line. dp replicas each hold the whole model as pp × tp workers and take different batches.
import type { GptConfig } from "../model/types.ts";
import { InferenceError } from "./errors.ts";

export interface InferenceLayout {
  /** replicas (default 1) */
  dp?: number;
  pp: number;
  tp: number;
}

export function checkInferenceLayout(config: GptConfig, layout: InferenceLayout): void {
  const { pp, tp, dp = 1 } = layout;
  if (!Number.isInteger(dp) || dp < 1) throw new InferenceError(`--dp must be a whole number >= 1, got ${dp}`);
  if (!Number.isInteger(tp) || tp < 1) throw new InferenceError(`--tp must be a whole number >= 1, got ${tp}`);
  if (!Number.isInteger(pp) || pp < 1) throw new InferenceError(`--pp must be a whole number >= 1, got ${pp}`);
  if (config.heads % tp !== 0)
    throw new InferenceError(
      `--tp ${tp}: the model's ${config.heads} attention heads cannot be split evenly over ${tp} tensor-parallel ranks`,
    );
  if (config.vocabSize % tp !== 0)
    throw new InferenceError(
      `--tp ${tp}: the model's vocabulary of ${config.vocabSize} tokens cannot be split evenly over ${tp} tensor-parallel ranks`,
    );
  if (pp > config.layers) throw new InferenceError(`--pp ${pp}: the model has only ${config.layers} layers, one stage needs at least one`);
}
