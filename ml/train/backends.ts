// What a training run needs from the data and compute layers, as one small interface each, so the
// run itself (run.ts) is written once against them.
import type { GptConfig, GptModel, Optimizer } from "../model/types.ts";
import type { TrainConfig } from "./config.ts";
import type { TrainingData } from "./types.ts";

export interface PreparedCorpus {
  /** Hugging Face tokenizer.json used for this data. */
  tokenizerFile: string;
  /** Unigram entropy of the training tokens, nats per token: the loss of the best context-free model. */
  unigramEntropy: number;
  data: TrainingData;
  encode(text: string): number[];
  decode(tokens: readonly number[]): string;
  /** Token that starts a prompt (end-of-text/document separator), if the tokenizer has one. */
  startToken?: number;
  /** One line for the user: documents, tokens, whether the cache was used. */
  summary: string;
}

export interface TrainBackends {
  prepareCorpus(config: TrainConfig): Promise<PreparedCorpus>;
  createModel(config: GptConfig, seed: number): Promise<GptModel> | GptModel;
  createOptimizer(model: GptModel, config: TrainConfig["optimizer"]): Optimizer;
  /** BLAS threads for this process. */
  setThreads?(n: number): void;
}
