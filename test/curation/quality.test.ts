import { describe, expect, test } from "vitest";
import { featurize } from "../../ml/curation/quality-features.ts";
import { binaryMetrics, lossAndGradient, trainLogistic, type LogisticModel } from "../../ml/curation/logistic-regression.ts";
import { qualityFilter, trainQualityClassifier, type LabelledText, type QualityConfig } from "../../ml/curation/quality-filter.ts";
import { corrupt, CORRUPTION_KINDS } from "../../ml/curation/corrupt.ts";
import { loadBrown } from "../../ml/curation/brown.ts";
import { SeededRandom } from "../../ml/data/seeded-random.ts";

const CONFIG: QualityConfig = {
  buckets: 1 << 16,
  ngrams: 2,
  threshold: 0.5,
  heldOut: 0.25,
  iterations: 150,
  learningRate: 4,
  l2: 1e-4,
  seed: 7,
};

/** Brown documents cut into ~1500-character passages at paragraph breaks. */
function passages(genres: string[]): string[] {
  const out: string[] = [];
  for (const d of loadBrown(genres)) {
    let cur = "";
    for (const p of d.text.split("\n\n")) {
      cur = cur ? `${cur}\n\n${p}` : p;
      if (cur.length > 1500) {
        out.push(cur);
        cur = "";
      }
    }
  }
  return out;
}

describe("features and logistic regression", () => {
  test("features are sparse, sorted, unit-norm and deterministic", () => {
    const x = featurize("The cat sat on the mat. The cat!", { buckets: 1024, ngrams: 2 });
    expect([...x.idx]).toEqual([...x.idx].sort((a, b) => a - b));
    expect(x.val.reduce((s, v) => s + v * v, 0)).toBeCloseTo(1, 12);
    expect(featurize("The cat sat on the mat. The cat!", { buckets: 1024, ngrams: 2 })).toEqual(x);
    expect(featurize("cat The mat the on sat. cat The!", { buckets: 1024, ngrams: 2 })).not.toEqual(x);
  });

  test("gradient matches finite differences", () => {
    const rng = new SeededRandom(1);
    const xs = ["alpha beta gamma", "beta delta", "gamma gamma epsilon alpha", "zeta"].map((t) => featurize(t, { buckets: 16, ngrams: 2 }));
    const ys = [1, 0, 1, 0];
    const model: LogisticModel = { weights: Float64Array.from({ length: 16 }, () => rng.next() - 0.5), bias: 0.3 };
    const l2 = 0.05;
    const { gradWeights, gradBias } = lossAndGradient(model, xs, ys, l2);
    const h = 1e-6;
    for (let j = 0; j < 16; j++) {
      const w0 = model.weights[j]!;
      model.weights[j] = w0 + h;
      const up = lossAndGradient(model, xs, ys, l2).loss;
      model.weights[j] = w0 - h;
      const down = lossAndGradient(model, xs, ys, l2).loss;
      model.weights[j] = w0;
      expect(gradWeights[j]).toBeCloseTo((up - down) / (2 * h), 7);
    }
    model.bias += h;
    const up = lossAndGradient(model, xs, ys, l2).loss;
    model.bias -= 2 * h;
    const down = lossAndGradient(model, xs, ys, l2).loss;
    expect(gradBias).toBeCloseTo((up - down) / (2 * h), 7);
  });

  test("training lowers the loss; metrics count by hand", () => {
    const xs = ["good words here", "more good words", "bad bad spam", "spam spam"].map((t) => featurize(t, { buckets: 64, ngrams: 1 }));
    const { losses } = trainLogistic(xs, [1, 1, 0, 0], 64, { iterations: 50, learningRate: 2, l2: 0 });
    expect(losses[49]!).toBeLessThan(losses[0]! * 0.5);
    const m = binaryMetrics([0.9, 0.8, 0.3, 0.6, 0.1], [1, 0, 1, 1, 0], 0.5);
    expect(m).toMatchObject({ truePositives: 2, falsePositives: 1, falseNegatives: 1, trueNegatives: 1 });
    expect(m.precision).toBeCloseTo(2 / 3, 12);
    expect(m.recall).toBeCloseTo(2 / 3, 12);
  });
});

describe("quality filter on Brown text", () => {
  // even passages stay prose (positives), odd ones are corrupted (negatives): same genres, no topic cue
  const pool = passages(["learned", "government", "news"]);
  const train = pool.filter((_, i) => i % 5 !== 4).slice(0, 160);
  const unseen = pool.filter((_, i) => i % 5 === 4 && i % 2 === 0);
  const labelled: LabelledText[] = train.map((text, i) =>
    i % 2 === 0 ? { text, label: 1 as const } : { text: corrupt(text, CORRUPTION_KINDS[(i >> 1) % 3]!, i), label: 0 as const },
  );

  test("separates prose from word salad, stuffing and boilerplate on held-out examples", () => {
    const trained = trainQualityClassifier(labelled, CONFIG);
    expect(trained.heldOutExamples).toBe(40);
    expect(trained.heldOut.precision).toBeGreaterThan(0.9);
    expect(trained.heldOut.recall).toBeGreaterThan(0.9);
  });

  test("removes low-quality documents only from the datasets it applies to", () => {
    const news = unseen.slice(0, 10);
    expect(news.length).toBe(10);
    const docs = [
      ...news.map((text, i) => ({ id: `web/${i}`, dataset: "web", priority: 0, text })),
      ...news.map((text, i) => ({ id: `junk/${i}`, dataset: "web", priority: 0, text: corrupt(text, "shuffled", 100 + i) })),
      ...news.map((text, i) => ({ id: `kept/${i}`, dataset: "curated", priority: 0, text: corrupt(text, "shuffled", 200 + i) })),
    ];
    const { docs: out, report } = qualityFilter(docs, labelled, { ...CONFIG, datasets: ["web"] });
    const removed = new Set(docs.filter((d) => !out.includes(d)).map((d) => d.id));
    expect([...removed].filter((id) => id.startsWith("junk/")).length).toBeGreaterThanOrEqual(9);
    expect([...removed].filter((id) => id.startsWith("web/")).length).toBeLessThanOrEqual(1);
    expect([...removed].some((id) => id.startsWith("kept/"))).toBe(false);
    expect(report.removed[0]!.examples[0]!.note).toMatch(/^score 0\.\d+/);
    expect(report.details.scoredDocs).toBe(20);
  });
});
