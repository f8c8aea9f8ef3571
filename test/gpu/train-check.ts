// Training on a backend: a few steps of the tiny example's model compared with another backend, and GPT-2 124M
// throughput (tokens/s, MFU). Tokens are seeded random ids: the check needs no corpus.
import type { Backend } from "../../native/backend.ts";
import { createGpt, modelFlopsPerToken } from "../../ml/model/mod.ts";
import type { GptConfig } from "../../ml/model/types.ts";
import { createAdamW } from "../../ml/optim/mod.ts";
import { rng } from "../native/random.ts";

/** examples/brown-tiny.yaml's model (its vocabulary size), optimizer and peak learning rate. */
export const TINY: GptConfig = { layers: 4, dModel: 128, heads: 4, seqLen: 128, vocabSize: 2048 };
export const GPT2_124M: GptConfig = { layers: 12, dModel: 768, heads: 12, seqLen: 1024, vocabSize: 50257 };

function tokens(config: GptConfig, batch: number, seed: number): { inputs: Int32Array; targets: Int32Array } {
  const rand = rng(seed),
    n = batch * config.seqLen;
  const ids = Int32Array.from({ length: n + 1 }, () => Math.floor(rand() * config.vocabSize));
  return { inputs: ids.subarray(0, n), targets: ids.slice(1) };
}

/** Losses of `steps` AdamW steps from the same seed, and the final parameters (downloaded). */
export async function trainSteps(
  backend: Backend,
  config: GptConfig,
  batch: number,
  steps: number,
): Promise<{ losses: number[]; params: Float32Array }> {
  const model = await createGpt(config, { seed: 1234, backend });
  const opt = createAdamW(model, { beta2: 0.95, weightDecay: 0.1 }, backend);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const { inputs, targets } = tokens(config, batch, 100 + s);
    await model.zeroGrad();
    losses.push((await model.forwardBackward(inputs, targets, batch, 1)).loss);
    await opt.step(0.003, 1);
  }
  await backend.download([model.store.flatParams]);
  return { losses, params: Float32Array.from(model.store.flatParams) };
}

export interface Throughput {
  steps: number;
  stepSeconds: number;
  tokensPerSecond: number;
  modelFlopsPerSecond: number;
  loss: number;
  params: number;
}

/** Trains for about `seconds` after two warm-up steps; the median step time gives the rates. */
export async function throughput(backend: Backend, config: GptConfig, batch: number, seconds: number): Promise<Throughput> {
  const model = await createGpt(config, { seed: 1234, backend });
  const opt = createAdamW(model, {}, backend);
  const { inputs, targets } = tokens(config, batch, 7);
  const times: number[] = [];
  let loss = 0;
  const started = performance.now();
  for (let s = 0; s < 3 || performance.now() - started < seconds * 1000; s++) {
    const t = performance.now();
    await model.zeroGrad();
    loss = (await model.forwardBackward(inputs, targets, batch, 1)).loss;
    await opt.step(1e-4, 1);
    if (s >= 2) times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  const stepSeconds = times[Math.floor(times.length / 2)]!;
  const tokensPerSecond = (batch * config.seqLen) / stepSeconds;
  return {
    steps: times.length,
    stepSeconds,
    tokensPerSecond,
    modelFlopsPerSecond: tokensPerSecond * modelFlopsPerToken(config),
    loss,
    params: model.parameterCount(),
  };
}
