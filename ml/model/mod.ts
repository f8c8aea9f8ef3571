// The GPT model: public entry points.
export type { Decoder, GptConfig, GptModel, NamedTensor, StepResult, AdamWConfig, Optimizer } from "./types.ts";
export { createGpt, Gpt, type CreateGptOptions } from "./gpt.ts";
export { ModelBusyError } from "./errors.ts";
export { validateGptConfig } from "./config.ts";
export { InvalidModelConfigError } from "./errors.ts";
export { gptParameterLayout, blockParameterLayout, decaysWeight, elementCount, type ParameterSpec, type InitKind } from "./param-layout.ts";
export { modelFlopsPerToken } from "./flops.ts";
export {
  blockBackward,
  blockDecode,
  blockForward,
  blockTensors,
  ONE_RANK,
  type BlockContext,
  type BlockScratch,
  type BlockShape,
  type BlockTensors,
  type DecodeBuffers,
  type LayerCache,
  type TpMapping,
} from "./block.ts";
export { InferenceContext, type InferenceContextShape } from "./inference-context.ts";
export { KernelStream } from "./kernel-stream.ts";
export { Activations, type LayerActivations } from "./activations.ts";
export { ParameterStore } from "./parameter-store.ts";
export { tensorKey } from "./init.ts";
