// Checks a GptConfig before any memory is allocated; the error names the field, the value and what is allowed.
import { InvalidModelConfigError } from "./errors.ts";
import type { GptConfig } from "./types.ts";

export function validateGptConfig(config: GptConfig): GptConfig {
  for (const field of ["vocabSize", "seqLen", "layers", "dModel", "heads"] as const) {
    const v = config[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 1 << 24) {
      throw new InvalidModelConfigError(`model.${field} = ${String(v)}: must be an integer in [1, 16777216]`);
    }
  }
  if (config.dModel % config.heads !== 0) {
    throw new InvalidModelConfigError(`model.dModel = ${config.dModel}: must be a multiple of model.heads (${config.heads})`);
  }
  return { vocabSize: config.vocabSize, seqLen: config.seqLen, layers: config.layers, dModel: config.dModel, heads: config.heads };
}
