// Binary logistic regression on sparse features, trained by full-batch gradient descent on the
// mean log-loss plus an L2 penalty. Full batch keeps training deterministic and independent of order.
import type { SparseVector } from "./quality-features.ts";

export interface LogisticModel {
  weights: Float64Array;
  bias: number;
}

export interface TrainOptions {
  iterations: number;
  learningRate: number;
  /** L2 penalty λ: loss += λ/2 · |w|² (the bias is not penalised). */
  l2: number;
}

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

function dot(model: LogisticModel, x: SparseVector): number {
  let z = model.bias;
  for (let k = 0; k < x.idx.length; k++) z += model.weights[x.idx[k]!]! * x.val[k]!;
  return z;
}

/** P(label = 1 | x). */
export function predict(model: LogisticModel, x: SparseVector): number {
  return sigmoid(dot(model, x));
}

/** Mean log-loss + λ/2·|w|², and its gradient (dense in w). */
export function lossAndGradient(
  model: LogisticModel,
  xs: readonly SparseVector[],
  ys: readonly number[],
  l2: number,
): { loss: number; gradWeights: Float64Array; gradBias: number } {
  const gradWeights = new Float64Array(model.weights.length);
  let gradBias = 0;
  let loss = 0;
  const n = xs.length;
  for (let i = 0; i < n; i++) {
    const z = dot(model, xs[i]!);
    const y = ys[i]!;
    // log(1 + e^z) − y·z, computed without overflow
    loss += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y * z;
    const r = (sigmoid(z) - y) / n;
    gradBias += r;
    const x = xs[i]!;
    for (let k = 0; k < x.idx.length; k++) gradWeights[x.idx[k]!]! += r * x.val[k]!;
  }
  let sq = 0;
  for (let j = 0; j < model.weights.length; j++) {
    const w = model.weights[j]!;
    sq += w * w;
    gradWeights[j]! += l2 * w;
  }
  return { loss: loss / n + (l2 / 2) * sq, gradWeights, gradBias };
}

export function trainLogistic(
  xs: readonly SparseVector[],
  ys: readonly number[],
  dims: number,
  options: TrainOptions,
): { model: LogisticModel; losses: number[] } {
  if (xs.length === 0) throw new RangeError("cannot train a classifier on zero examples");
  const model: LogisticModel = { weights: new Float64Array(dims), bias: 0 };
  const losses: number[] = [];
  for (let it = 0; it < options.iterations; it++) {
    const { loss, gradWeights, gradBias } = lossAndGradient(model, xs, ys, options.l2);
    losses.push(loss);
    for (let j = 0; j < dims; j++) model.weights[j]! -= options.learningRate * gradWeights[j]!;
    model.bias -= options.learningRate * gradBias;
  }
  return { model, losses };
}

export interface BinaryMetrics {
  precision: number;
  recall: number;
  accuracy: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  trueNegatives: number;
}

/** Precision and recall of "score ≥ threshold means positive". */
export function binaryMetrics(scores: readonly number[], labels: readonly number[], threshold: number): BinaryMetrics {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  scores.forEach((s, i) => {
    const predicted = s >= threshold;
    const actual = labels[i] === 1;
    if (predicted && actual) tp++;
    else if (predicted) fp++;
    else if (actual) fn++;
    else tn++;
  });
  return {
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
    accuracy: scores.length === 0 ? 1 : (tp + tn) / scores.length,
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    trueNegatives: tn,
  };
}
