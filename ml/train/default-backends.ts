// The real backends of `troupe train`: the Brown data pipeline, the native GPT and AdamW.
import path from "node:path";
import { openPreparedData, prepareData, sampleBatch, validationBatches, type Batch, type PreparedData } from "../data/mod.ts";
import { createGpt } from "../model/mod.ts";
import { createAdamW } from "../optim/mod.ts";
import { setBlasThreads } from "../../native/mod.ts";
import type { PreparedCorpus, TrainBackends } from "./backends.ts";
import type { TrainConfig } from "./config.ts";
import type { TrainingData } from "./types.ts";

export const DEFAULT_DATA_CACHE = path.join(".troupe", "data");

/** A folder written by `troupe data` (or the Brown cache); its vocabulary must fit the model's. */
function openCurated(config: TrainConfig): PreparedData {
  const dir = path.resolve(config.data.dir!);
  const data = openPreparedData(dir);
  if (data.tokenizer.vocabSize > config.data.vocabSize) {
    throw new Error(
      `data.vocabSize is ${config.data.vocabSize} but the tokenizer in ${dir} has ${data.tokenizer.vocabSize} tokens: set data.vocabSize to at least that`,
    );
  }
  return data;
}

async function prepareCorpus(config: TrainConfig, onStage?: (text: string) => void): Promise<PreparedCorpus> {
  const started = performance.now();
  let lastStage = "";
  const data =
    config.data.corpus === "prepared"
      ? openCurated(config)
      : await prepareData({
          cacheDir: path.resolve(config.data.cacheDir ?? DEFAULT_DATA_CACHE),
          vocabSize: config.data.vocabSize,
          split: { validPerGenre: config.data.heldOutPerGenre, seed: config.data.seed },
          onProgress: (p) => {
            if (p.stage !== lastStage) onStage?.(`  ${(lastStage = p.stage)}...`);
          },
        });
  const { seqLen } = config.model;
  const { microBatch } = config.batch;
  // The held-out batches are fixed: the first eval.batches micro-batches of the validation windows.
  const held: Batch[] = [];
  for (const b of validationBatches(data.valid, { seqLen, batchSize: microBatch, maxBatches: config.eval.batches })) held.push(b);
  if (held.length === 0)
    throw new Error(`the validation split has fewer than ${seqLen + 1} tokens: hold out more documents (data.heldOutPerGenre)`);
  const trainingData: TrainingData = {
    trainBatch: (first, count) => sampleBatch(data.train, { seqLen, seed: config.seed, firstSample: first, count }),
    validationBatch: (index, count) => {
      const b = held[index % held.length];
      if (b.count !== count) throw new RangeError(`validation batch ${index} has ${b.count} sequences, asked for ${count}`);
      return b;
    },
  };
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  return {
    tokenizerFile: data.tokenizerPath,
    unigramEntropy: data.unigramEntropyNats,
    data: trainingData,
    encode: (text) => data.tokenizer.encode(text),
    decode: (tokens) => data.tokenizer.decode(tokens),
    startToken: data.tokenizer.eotId,
    summary:
      `${data.trainDocumentIds.length} training / ${data.validDocumentIds.length} held-out documents, ` +
      `${data.train.tokenCount.toLocaleString("en-US")} / ${data.valid.tokenCount.toLocaleString("en-US")} tokens, ` +
      `${held.length} validation batches; ${data.cacheHit ? "from cache" : "prepared"} in ${seconds}s (${data.dir})`,
  };
}

export function defaultBackends(onStage?: (text: string) => void): TrainBackends {
  return {
    prepareCorpus: (config) => prepareCorpus(config, onStage),
    createModel: (config, seed) => createGpt(config, { seed }),
    createOptimizer: (model, o) => createAdamW(model, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay }),
    setThreads: (n) => setBlasThreads(n),
  };
}
