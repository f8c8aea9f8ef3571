// The inference stage and its KV-cache decoder, with every rank of a layout in this process (each with its own
// TCP collectives, rendezvous through the test nats-server): per-position log-probabilities, argmax flags and
// decoding logits (token by token and after a prefill) equal the single-process model's.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { argmax } from "../../ml/generate/sampling.ts";
import { InferenceError } from "../../ml/parallel-model/errors.ts";
import { loadInferenceStage, type InferenceStage } from "../../ml/parallel-model/inference-stage.ts";
import { checkInferenceLayout } from "../../ml/parallel-model/inference-layout.ts";
import { StageDecoder } from "../../ml/parallel-model/stage-decoder.ts";
import type { GptModel } from "../../ml/model/types.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { createCpuCollectives, KvRendezvous, newCollectiveKey, type CollectivesWorld } from "../../runtime/collectives/mod.ts";
import { groupsForRank } from "../../ml/parallel/rank-groups.ts";
import { encode, saveSingle, SENTENCE, TINY, trainedTinyModel } from "./fixture.ts";

let nc: NatsConnection;
let dir: string;
let model: GptModel;
let checkpoint: string;
let sessions = 0;

beforeAll(async () => {
  nc = await connect({ servers: inject("natsUrl") });
  dir = mkdtempSync(path.join(os.tmpdir(), "troupe-infer-stage-"));
  model = await trainedTinyModel();
  checkpoint = saveSingle(model, dir);
});
afterAll(async () => {
  await nc.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every rank of pp × tp in this process, each holding its slice of the checkpoint. */
async function openStages(pp: number, tp: number): Promise<{ stages: InferenceStage[]; worlds: CollectivesWorld[] }> {
  const layout = rankLayout({ dp: 1, pp, tp });
  const session = `infer-stage-${process.pid}-${sessions++}`;
  const rendezvous = await KvRendezvous.open(nc, session);
  const key = newCollectiveKey();
  const worlds = await Promise.all(
    layout.coords.map((_, rank) => createCpuCollectives({ rank, worldSize: layout.worldSize, session, rendezvous, key })),
  );
  const stages = worlds.map((w, rank) => {
    const g = groupsForRank(w, layout);
    const c = layout.coords[rank]!;
    return loadInferenceStage(checkpoint, { config: TINY, pp, tp, stage: c.pp, tpRank: c.tp, groups: { tp: g.tp, pp: g.pp } });
  });
  return { stages, worlds };
}

describe("inference stages", () => {
  for (const [pp, tp] of [
    [1, 2],
    [2, 2],
  ] as const) {
    it(`pp ${pp} × tp ${tp}: log-probabilities, argmax flags and decoding logits equal one process's`, async () => {
      const { stages, worlds } = await openStages(pp, tp);
      try {
        // decode 12 tokens of the sentence on every rank at once and with the single-process decoder
        const tokens = encode(SENTENCE).slice(0, 12);
        const reference = model.createDecoder(1);
        const decoders = stages.map((s) => new StageDecoder(s));
        const argmaxes: number[] = [];
        for (const t of tokens) {
          const expected = await reference.step(Int32Array.of(t));
          const got = (await Promise.all(decoders.map((d) => d.step(t, true)))).filter((x) => x !== null);
          expect(got).toHaveLength(tp); // every TP rank of the last stage holds the gathered logits
          for (const logits of got) {
            expect(logits!.length).toBe(TINY.vocabSize);
            let diff = 0;
            for (let i = 0; i < logits!.length; i++) diff = Math.max(diff, Math.abs(logits![i]! - expected[i]!));
            expect(diff).toBeLessThan(1e-5);
          }
          argmaxes.push(argmax(expected));
        }
        expect(decoders[0]!.length).toBe(tokens.length);

        // a restart with many tokens is one prefill pass: same logits, and the cache continues as before (fresh
        // decoders, so no key or value of the token-by-token pass can stand in for one the prefill failed to keep)
        const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
        const next = await reference.step(Int32Array.of(tokens[0]!));
        const fresh = stages.map((s) => new StageDecoder(s));
        const prefilled = (await Promise.all(fresh.map((dec) => dec.feed(tokens, true)))).filter((x) => x !== null);
        expect(prefilled).toHaveLength(tp);
        expect(fresh[0]!.length).toBe(tokens.length);
        const afterPrefill = (await Promise.all(fresh.map((dec) => dec.feed([tokens[0]!], false)))).filter((x) => x !== null);
        expect(maxDiff(afterPrefill[0]!, next)).toBeLessThan(1e-5);
        reference.reset();
        let last: Float32Array = new Float32Array(0);
        for (const t of tokens) last = await reference.step(Int32Array.of(t));
        expect(maxDiff(prefilled[0]!, last)).toBeLessThan(1e-5);

        // score two rows: targets = the next tokens (row 0) and the model's own argmaxes (row 1)
        const n = TINY.seqLen;
        const inputs = new Int32Array(2 * n),
          targets = new Int32Array(2 * n);
        tokens.forEach((t, i) => {
          inputs[i] = inputs[n + i] = t;
          targets[i] = tokens[i + 1] ?? 0;
          targets[n + i] = argmaxes[i]!;
        });
        const expected = await model.tokenLogProbs(inputs, targets, 2);
        const scores = (await Promise.all(stages.map((s) => s.score({ batch: 2, inputs, targets })))).filter((x) => x !== null);
        expect(scores).toHaveLength(tp);
        const { logProbs, isArgmax } = scores[0]!;
        for (let i = 0; i < 2 * n; i++) expect(Math.abs(logProbs[i]! - expected[i]!)).toBeLessThan(1e-5);
        for (let i = 0; i < tokens.length; i++) {
          expect(isArgmax[n + i], `position ${i}`).toBe(1);
          expect(isArgmax[i], `position ${i}`).toBe(targets[i] === argmaxes[i] ? 1 : 0);
        }
      } finally {
        await Promise.all(worlds.map((w) => w.close()));
      }
    });
  }

  it("a request with a token outside the vocabulary fails on every rank before any collective; the next one works", async () => {
    const { stages, worlds } = await openStages(2, 2);
    try {
      const n = TINY.seqLen;
      const bad = new Int32Array(n).fill(1);
      bad[5] = TINY.vocabSize;
      const outcomes = await Promise.allSettled(stages.map((s) => s.score({ batch: 1, inputs: new Int32Array(n), targets: bad })));
      for (const o of outcomes)
        expect(o.status === "rejected" && String(o.reason)).toMatch(/'targets'\[5\] = 260 is outside the vocabulary \[0, 260\)/);
      const good = (
        await Promise.all(stages.map((s) => s.score({ batch: 1, inputs: new Int32Array(n), targets: new Int32Array(n) })))
      ).filter((x) => x);
      expect(good).toHaveLength(2);
    } finally {
      await Promise.all(worlds.map((w) => w.close()));
    }
  });

  it("refuses layouts the model cannot be split into, naming the reason", () => {
    expect(() => checkInferenceLayout(TINY, { pp: 1, tp: 3 })).toThrow(/--tp 3: the model's 4 attention heads cannot be split evenly/);
    expect(() => checkInferenceLayout({ ...TINY, vocabSize: 259 }, { pp: 1, tp: 2 })).toThrow(
      /--tp 2: the model's vocabulary of 259 tokens cannot be split evenly/,
    );
    expect(() => checkInferenceLayout(TINY, { pp: 5, tp: 1 })).toThrow(/--pp 5: the model has only 4 layers/);
    expect(() => checkInferenceLayout(TINY, { pp: 0, tp: 1 })).toThrow(InferenceError);
  });
});
