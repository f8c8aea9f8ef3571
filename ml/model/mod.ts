// The GPT model: public entry points.
export type { Decoder, GptConfig, GptModel, NamedTensor, StepResult, AdamWConfig, Optimizer } from "./types.ts";
export { createGpt, Gpt, ModelBusyError, type CreateGptOptions } from "./gpt.ts";
export { validateGptConfig, InvalidModelConfigError } from "./config.ts";
export { gptParameterLayout, blockParameterLayout, decaysWeight, elementCount, type ParameterSpec, type InitKind } from "./param-layout.ts";
export { modelFlopsPerToken } from "./flops.ts";
export { blockForward, blockBackward, blockTensors, type BlockShape, type BlockTensors, type BlockScratch } from "./block.ts";
export { Activations, type LayerActivations } from "./activations.ts";
export { ParameterStore } from "./parameter-store.ts";
export { tensorKey } from "./init.ts";
