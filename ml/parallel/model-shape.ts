// The sizes that parallel planning needs from a GPT-2 model: parameters per shard and work per layer.
import { InvalidLayoutError } from "./errors.ts";

export interface ModelShape {
  layers: number;
  /** hidden size h */
  dModel: number;
  /** context length s */
  seqLen: number;
  /** vocabulary V (tied input/output embedding) */
  vocabSize: number;
}

export function validateModelShape(m: ModelShape): void {
  for (const [k, v] of Object.entries(m)) {
    if (!Number.isInteger(v) || v < 1) throw new InvalidLayoutError(`model ${k} must be a positive integer, got ${String(v)}`);
  }
}

/**
 * Parameters of one transformer layer held by one of `tp` shards. QKV and fc1 are column-parallel (weights and
 * biases split), attention-out and fc2 row-parallel (weights split, biases replicated), LayerNorms replicated:
 * 12h²/tp + 7h/tp + 6h; with tp = 1 that is GPT-2's 12h² + 13h.
 */
function layerShardParams(h: number, tp: number): number {
  return (12 * h * h + 7 * h) / tp + 6 * h;
}

/** Vocabulary rows per shard of the vocab-parallel embedding (Megatron pads V up to a multiple of tp). */
function vocabShardRows(vocabSize: number, tp: number): number {
  return Math.ceil(vocabSize / tp);
}

/**
 * Parameters held by one rank of stage `stage` (of `stages`) carrying `layersOnStage` layers.
 * The first stage holds the token embedding shard and the positions; the last stage holds the final LayerNorm
 * and, when it is not also the first stage, its own copy of the tied embedding shard for the head.
 */
export function stageShardParams(m: ModelShape, tp: number, stage: number, stages: number, layersOnStage: number): number {
  const h = m.dModel;
  let n = layersOnStage * layerShardParams(h, tp);
  const wte = vocabShardRows(m.vocabSize, tp) * h;
  if (stage === 0) n += wte + m.seqLen * h;
  if (stage === stages - 1) n += 2 * h + (stages > 1 ? wte : 0);
  return n;
}

/** Forward FLOPs per token: one transformer layer (24h² + 4sh: GEMMs plus attention scores and mix). */
export function layerFlopsPerToken(m: ModelShape): number {
  return 24 * m.dModel * m.dModel + 4 * m.seqLen * m.dModel;
}

/** Forward FLOPs per token of the LM head (logits over the vocabulary) and of the embedding lookup. */
export function headFlopsPerToken(m: ModelShape): number {
  return 2 * m.dModel * m.vocabSize;
}

export function embeddingFlopsPerToken(m: ModelShape): number {
  return 2 * m.dModel; // token + position add; tiny but not zero
}

/** Every parameter of the model, unsharded (GPT-2 with a tied embedding): L(12h² + 13h) + Vh + sh + 2h. */
export function modelParams(m: ModelShape): number {
  return stageShardParams(m, 1, 0, 1, m.layers);
}

/**
 * Model FLOPs of training on one token, the MFU convention (PaLM appendix B; Megatron-LM's 72·B·s·l·h² formula per
 * token): 6N for the parameters' forward and backward GEMMs plus 12·L·s·h for attention's scores and mix. What the
 * model needs, not what the hardware ran: recomputation and padding do not count.
 */
export function modelFlopsPerToken(m: ModelShape): number {
  return 6 * modelParams(m) + 12 * m.layers * m.seqLen * m.dModel;
}
