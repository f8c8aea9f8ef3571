// Quality filter (GPT-3 / MT-NLG style): a logistic-regression classifier on hashed n-gram features,
// trained on curated high-quality (positive) and low-quality (negative) examples; documents of the
// filtered datasets scoring below the threshold are removed. Precision and recall are measured on a
// held-out part of the labelled examples.
import type { CurationDoc, StageReport } from "./types.ts";
import { StageTally } from "./stage-tally.ts";
import { SeededRandom } from "../data/seeded-random.ts";
import { featurize, type FeatureConfig } from "./quality-features.ts";
import { binaryMetrics, predict, trainLogistic, type LogisticModel } from "./logistic-regression.ts";

export interface QualityConfig extends FeatureConfig {
  /** Keep documents with P(high quality) ≥ threshold. */
  threshold: number;
  /** Fraction of each class held out for precision/recall. */
  heldOut: number;
  iterations: number;
  learningRate: number;
  l2: number;
  seed: number;
  /** Datasets the filter applies to; undefined = all. */
  datasets?: string[];
}

export interface LabelledText {
  text: string;
  /** 1 = high quality, 0 = low quality. */
  label: 0 | 1;
}

export interface TrainedQualityClassifier {
  model: LogisticModel;
  features: FeatureConfig;
  trainExamples: number;
  heldOutExamples: number;
  /** Metrics on the held-out examples at the configured threshold. */
  heldOut: ReturnType<typeof binaryMetrics>;
  finalTrainLoss: number;
}

/** Splits each class by seed, trains on the rest, and measures on the held-out part. */
export function trainQualityClassifier(examples: readonly LabelledText[], config: QualityConfig): TrainedQualityClassifier {
  const rng = new SeededRandom(config.seed);
  const train: LabelledText[] = [];
  const test: LabelledText[] = [];
  for (const label of [1, 0] as const) {
    const cls = rng.shuffle(examples.filter((e) => e.label === label));
    if (cls.length < 2)
      throw new RangeError(`the quality filter needs at least 2 ${label ? "positive" : "negative"} examples, got ${cls.length}`);
    const cut = Math.max(1, Math.round(cls.length * config.heldOut));
    test.push(...cls.slice(0, cut));
    train.push(...cls.slice(cut));
  }
  const { model, losses } = trainLogistic(
    train.map((e) => featurize(e.text, config)),
    train.map((e) => e.label),
    config.buckets,
    config,
  );
  const scores = test.map((e) => predict(model, featurize(e.text, config)));
  return {
    model,
    features: { buckets: config.buckets, ngrams: config.ngrams },
    trainExamples: train.length,
    heldOutExamples: test.length,
    heldOut: binaryMetrics(
      scores,
      test.map((e) => e.label),
      config.threshold,
    ),
    finalTrainLoss: losses[losses.length - 1]!,
  };
}

export function qualityFilter(
  docs: readonly CurationDoc[],
  examples: readonly LabelledText[],
  config: QualityConfig,
): { docs: CurationDoc[]; report: StageReport } {
  const tally = new StageTally("quality-filter", docs);
  const trained = trainQualityClassifier(examples, config);
  const applies = (d: CurationDoc): boolean => config.datasets === undefined || config.datasets.includes(d.dataset);
  const out: CurationDoc[] = [];
  let scored = 0;
  for (const doc of docs) {
    if (!applies(doc)) {
      out.push(doc);
      continue;
    }
    scored += 1;
    const score = predict(trained.model, featurize(doc.text, trained.features));
    if (score >= config.threshold) out.push(doc);
    else tally.remove(doc, `quality score below ${config.threshold}`, { note: `score ${score.toFixed(3)}` });
  }
  const { model: _model, ...summary } = trained;
  Object.assign(tally.details, { threshold: config.threshold, scoredDocs: scored, datasets: config.datasets ?? "all", ...summary });
  return { docs: out, report: tally.finish(out) };
}
