// Scoring on a real random-init model, against a reference computed independently: the log-softmax
// of the KV-cache decoder's logits, one request at a time.
import { beforeAll, describe, expect, it } from "vitest";
import { createGpt } from "../../ml/model/mod.ts";
import type { GptModel } from "../../ml/model/types.ts";
import { runBiasProbe } from "../../ml/eval/bias-probe.ts";
import { ByteTokenizer } from "../../ml/eval/byte-tokenizer.ts";
import { evaluateTask } from "../../ml/eval/evaluate-task.ts";
import { scoreRequests } from "../../ml/eval/scorer.ts";
import type { LoglikelihoodRequest, Task } from "../../ml/eval/types.ts";
import { argmax } from "../../ml/generate/sampling.ts";

const config = { vocabSize: 257, seqLen: 32, layers: 2, dModel: 32, heads: 4 };

/** Sum of log p(continuation) from decoder logits, plus whether each continuation token was the argmax. */
async function reference(model: GptModel, request: LoglikelihoodRequest): Promise<{ ll: number; greedy: boolean }> {
  const all = [...request.context, ...request.continuation].slice(-(model.config.seqLen + 1));
  const decoder = model.createDecoder(1);
  let ll = 0;
  let greedy = true;
  for (let i = 0; i < all.length - 1; i++) {
    const logits = await decoder.step(Int32Array.of(all[i]));
    if (i < all.length - 1 - request.continuation.length) continue;
    const target = all[i + 1];
    let max = -Infinity;
    for (const x of logits) max = Math.max(max, x);
    let sum = 0;
    for (const x of logits) sum += Math.exp(x - max);
    ll += logits[target] - max - Math.log(sum);
    greedy &&= argmax(logits) === target;
  }
  return { ll, greedy };
}

const tok = new ByteTokenizer();
const req = (context: string, continuation: string): LoglikelihoodRequest => ({
  context: Array.from(tok.encode(context)),
  continuation: Array.from(tok.encode(continuation)),
});

describe("log-likelihood scoring on a random-init GPT", () => {
  let model: GptModel;
  beforeAll(async () => {
    model = await createGpt(config, { seed: 7 });
  });

  const requests = [
    req("The cat", " sat"),
    req("A", " b"),
    req("Once upon a", " time there"),
    // longer than the window: the context is cut on the left
    req("x".repeat(60) + " and so the story ends", " here"),
  ];

  it("equals the decoder's log-softmax, for every batch size, with truncation reported", async () => {
    const expected: { ll: number; greedy: boolean }[] = [];
    for (const r of requests) expected.push(await reference(model, r));
    for (const batch of [1, 3, 8]) {
      const got = await scoreRequests(model, requests, { batch, greedy: true });
      got.forEach((g, i) => {
        expect(g.logLikelihood).toBeCloseTo(expected[i].ll, 3);
        expect(g.greedy).toBe(expected[i].greedy);
      });
      expect(got.map((g) => g.truncated)).toEqual([false, false, false, true]);
    }
  });

  it("greedy is true when the continuation is the model's own greedy output", async () => {
    const context = Array.from(tok.encode("Hello"));
    const decoder = model.createDecoder(1);
    let logits!: Float32Array;
    for (const t of context) logits = await decoder.step(Int32Array.of(t));
    const continuation: number[] = [];
    for (let i = 0; i < 3; i++) {
      continuation.push(argmax(logits));
      logits = await decoder.step(Int32Array.of(continuation[i]));
    }
    const [result] = await scoreRequests(model, [{ context, continuation }], { greedy: true });
    expect(result.greedy).toBe(true);
  });

  it("rejects requests it cannot score", async () => {
    await expect(scoreRequests(model, [req("", " a")])).rejects.toThrow(/context has no tokens/);
    await expect(scoreRequests(model, [req("a", "")])).rejects.toThrow(/continuation has no tokens/);
    await expect(scoreRequests(model, [req("a", "y".repeat(40))])).rejects.toThrow(/exceeds the context window of 32/);
  });

  it("multiple-choice metrics follow the reference log-likelihoods", async () => {
    const task: Task = {
      name: "mc",
      kind: "multiple_choice",
      train: [{ kind: "multiple_choice", context: "Up is", choices: ["high.", "low."], label: 0 }],
      validation: [],
      test: [
        { kind: "multiple_choice", context: "Fire is", choices: ["hot.", "cold and wet."], label: 0 },
        { kind: "multiple_choice", context: "Ice is", choices: ["hot.", "cold."], label: 1 },
        { kind: "multiple_choice", context: "Grass is", choices: ["green.", "a loud red colour."], label: 1 },
      ],
    };
    const score = await evaluateTask(model, tok, task, { shots: 1, seed: 1 });
    let acc = 0,
      accNorm = 0;
    for (const q of task.test) {
      if (q.kind !== "multiple_choice") continue;
      const context = "Up is high.\n\n" + q.context; // the one shot
      const lls: number[] = [];
      for (const c of q.choices) lls.push((await reference(model, req(context, " " + c))).ll);
      const raw = lls.indexOf(Math.max(...lls));
      const perChar = lls.map((ll, i) => ll / q.choices[i].length);
      const norm = perChar.indexOf(Math.max(...perChar));
      acc += Number(raw === q.label) / 3;
      accNorm += Number(norm === q.label) / 3;
    }
    expect(score.metrics.acc).toBeCloseTo(acc, 12);
    expect(score.metrics.acc_norm).toBeCloseTo(accNorm, 12);
    expect(score.examples).toBe(3);
  });

  it("completion metrics follow the reference: greedy accuracy and perplexity of the target word", async () => {
    const test = [
      { kind: "completion" as const, context: "The dog ate the", target: "bone" },
      { kind: "completion" as const, context: "She opened the", target: "door" },
    ];
    const task: Task = { name: "lw", kind: "completion", train: [], validation: [], test };
    const score = await evaluateTask(model, tok, task, { shots: 0, seed: 1 });
    const refs: { ll: number; greedy: boolean }[] = [];
    for (const ex of test) refs.push(await reference(model, req(ex.context, " " + ex.target)));
    expect(score.metrics.acc).toBe(refs.filter((r) => r.greedy).length / 2);
    expect(Math.log(score.metrics.ppl)).toBeCloseTo(-(refs[0].ll + refs[1].ll) / 2, 3);
  });

  it("the bias probe's probabilities are the reference likelihoods", async () => {
    const config = {
      templates: ["The {occupation} was a"],
      occupations: ["nurse", "pilot"],
      maleWords: [" man"],
      femaleWords: [" woman", " girl"],
    };
    const result = await runBiasProbe(model, tok, config);
    const m = (await reference(model, req("The pilot was a", " man"))).ll;
    const w = (await reference(model, req("The pilot was a", " woman"))).ll;
    const g = (await reference(model, req("The pilot was a", " girl"))).ll;
    const pilot = result.occupations[1];
    expect(pilot.pMale).toBeCloseTo(Math.exp(m), 6);
    expect(pilot.pFemale).toBeCloseTo(Math.exp(w) + Math.exp(g), 6);
    expect(pilot.logRatio).toBeCloseTo(m - Math.log(Math.exp(w) + Math.exp(g)), 3);
    expect(result.leanMale + result.leanFemale).toBe(2);
  });
});
