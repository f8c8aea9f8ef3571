import { describe, expect, it } from "vitest";
import { completionMetrics, meanWithStderr, multipleChoiceMetrics, pickChoice } from "../../ml/eval/metrics.ts";
import { formatScores, reportJson } from "../../ml/eval/report.ts";

describe("metrics", () => {
  it("mean and standard error", () => {
    const { mean, stderr } = meanWithStderr([1, 0, 1, 1]);
    expect(mean).toBe(0.75);
    expect(stderr).toBeCloseTo(Math.sqrt(0.25 / 4), 12); // sample variance 0.25
  });

  it("acc and acc_norm disagree when a long choice has more total but less per-character likelihood", () => {
    // choice 0: 2 chars, ll -3 (-1.5/char); choice 1: 20 chars, ll -10 (-0.5/char)
    const ex = { logLikelihoods: [-3, -10], choiceLengths: [2, 20], label: 1 };
    expect(pickChoice(ex)).toEqual({ raw: 0, normalised: 1 });
    const m = multipleChoiceMetrics([ex, { logLikelihoods: [-1, -2], choiceLengths: [5, 5], label: 0 }]);
    expect(m.acc).toBe(0.5);
    expect(m.acc_norm).toBe(1);
  });

  it("completion accuracy counts greedy matches and perplexity uses the mean log-likelihood", () => {
    const m = completionMetrics([
      { logLikelihood: -1, greedy: true },
      { logLikelihood: -3, greedy: false },
    ]);
    expect(m.acc).toBe(0.5);
    expect(m.ppl).toBeCloseTo(Math.exp(2), 12);
  });

  it("prints a table row per metric and JSON with null for undefined stderr", () => {
    const scores = [
      {
        task: "lastword",
        kind: "completion" as const,
        shots: 1,
        examples: 1,
        metrics: completionMetrics([{ logLikelihood: -2, greedy: true }]),
        truncated: 0,
      },
    ];
    const table = formatScores(scores);
    expect(table).toMatch(/lastword\s+1\s+1\s+acc\s+1\b/);
    expect(table).toMatch(/ppl\s+7\.3891/);
    const json = JSON.parse(reportJson({ checkpoint: "c", seed: 1, createdAt: "now", results: scores }));
    expect(json.results[0].metrics.acc_stderr).toBeNull();
  });
});
