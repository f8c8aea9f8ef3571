// Inference jobs of real worker processes (started by a real host agent under a supervisor, on a private
// nats-server, joined by the CPU collectives) score and generate exactly as one process does: tp 2, pp 2,
// tp 2 × pp 2 and two replicas (batches spread over them), from single-rank and sharded checkpoints.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scoreRequests } from "../../ml/eval/scorer.ts";
import type { LoglikelihoodResult } from "../../ml/eval/types.ts";
import { generate } from "../../ml/generate/generate.ts";
import type { SamplingOptions } from "../../ml/generate/sampling.ts";
import { startInferenceJob } from "../../actors/inference/driver.ts";
import type { GptModel } from "../../ml/model/types.ts";
import { encode, saveSharded, saveSingle, scoringRequests, TINY, trainedTinyModel } from "./fixture.ts";

const SAMPLED: SamplingOptions = { temperature: 0.9, topK: 40, topP: 0.95 };
const PROMPT = encode("the cat");
const NEW_TOKENS = 40; // prompt + new tokens overflow the 32-token window: the cache restarts once

describe("parallel inference jobs", { timeout: 120_000 }, () => {
  let dir: string;
  let model: GptModel;
  const checkpoints: Record<string, string> = {};
  let reference: LoglikelihoodResult[];
  let greedy: number[];
  let sampled: number[];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "troupe-infer-test-"));
    model = await trainedTinyModel();
    checkpoints.single = saveSingle(model, path.join(dir, "single"));
    checkpoints.pp2tp2 = saveSharded(model, path.join(dir, "sharded"), 2, 2);
    reference = await scoreRequests(model, scoringRequests(), { batch: 3, greedy: true });
    greedy = (await generate(model, PROMPT, { maxNewTokens: NEW_TOKENS, sampling: { temperature: 0 } })).tokens;
    sampled = (await generate(model, PROMPT, { maxNewTokens: NEW_TOKENS, sampling: SAMPLED, seed: 5 })).tokens;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the fixture is a fair test: varied greedy tokens, some greedy continuations right and some wrong", () => {
    expect(new Set(greedy).size).toBeGreaterThan(5);
    expect(reference.some((r) => r.greedy)).toBe(true);
    expect(reference.some((r) => !r.greedy)).toBe(true);
    expect(reference.some((r) => r.truncated)).toBe(true);
  });

  for (const [dp, pp, tp, saved] of [
    [1, 1, 2, "pp2tp2"],
    [1, 2, 1, "single"],
    [1, 2, 2, "single"],
    [2, 1, 1, "pp2tp2"],
  ] as const) {
    it(`dp ${dp} × pp ${pp} × tp ${tp} (from the ${saved} checkpoint): scores, greedy and sampled tokens equal one process's`, async () => {
      const job = await startInferenceJob({ checkpoint: checkpoints[saved]!, config: TINY, dp, pp, tp });
      try {
        expect(job.workers).toHaveLength(dp * pp * tp);
        const results = await scoreRequests(job, scoringRequests(), { batch: 3, greedy: true });
        results.forEach((r, i) => {
          expect(Math.abs(r.logLikelihood - reference[i]!.logLikelihood), `request ${i}`).toBeLessThan(1e-5);
          expect(r.greedy, `request ${i}`).toBe(reference[i]!.greedy);
          expect(r.truncated).toBe(reference[i]!.truncated);
        });
        const streamed: number[] = [];
        const parallelGreedy = await job.generate(PROMPT, {
          maxNewTokens: NEW_TOKENS,
          sampling: { temperature: 0 },
          onToken: (t) => void streamed.push(t),
        });
        expect(parallelGreedy).toEqual({ tokens: greedy, stoppedBy: "length" });
        expect(streamed).toEqual(greedy);
        const parallelSampled = await job.generate(PROMPT, { maxNewTokens: NEW_TOKENS, sampling: SAMPLED, seed: 5 });
        expect(parallelSampled.tokens).toEqual(sampled);
        if (pp * tp === 4) {
          // the no-cache check and a stop token take the same paths as on one process
          expect((await job.generate(PROMPT, { maxNewTokens: 12, sampling: { temperature: 0 }, useCache: false })).tokens).toEqual(
            greedy.slice(0, 12),
          );
          const stop = greedy[6]!;
          const stopped = await job.generate(PROMPT, { maxNewTokens: NEW_TOKENS, sampling: { temperature: 0 }, stopTokens: [stop] });
          expect(stopped).toEqual({ tokens: greedy.slice(0, greedy.indexOf(stop) + 1), stoppedBy: "stop-token" });
        }
      } finally {
        await job.close();
      }
    });
  }
});
