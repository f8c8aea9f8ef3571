// Task metrics from per-example scores, as lm-evaluation-harness defines them:
// acc (argmax of summed log-likelihood), acc_norm (argmax of log-likelihood per character of the
// choice), completion accuracy (every target token greedy) and perplexity exp(-mean log-likelihood).

/** Mean and standard error of the mean (sample standard deviation / sqrt(n)). */
export function meanWithStderr(values: readonly number[]): { mean: number; stderr: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, stderr: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, stderr: NaN };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return { mean, stderr: Math.sqrt(variance / n) };
}

/** First index of the largest value. */
function argmaxOf(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

export interface ChoiceScores {
  logLikelihoods: number[]; // one per choice
  choiceLengths: number[]; // characters of each choice text
  label: number;
}

/** Which choice wins by raw and by length-normalised log-likelihood. */
export function pickChoice(scores: ChoiceScores): { raw: number; normalised: number } {
  const perChar = scores.logLikelihoods.map((ll, i) => ll / Math.max(1, scores.choiceLengths[i]));
  return { raw: argmaxOf(scores.logLikelihoods), normalised: argmaxOf(perChar) };
}

export function multipleChoiceMetrics(examples: readonly ChoiceScores[]): Record<string, number> {
  const correct = examples.map((ex) => Number(pickChoice(ex).raw === ex.label));
  const correctNorm = examples.map((ex) => Number(pickChoice(ex).normalised === ex.label));
  const acc = meanWithStderr(correct);
  const accNorm = meanWithStderr(correctNorm);
  return { acc: acc.mean, acc_stderr: acc.stderr, acc_norm: accNorm.mean, acc_norm_stderr: accNorm.stderr };
}

export interface CompletionScore {
  logLikelihood: number; // of the target word
  greedy: boolean; // every target token was the argmax
}

export function completionMetrics(examples: readonly CompletionScore[]): Record<string, number> {
  const acc = meanWithStderr(examples.map((ex) => Number(ex.greedy)));
  const meanLl = examples.reduce((a, ex) => a + ex.logLikelihood, 0) / examples.length;
  return { acc: acc.mean, acc_stderr: acc.stderr, ppl: Math.exp(-meanLl) };
}
