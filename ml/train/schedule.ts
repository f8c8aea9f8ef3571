// Pure schedules, all expressed in tokens (MT-NLG style).
//
// LR: linear warmup from 0 to `peak` over `warmupTokens`, then half a cosine from `peak` down to
// `minRatio · peak` at `decayTokens`, flat after that. A step uses the LR at the token count it
// reaches (tokens seen after the step), so the first step never has LR 0.
//   lrAt({peak: 1e-3, warmupTokens: 1000, decayTokens: 11000, minRatio: 0.1}, 500)   = 5e-4
//   ... at 1000 → 1e-3, at 6000 → 5.5e-4 (halfway down the cosine), at 11000 and after → 1e-4
//
// Batch ramp-up (Megatron `--rampup-batch-size start incr samples`): the range start→final is split into
// (final - start) / incr increments, each lasting rampTokens / increments tokens.
//   batchSizeAt({start: 4, increment: 4, final: 16, rampTokens: 3000}, t)
//   = 4 for t < 1000, 8 for t < 2000, 12 for t < 3000, 16 from 3000 on.

export interface LrSchedule {
  peak: number;
  warmupTokens: number;
  decayTokens: number;
  minRatio: number;
}

export interface BatchRamp {
  start: number;
  increment: number;
  final: number;
  rampTokens: number;
}

export function lrAt(s: LrSchedule, tokens: number): number {
  const min = s.peak * s.minRatio;
  if (tokens < s.warmupTokens) return (s.peak * tokens) / s.warmupTokens;
  if (tokens >= s.decayTokens) return min;
  const ratio = (tokens - s.warmupTokens) / (s.decayTokens - s.warmupTokens);
  return min + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.peak - min);
}

export function batchSizeAt(r: BatchRamp, tokens: number): number {
  const increments = (r.final - r.start) / r.increment;
  if (increments <= 0 || r.rampTokens <= 0 || tokens >= r.rampTokens) return r.final;
  const tokensPerIncrement = r.rampTokens / increments;
  return Math.min(r.final, r.start + Math.floor(tokens / tokensPerIncrement) * r.increment);
}

/** How a run of the given length unfolds: the step count and the tokens it covers. */
export interface RunPlan {
  steps: number;
  tokens: number;
}

/**
 * Steps needed to train `target` tokens (or the tokens that `target` steps cover), following the ramp.
 * A token target is reached by the first step whose end passes it.
 */
export function planRun(ramp: BatchRamp, seqLen: number, target: { tokens?: number; steps?: number }): RunPlan {
  let tokens = 0;
  let steps = 0;
  const done = () => (target.steps !== undefined ? steps >= target.steps : tokens >= (target.tokens ?? 0));
  // After the ramp every step is the same size, so finish arithmetically rather than loop a long run.
  while (!done()) {
    if (tokens >= ramp.rampTokens) {
      const perStep = ramp.final * seqLen;
      const remaining = target.steps !== undefined ? target.steps - steps : Math.ceil(((target.tokens ?? 0) - tokens) / perStep);
      return { steps: steps + remaining, tokens: tokens + remaining * perStep };
    }
    tokens += batchSizeAt(ramp, tokens) * seqLen;
    steps += 1;
  }
  return { steps, tokens };
}
