// The stage model and the TP mappings, with four ranks (pp 2 × tp 2) in this process over real sockets: one
// micro-batch's loss and every gradient shard equal the single-rank model's (sliced); the same stage models score
// and decode (KV cache, prefill) as the single-rank model does; bad input is refused.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createGpt } from "../../ml/model/gpt.ts";
import {
  copyToTp,
  createPipelineExecutor,
  createStageModel,
  forwardThroughPipeline,
  ParallelModelError,
  reduceFromTp,
  sliceShard,
  StageModel,
} from "../../ml/parallel-model/mod.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { createCpuCollectives, KvRendezvous, newCollectiveKey, type CollectivesWorld } from "../../runtime/collectives/mod.ts";
import { groupsForRank } from "../../ml/parallel/rank-groups.ts";
import type { RankGroups } from "../../ml/parallel/rank-groups.ts";
import { microbatchTokens, SEED, TINY } from "./data.ts";

const layout = rankLayout({ dp: 1, pp: 2, tp: 2 });
let nc: NatsConnection;
let worlds: CollectivesWorld[];
let groups: RankGroups[];

beforeAll(async () => {
  nc = await connect({ servers: inject("natsUrl") });
  const session = `pm-stage-${process.pid}-${Date.now()}`;
  const rendezvous = await KvRendezvous.open(nc, session);
  const key = newCollectiveKey();
  worlds = await Promise.all(
    layout.coords.map((_, rank) =>
      createCpuCollectives({ rank, worldSize: layout.worldSize, session, rendezvous, key, opTimeoutMs: 20_000 }),
    ),
  );
  groups = worlds.map((w) => groupsForRank(w, layout));
});

afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
  await nc.close();
});

describe("TP mappings", () => {
  it("copy-to-TP is the identity forward and sums backward; reduce-from-TP the other way round", async () => {
    const tp = [groups[0]!.tp, groups[1]!.tp];
    const xs = [Float32Array.of(1, 2), Float32Array.of(10, 20)];
    await Promise.all(tp.map((g, i) => copyToTp(g).forward(xs[i]!)));
    expect(xs.map((x) => [...x])).toEqual([
      [1, 2],
      [10, 20],
    ]);
    await Promise.all(tp.map((g, i) => copyToTp(g).backward(xs[i]!)));
    expect(xs.map((x) => [...x])).toEqual([
      [11, 22],
      [11, 22],
    ]);
    const ys = [Float32Array.of(1), Float32Array.of(2)];
    await Promise.all(tp.map((g, i) => reduceFromTp(g).backward(ys[i]!)));
    expect(ys.map((y) => y[0])).toEqual([1, 2]);
    await Promise.all(tp.map((g, i) => reduceFromTp(g).forward(ys[i]!)));
    expect(ys.map((y) => y[0])).toEqual([3, 3]);
  });
});

describe("stage model, pp 2 × tp 2", () => {
  let stages: StageModel[]; // by world rank: rank = tp + 2·stage

  beforeAll(async () => {
    stages = await Promise.all(
      layout.coords.map((c, rank) =>
        createStageModel({
          config: TINY,
          layout,
          stage: c.pp,
          tpRank: c.tp,
          groups: groups[rank]!,
          seed: SEED,
          microBatch: 1,
          headChunkRows: 12,
        }),
      ),
    );
  });

  it("holds the slices of the single-rank model's parameters, and its loss and gradients are the single-rank ones (head in 3 chunks)", async () => {
    const reference = await createGpt(TINY, { seed: SEED });
    const { inputs, targets } = microbatchTokens(0, 0);
    await reference.zeroGrad();
    const { loss } = await reference.forwardBackward(inputs, targets, 1, 1);

    const first = [stages[0]!, stages[1]!],
      last = [stages[2]!, stages[3]!];
    expect(first.map((s) => [s.firstLayer, s.layerCount])).toEqual([
      [0, 2],
      [0, 2],
    ]);
    expect(last.map((s) => [s.firstLayer, s.layerCount])).toEqual([
      [2, 2],
      [2, 2],
    ]);
    await Promise.all(stages.map((s) => s.zeroGrad()));
    const acts = await Promise.all(first.map((s) => s.forward(0, { tokens: inputs })));
    expect(acts[0]!.activation).toEqual(acts[1]!.activation); // the residual stream is replicated over TP
    const outs = await Promise.all(last.map((s) => s.forward(0, { activation: acts[0]!.activation, targets, gradScale: 1 })));
    for (const o of outs) expect(Math.abs(o.loss! - loss) / loss).toBeLessThan(1e-6);
    const finished: number[][] = [[], [], [], []];
    const dx = await Promise.all(last.map((s, t) => s.backward(0, undefined, (ids) => finished[2 + t]!.push(...ids))));
    expect(dx[0]).toEqual(dx[1]);
    expect(await Promise.all(first.map((s, t) => s.backward(0, dx[0]!, (ids) => finished[t]!.push(...ids))))).toEqual([null, null]);
    // gradients are reported final in the DP bucket order; the last stage's tied wte copy is left to the executor
    const names = (s: StageModel, ids: number[]) => ids.map((i) => s.parameters()[i]!.name);
    expect(names(stages[0]!, finished[0]!)).toEqual(names(stages[0]!, stages[0]!.gradientReadyOrder().slice(0, -1)));
    expect(names(stages[0]!, finished[0]!).slice(0, 3)).toEqual(["h.1.mlp.proj.bias", "h.1.mlp.proj.weight", "h.1.mlp.fc.bias"]);
    expect(names(stages[0]!, finished[0]!).at(-1)).toBe("wpe");
    expect(names(stages[2]!, finished[2]!)).toEqual(names(stages[2]!, stages[2]!.gradientReadyOrder()).filter((n) => n !== "wte"));
    expect(names(stages[2]!, stages[2]!.gradientReadyOrder()).at(-1)).toBe("wte");

    const refParams = new Map(reference.parameters().map((p) => [p.name, p]));
    const refGrads = new Map(reference.gradients().map((g) => [g.name, g.data]));
    const slice = (s: StageModel, i: number, global: Float32Array) => {
      const out = new Float32Array(s.parameters()[i]!.data.length);
      sliceShard(s.shards[i]!, global, out);
      return out;
    };
    let checked = 0;
    for (const s of stages) {
      s.parameters().forEach((p, i) => {
        expect(p.data, `${p.name} on stage ${s.stage} tp ${s.tpRank}`).toEqual(slice(s, i, refParams.get(p.name)!.data));
        let grad = s.gradients()[i]!.data;
        if (p.name === "wte") {
          // tied: the embedding's part is on the first stage, the head's on the last (reduced by the executor)
          const partner = stages[s.isFirst ? s.tpRank + 2 : s.tpRank]!.store.grad("wte");
          grad = grad.map((g, j) => g + partner[j]!);
        }
        const want = slice(s, i, refGrads.get(p.name)!);
        const scale = Math.max(...want.map(Math.abs));
        expect(scale, p.name).toBeGreaterThan(0);
        const worst = Math.max(...grad.map((g, j) => Math.abs(g - want[j]!)));
        expect(worst / scale, `${p.name} gradient on stage ${s.stage} tp ${s.tpRank}`).toBeLessThan(1e-4);
        checked++;
      });
    }
    expect(checked).toBe(2 * (2 + 2 * 12) + 2 * (2 * 12 + 3));
  });

  it("counts each tensor once toward the global gradient norm", () => {
    const counted = (s: StageModel) =>
      s
        .parameters()
        .filter((_, i) => s.countsInGradNorm()[i])
        .map((p) => p.name);
    expect(counted(stages[1]!)).toEqual(
      stages[1]!
        .parameters()
        .map((p) => p.name)
        .filter((n) => /wte|qkv|fc\.|\.proj\.weight/.test(n)),
    );
    expect(counted(stages[0]!)).toContain("wpe");
    expect(counted(stages[2]!)).not.toContain("wte");
    expect(counted(stages[2]!)).toContain("lnf.weight");
  });

  it("scores and decodes as the single-rank model: forward-only scores, KV-cache steps of 2 sequences, a prefill", async () => {
    const reference = await createGpt(TINY, { seed: SEED });
    const worst = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
    const pipeline = <T extends { activation?: Float32Array }>(tag: string, pass: (s: StageModel, a?: Float32Array) => Promise<T>) =>
      Promise.all(stages.map((s, rank) => forwardThroughPipeline([s], groups[rank]!.pp, tag, pass))).then((outs) =>
        outs.filter((o) => o !== undefined),
      );
    const inputs = Int32Array.from([...microbatchTokens(1, 0).inputs, ...microbatchTokens(1, 1).inputs]);
    const targets = Int32Array.from([...microbatchTokens(1, 0).targets, ...microbatchTokens(1, 1).targets]);

    const scored = await pipeline("score", (s, activation) => s.forwardOnly({ batch: 2, tokens: inputs, activation, targets }, "scores"));
    expect(scored).toHaveLength(2); // both TP ranks of the last stage
    expect(worst(scored[0]!.scores!.logProbs, await reference.tokenLogProbs(inputs, targets, 2))).toBeLessThan(1e-5);

    const n = TINY.seqLen,
      steps = 6;
    const contexts = stages.map((s) => s.newInferenceContext(2));
    const decoder = reference.createDecoder(2);
    for (let p = 0; p < steps; p++) {
      const tokens = Int32Array.of(inputs[p]!, inputs[n + p]!);
      const expected = await decoder.step(tokens);
      const got = await pipeline("decode", (s, activation) => s.decode(contexts[stages.indexOf(s)]!, { tokens, activation }));
      expect(got).toHaveLength(2);
      for (const g of got) expect(worst(g.logits!, expected)).toBeLessThan(1e-5);
    }
    expect(contexts.map((c) => c.length)).toEqual([steps, steps, steps, steps]);

    // a prefill of the same 6 positions of both windows into fresh contexts, then one more step: as the reference's 7th step
    const fresh = stages.map((s) => s.newInferenceContext(2));
    const prefilled = await pipeline("prefill", (s, activation) =>
      s.prefill(fresh[stages.indexOf(s)]!, steps, { tokens: inputs, activation }),
    );
    const afterSix = new Float32Array(2 * TINY.vocabSize);
    decoder.reset();
    for (let p = 0; p < steps; p++) afterSix.set(await decoder.step(Int32Array.of(inputs[p]!, inputs[n + p]!)));
    expect(worst(prefilled[0]!.logits!, afterSix)).toBeLessThan(1e-5);
    const tokens = Int32Array.of(inputs[steps]!, inputs[n + steps]!);
    const next = await pipeline("decode", (s, activation) => s.decode(fresh[stages.indexOf(s)]!, { tokens, activation }));
    expect(worst(next[0]!.logits!, await decoder.step(tokens))).toBeLessThan(1e-5);
  });

  it("built without a micro-batch, only infers: no gradient memory, training refused, weights loaded by name", async () => {
    const g = groups[0]!;
    const model = new StageModel({ config: TINY, layout, stage: 0, tpRank: 0, groups: g });
    expect(model.gradients()).toEqual([]);
    expect(model.store.flatGrads.length).toBe(0);
    await expect(model.forward(0, { tokens: new Int32Array(32) })).rejects.toThrow(/only infers/);
    await expect(model.evaluate({ tokens: new Int32Array(32) })).rejects.toThrow(/only infers/);
    model.load(stages[0]!.parameters());
    model.parameters().forEach((p, i) => expect(p.data).toEqual(stages[0]!.parameters()[i]!.data));
    expect(() => model.load(stages[0]!.parameters().slice(1))).toThrow(/the loaded tensors have no wte/);
  });

  it("refuses bad input with a clear error", async () => {
    const s = stages[2]!;
    await expect(s.forward(1, { activation: new Float32Array(5), targets: new Int32Array(32) })).rejects.toThrow(
      /'activation' must be a Float32Array of 2048 floats/,
    );
    await expect(s.backward(7)).rejects.toThrow(/micro-batch 7 has no forward/);
    await expect(stages[0]!.forward(0, { tokens: new Int32Array(32).fill(256) })).rejects.toThrow(
      /'tokens'\[0\] = 256 is outside the vocabulary/,
    );
    const g = groups[0]!;
    const make = (over: object) =>
      createStageModel({ config: TINY, layout, stage: 0, tpRank: 0, groups: g, seed: SEED, microBatch: 1, ...over });
    await expect(make({ stage: 2 })).rejects.toThrow(ParallelModelError);
    await expect(make({ stage: 2 })).rejects.toThrow(/stage 2 is outside 0..1/);
    await expect(make({ tpRank: 1 })).rejects.toThrow(/the TP group is rank 0 of 2, expected rank 1 of 2/);
    await expect(make({ config: { ...TINY, heads: 1, dModel: 64 } })).rejects.toThrow(/heads 1 is not divisible by tp 2/);
    await expect(make({ config: { ...TINY, vocabSize: 255 } })).rejects.toThrow(/vocabSize 255 is not divisible by tp 2/);
    await expect(make({ headChunkRows: 0 })).rejects.toThrow(/headChunkRows must be a positive integer, got 0/);
    await expect(make({ layersPerStage: [4, 0] })).rejects.toThrow(/layersPerStage \[4, 0\]/);
    const exec = (over: object) =>
      createPipelineExecutor({ model: stages[0]!, groups: groups[0]!, schedule: "1f1b", microbatches: 2, ...over });
    expect(() => exec({ model: [stages[0]!, stages[0]!] })).toThrow(/model chunk 0 is stage 0 of 2, expected virtual stage 0 of 4/);
    expect(() => exec({ model: stages[2]!, groups: { ...groups[2]!, pp: groups[2]!.tp } })).toThrow(
      /model chunk 0 is stage 1 of 2, expected virtual stage 0 of 2/,
    );
    await expect(exec({}).runStep({ inputs: [new Int32Array(32)], targets: [] })).rejects.toThrow(
      /step: inputs and targets must hold the same number \(≥ 1\) of micro-batches, got 1 and 0/,
    );
  });
});
