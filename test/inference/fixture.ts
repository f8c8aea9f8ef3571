// Shared by the inference tests: a tiny GPT trained for a few steps on one repeated sentence (so greedy
// continuations are varied and often right), saved twice — as a single-rank checkpoint and as a sharded one
// with layout pp 2 × tp 2 — and requests to score, in byte tokens (vocabulary 260: the byte tokenizer's 257).
import { writeCheckpointShard, type ShardDescription } from "../../ml/checkpoint/shard-files.ts";
import { buildManifest, type CheckpointInfo } from "../../ml/checkpoint/build-manifest.ts";
import { commitCheckpoint, prepareStagingDir, saveCheckpoint } from "../../ml/checkpoint/store.ts";
import { extractShard } from "../../ml/checkpoint/tensor-blocks.ts";
import { ByteTokenizer } from "../../ml/eval/byte-tokenizer.ts";
import type { LoglikelihoodRequest } from "../../ml/eval/types.ts";
import { createGpt } from "../../ml/model/mod.ts";
import { gptParameterLayout } from "../../ml/model/param-layout.ts";
import type { GptConfig, GptModel } from "../../ml/model/types.ts";
import { createAdamW } from "../../ml/optim/mod.ts";
import { rankShards, type ShardLayout } from "../../ml/parallel/shard-spec.ts";

export const TINY: GptConfig = { vocabSize: 260, seqLen: 32, layers: 4, dModel: 64, heads: 4 };
export const SENTENCE = "the cat sat on the mat. ";
const bytes = new ByteTokenizer();
export const encode = (text: string): number[] => Array.from(bytes.encode(text));

/** The tiny model after `steps` AdamW steps on windows of the repeated sentence. */
export async function trainedTinyModel(steps = 120, lr = 3e-3): Promise<GptModel> {
  const model = await createGpt(TINY, { seed: 11 });
  const opt = createAdamW(model, {});
  const text = encode(SENTENCE.repeat(20));
  const batch = 4,
    n = batch * TINY.seqLen;
  for (let s = 0; s < steps; s++) {
    const inputs = new Int32Array(n),
      targets = new Int32Array(n);
    for (let b = 0; b < batch; b++) {
      const at = (s * 7 + b * 5) % SENTENCE.length;
      for (let i = 0; i < TINY.seqLen; i++) {
        inputs[b * TINY.seqLen + i] = text[at + i]!;
        targets[b * TINY.seqLen + i] = text[at + i + 1]!;
      }
    }
    await model.zeroGrad();
    await model.forwardBackward(inputs, targets, batch, 1);
    await opt.step(lr, 1);
  }
  return model;
}

const info: CheckpointInfo = {
  step: 120,
  tokensSeen: 0,
  samplesSeen: 0,
  seed: 11,
  data: { tokenizerFile: "bytes", seed: 1, nextSample: 0 },
  config: { model: TINY },
  optimizerStepCount: 120,
};

/** Saves the model as a single-rank checkpoint under `root`; returns the step folder. */
export function saveSingle(model: GptModel, root: string): string {
  return saveCheckpoint(root, { ...info, params: model.parameters(), optimizerState: [] }, { keep: 1 });
}

/** Saves the model as a sharded pp × tp checkpoint (one file per stage and TP rank) under `root`. */
export function saveSharded(model: GptModel, root: string, pp: number, tp: number): string {
  const specs = gptParameterLayout(TINY);
  const layout: ShardLayout = { pp, tp, heads: TINY.heads, layersPerStage: Array.from({ length: pp }, () => TINY.layers / pp) };
  const whole = new Map(model.parameters().map((t) => [t.name, t.data]));
  const staging = prepareStagingDir(root, info.step);
  const shards: ShardDescription[] = [];
  for (let stage = 0; stage < pp; stage++)
    for (let tpRank = 0; tpRank < tp; tpRank++) {
      const params = rankShards(specs, layout, { stage, tpRank }).map((s) => ({
        name: s.name,
        shape: s.localShape,
        data: extractShard(whole.get(s.name)!, s),
      }));
      const globalShapes = new Map(specs.map((p) => [p.name, p.shape]));
      shards.push(
        writeCheckpointShard(
          staging,
          { coord: { stage, tpRank }, params, optimizerState: [], step: info.step, optimizerStepCount: info.step },
          layout,
          globalShapes,
        ),
      );
    }
  const manifest = buildManifest(info, { dp: 1, pp, tp, layersPerStage: [...layout.layersPerStage] }, shards);
  return commitCheckpoint(root, manifest, info.step, { keep: 1 });
}

/** Contexts and continuations: some the model gets right greedily, some it does not, one cut on the left. */
export function scoringRequests(): LoglikelihoodRequest[] {
  const pairs: [string, string][] = [
    ["the cat sat on the", " mat."],
    ["the cat sat on the", " dog."],
    ["the cat", " sat"],
    ["the cat", " ran"],
    ["mat. the cat sat", " on the mat"],
    [SENTENCE.repeat(3) + "the cat sat", " on"], // longer than the window: cut on the left
    ["x", "y"],
  ];
  return pairs.map(([context, continuation]) => ({ context: encode(context), continuation: encode(continuation) }));
}
