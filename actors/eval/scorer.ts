// Log-likelihood of continuations under a GptModel. Each request becomes one row of the model's
// window: context + continuation, cut on the left to seqLen+1 tokens, inputs = all but the last,
// targets = all but the first, padded on the right (causal attention: padding cannot change earlier
// positions). Rows are batched through `tokenLogProbs`. Greedy checks need whole logits rows, so they
// run through the model's KV-cache decoder, a batch of rows at a time.
import type { GptModel } from "../model/types.ts";
import { argmax } from "../generate/sampling.ts";
import type { LoglikelihoodRequest, LoglikelihoodResult } from "./types.ts";

export interface ScoreOptions {
  /** Rows per forward pass (default 8). */
  batch?: number;
  /** Also report whether every continuation token is the model's argmax. */
  greedy?: boolean;
}

interface Row {
  tokens: number[]; // at most seqLen + 1
  continuationLength: number;
  truncated: boolean;
}

function toRow(request: LoglikelihoodRequest, seqLen: number, index: number): Row {
  const m = request.continuation.length;
  if (m === 0) throw new RangeError(`request ${index}: the continuation has no tokens`);
  if (request.context.length === 0) {
    throw new RangeError(`request ${index}: the context has no tokens (start it with the end-of-text token)`);
  }
  if (m > seqLen) throw new RangeError(`request ${index}: continuation of ${m} tokens exceeds the context window of ${seqLen}`);
  const full = [...request.context, ...request.continuation];
  const cut = Math.max(0, full.length - (seqLen + 1));
  return { tokens: full.slice(cut), continuationLength: m, truncated: cut > 0 };
}

async function loglikelihoods(model: GptModel, rows: Row[], batch: number): Promise<number[]> {
  const seqLen = model.config.seqLen;
  const width = Math.min(batch, rows.length);
  const out: number[] = [];
  for (let start = 0; start < rows.length; start += width) {
    const inputs = new Int32Array(width * seqLen);
    const targets = new Int32Array(width * seqLen);
    const group = rows.slice(start, start + width);
    group.forEach((row, r) => {
      const n = row.tokens.length - 1;
      for (let i = 0; i < n; i++) {
        inputs[r * seqLen + i] = row.tokens[i];
        targets[r * seqLen + i] = row.tokens[i + 1];
      }
    });
    const logProbs = await model.tokenLogProbs(inputs, targets, width);
    group.forEach((row, r) => {
      const n = row.tokens.length - 1;
      let sum = 0;
      for (let i = n - row.continuationLength; i < n; i++) sum += logProbs[r * seqLen + i];
      out.push(sum);
    });
  }
  return out;
}

/**
 * Whether every continuation token is the argmax of its position, for all rows. Rows of similar length
 * share one batched decoder: shorter rows are padded on the right, which causal attention keeps from
 * affecting their earlier positions.
 */
async function greedyFlags(model: GptModel, rows: Row[], batch: number): Promise<boolean[]> {
  const flags = new Array<boolean>(rows.length).fill(true);
  const order = rows.map((_, i) => i).sort((a, b) => rows[a].tokens.length - rows[b].tokens.length);
  const width = Math.min(batch, rows.length);
  const decoder = model.createDecoder(width);
  const vocab = model.config.vocabSize;
  const tokens = new Int32Array(width);
  for (let start = 0; start < order.length; start += width) {
    const group = order.slice(start, start + width);
    const steps = Math.max(...group.map((i) => rows[i].tokens.length - 1));
    decoder.reset();
    for (let t = 0; t < steps; t++) {
      tokens.fill(0);
      group.forEach((i, r) => {
        if (t < rows[i].tokens.length - 1) tokens[r] = rows[i].tokens[t];
      });
      const logits = await decoder.step(tokens);
      group.forEach((i, r) => {
        const n = rows[i].tokens.length - 1;
        if (t < n - rows[i].continuationLength || t >= n || !flags[i]) return;
        if (argmax(logits.subarray(r * vocab, (r + 1) * vocab)) !== rows[i].tokens[t + 1]) flags[i] = false;
      });
    }
  }
  return flags;
}

/** Score every request; results are in request order. */
export async function scoreRequests(
  model: GptModel,
  requests: readonly LoglikelihoodRequest[],
  options: ScoreOptions = {},
): Promise<LoglikelihoodResult[]> {
  const batch = options.batch ?? 8;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive whole number, got ${batch}`);
  if (requests.length === 0) return [];
  const rows = requests.map((r, i) => toRow(r, model.config.seqLen, i));
  const lls = await loglikelihoods(model, rows, batch);
  const greedy = options.greedy ? await greedyFlags(model, rows, batch) : undefined;
  return rows.map((row, i) => ({
    logLikelihood: lls[i],
    truncated: row.truncated,
    ...(greedy ? { greedy: greedy[i] } : {}),
  }));
}
