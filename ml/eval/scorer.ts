// Log-likelihood of continuations under a model. Each request becomes one row of the model's
// window: context + continuation, cut on the left to seqLen+1 tokens, inputs = all but the last,
// targets = all but the first, padded on the right (causal attention: padding cannot change earlier
// positions). Rows are batched through `tokenLogProbs`. Greedy checks need whole logits rows, so on a
// single-process GptModel they run through its KV-cache decoder, a batch of rows at a time; a model
// that scores targets in parallel (actors/inference) reports log-probabilities and argmax flags at once.
import type { GptModel } from "../model/types.ts";
import { argmax } from "../generate/sampling.ts";
import type { LoglikelihoodRequest, LoglikelihoodResult, ScoringModel, TargetScorer } from "./types.ts";

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

function isTargetScorer(model: ScoringModel): model is TargetScorer {
  return "tokenScores" in model;
}

/**
 * Batches a parallel model scores at once: its pipeline stages then work on different batches at the same
 * time (each worker takes requests in arrival order). A single-process model takes one call at a time.
 */
const BATCHES_IN_FLIGHT = 4;

/** Sum of the continuation's log-probabilities of every row, and (with a TargetScorer) its greedy flag. */
async function loglikelihoods(model: ScoringModel, rows: Row[], batch: number): Promise<{ sums: number[]; greedy?: boolean[] }> {
  const seqLen = model.config.seqLen;
  const width = Math.min(batch, rows.length);
  const out: number[] = [];
  const greedy: boolean[] = [];
  const scoreGroup = async (group: Row[]) => {
    const inputs = new Int32Array(width * seqLen);
    const targets = new Int32Array(width * seqLen);
    group.forEach((row, r) => {
      const n = row.tokens.length - 1;
      for (let i = 0; i < n; i++) {
        inputs[r * seqLen + i] = row.tokens[i];
        targets[r * seqLen + i] = row.tokens[i + 1];
      }
    });
    const scores: { logProbs: Float32Array; isArgmax?: Uint8Array } = isTargetScorer(model)
      ? await model.tokenScores(inputs, targets, width)
      : { logProbs: await model.tokenLogProbs(inputs, targets, width) };
    return group.map((row, r) => {
      const n = row.tokens.length - 1;
      let sum = 0;
      let all = true;
      for (let i = n - row.continuationLength; i < n; i++) {
        sum += scores.logProbs[r * seqLen + i];
        if (scores.isArgmax && !scores.isArgmax[r * seqLen + i]) all = false;
      }
      return { sum, all };
    });
  };
  const groups: Row[][] = [];
  for (let start = 0; start < rows.length; start += width) groups.push(rows.slice(start, start + width));
  const inFlight = isTargetScorer(model) ? BATCHES_IN_FLIGHT : 1;
  for (let g = 0; g < groups.length; g += inFlight) {
    for (const scored of await Promise.all(groups.slice(g, g + inFlight).map(scoreGroup))) {
      for (const { sum, all } of scored) {
        out.push(sum);
        greedy.push(all);
      }
    }
  }
  return isTargetScorer(model) ? { sums: out, greedy } : { sums: out };
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
  model: ScoringModel,
  requests: readonly LoglikelihoodRequest[],
  options: ScoreOptions = {},
): Promise<LoglikelihoodResult[]> {
  const batch = options.batch ?? 8;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive whole number, got ${batch}`);
  if (requests.length === 0) return [];
  const rows = requests.map((r, i) => toRow(r, model.config.seqLen, i));
  const lls = await loglikelihoods(model, rows, batch);
  const greedy = !options.greedy ? undefined : (lls.greedy ?? (await greedyFlags(model as GptModel, rows, batch))); // GptModel when lls.greedy is absent
  return rows.map((row, i) => ({
    logLikelihood: lls.sums[i],
    truncated: row.truncated,
    ...(greedy ? { greedy: greedy[i] } : {}),
  }));
}
