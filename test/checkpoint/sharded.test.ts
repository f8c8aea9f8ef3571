// Sharded save by (stage, tp rank) and loading into another layout, with a real model's tensors after one step.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { shardLayoutOf } from "./fixtures/content.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCheckpointShard } from "../../ml/checkpoint/load-shard.ts";
import { writeCheckpointShard, type ShardDescription } from "../../ml/checkpoint/shard-files.ts";
import { buildManifest, type CheckpointInfo } from "../../ml/checkpoint/build-manifest.ts";
import {
  commitCheckpoint,
  latestCheckpointDir,
  listCheckpoints,
  loadCheckpoint,
  prepareStagingDir,
  saveCheckpoint,
} from "../../ml/checkpoint/store.ts";
import { extractShard } from "../../ml/checkpoint/tensor-blocks.ts";
import { loadCheckpointWeights } from "../../ml/eval/load-checkpoint.ts";
import { createGpt, gptParameterLayout, type GptConfig, type NamedTensor } from "../../ml/model/mod.ts";
import { createAdamW } from "../../ml/optim/mod.ts";
import { rankShards, type ShardLayout } from "../../ml/parallel/shard-spec.ts";

const config: GptConfig = { vocabSize: 16, seqLen: 4, layers: 2, dModel: 8, heads: 2 };
const specs = gptParameterLayout(config);
const globalShapes = new Map(specs.map((p) => [p.name, p.shape]));
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-sharded-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Whole tensors (params and moments) by name, from a real model after one AdamW step. */
const globals = new Map<string, NamedTensor>();
beforeAll(async () => {
  const model = await createGpt(config, { seed: 3 });
  const optimizer = createAdamW(model, {});
  const tokens = Int32Array.from({ length: 2 * config.seqLen }, (_, i) => (i * 5 + 1) % config.vocabSize);
  const targets = Int32Array.from({ length: 2 * config.seqLen }, (_, i) => (i * 7 + 2) % config.vocabSize);
  await model.zeroGrad();
  await model.forwardBackward(tokens, targets, 2, 1);
  await optimizer.step(1e-2, 1);
  for (const t of [...model.parameters(), ...optimizer.state()])
    globals.set(t.name, { name: t.name, shape: [...t.shape], data: Float32Array.from(t.data) });
});

const layoutOf = (pp: number, tp: number): ShardLayout => shardLayoutOf(config, pp, tp);

/** What (stage, tpRank) holds when its tensors are cut straight out of the whole ones. */
function directSplit(layout: ShardLayout, stage: number, tpRank: number): { params: NamedTensor[]; optimizerState: NamedTensor[] } {
  const shards = rankShards(specs, layout, { stage, tpRank });
  const cut = (name: string, s: (typeof shards)[number]) => ({ name, shape: s.localShape, data: extractShard(globals.get(name)!.data, s) });
  return {
    params: shards.map((s) => cut(s.name, s)),
    optimizerState: shards.flatMap((s) => [cut(`${s.name}.exp_avg`, s), cut(`${s.name}.exp_avg_sq`, s)]),
  };
}

const info = (step: number): CheckpointInfo => ({
  step,
  tokensSeen: step * 8,
  samplesSeen: step * 2,
  seed: 3,
  data: { tokenizerFile: "tok.json", seed: 1, nextSample: step * 2 },
  config: { model: config },
  optimizerStepCount: step,
});

/** Every (stage, tp rank) writes its files into the staging folder; one builds and commits the manifest. */
function saveSharded(
  dir: string,
  layout: ShardLayout,
  step: number,
  local: (stage: number, tpRank: number) => ReturnType<typeof directSplit>,
): string {
  const staging = prepareStagingDir(dir, step);
  const shards: ShardDescription[] = [];
  for (let stage = 0; stage < layout.pp; stage++)
    for (let tpRank = 0; tpRank < layout.tp; tpRank++) {
      const content = { coord: { stage, tpRank }, ...local(stage, tpRank), step, optimizerStepCount: step };
      shards.push(JSON.parse(JSON.stringify(writeCheckpointShard(staging, content, layout, globalShapes))) as ShardDescription);
    }
  const manifest = buildManifest(info(step), { dp: 2, pp: layout.pp, tp: layout.tp, layersPerStage: [...layout.layersPerStage] }, shards);
  return commitCheckpoint(dir, manifest, step, { keep: 3 });
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
function expectSame(actual: NamedTensor[], expected: NamedTensor[]): void {
  expect(actual.map((t) => [t.name, t.shape])).toEqual(expected.map((t) => [t.name, t.shape]));
  actual.forEach((t, i) => expect(bytes(t.data).equals(bytes(expected[i]!.data)), t.name).toBe(true));
}

describe("sharded checkpoints", () => {
  let saved22: string;
  beforeAll(() => {
    saved22 = saveSharded(path.join(root, "a"), layoutOf(2, 2), 5, (s, t) => directSplit(layoutOf(2, 2), s, t));
  });

  it("writes one model and one optimizer file per (stage, tp rank), with pieces recorded per tensor", () => {
    const { manifest } = loadCheckpoint(saved22);
    expect(manifest.files.map((f) => f.file).sort()).toEqual(
      [
        "model-p0-t0",
        "model-p0-t1",
        "model-p1-t0",
        "model-p1-t1",
        "optimizer-p0-t0",
        "optimizer-p0-t1",
        "optimizer-p1-t0",
        "optimizer-p1-t1",
      ].map((f) => `${f}.safetensors`),
    );
    expect(manifest.layout).toEqual({ dp: 2, pp: 2, tp: 2, layersPerStage: [1, 1] });
    const qkv = manifest.tensors.filter((t) => t.name === "h.1.attn.qkv.weight");
    expect(qkv.map((t) => [t.file, t.offset, t.localOffset ?? 0])).toEqual([
      ["model-p1-t0.safetensors", [0, 0], 0],
      ["model-p1-t0.safetensors", [8, 0], 4],
      ["model-p1-t0.safetensors", [16, 0], 8],
      ["model-p1-t1.safetensors", [4, 0], 0],
      ["model-p1-t1.safetensors", [12, 0], 4],
      ["model-p1-t1.safetensors", [20, 0], 8],
    ]);
    // replicated and tied tensors are saved once
    expect(manifest.tensors.filter((t) => t.name === "lnf.bias").map((t) => t.file)).toEqual(["model-p1-t0.safetensors"]);
    expect(manifest.tensors.filter((t) => t.name === "wte" && t.kind === "param").map((t) => t.file)).toEqual([
      "model-p0-t0.safetensors",
      "model-p0-t1.safetensors",
    ]);
  });

  it("reassembles the whole tensors for a single rank (trainer resume and eval)", () => {
    const whole = loadCheckpoint(saved22);
    for (const [name, t] of globals) {
      const got = (name.includes(".exp_avg") ? whole.optimizerState : whole.params).get(name)!;
      expect(bytes(got.data).equals(bytes(t.data)), name).toBe(true);
    }
    const weights = loadCheckpointWeights(saved22);
    for (const p of specs) expect(bytes(weights.params.get(p.name)!.data).equals(bytes(globals.get(p.name)!.data)), p.name).toBe(true);
  });

  for (const [pp, tp] of [
    [1, 1],
    [1, 2],
    [2, 1],
    [2, 2],
  ] as const)
    it(`loads a (pp 2, tp 2) checkpoint into (pp ${pp}, tp ${tp}), byte-equal to the direct split`, () => {
      const layout = layoutOf(pp, tp);
      for (let stage = 0; stage < pp; stage++)
        for (let tpRank = 0; tpRank < tp; tpRank++) {
          const loaded = loadCheckpointShard(saved22, { layout, coord: { stage, tpRank }, params: specs });
          const direct = directSplit(layout, stage, tpRank);
          expectSame(loaded.params, direct.params);
          expectSame(loaded.optimizerState, direct.optimizerState);
        }
    });

  it("goes back: (2,2) → (1,2) saved → (2,2) and (2,1), byte-equal", () => {
    const l12 = layoutOf(1, 2);
    const resaved = saveSharded(path.join(root, "b"), l12, 6, (stage, tpRank) => {
      const s = loadCheckpointShard(saved22, { layout: l12, coord: { stage, tpRank }, params: specs });
      return { params: s.params, optimizerState: s.optimizerState };
    });
    for (const layout of [layoutOf(2, 2), layoutOf(2, 1)])
      for (let stage = 0; stage < layout.pp; stage++)
        for (let tpRank = 0; tpRank < layout.tp; tpRank++) {
          const loaded = loadCheckpointShard(resaved, { layout, coord: { stage, tpRank }, params: specs });
          const direct = directSplit(layout, stage, tpRank);
          expectSame(loaded.params, direct.params);
          expectSame(loaded.optimizerState, direct.optimizerState);
        }
  });

  it("reads only the files holding the rank's pieces", () => {
    const loaded = loadCheckpointShard(saved22, { layout: layoutOf(2, 1), coord: { stage: 0, tpRank: 0 }, params: specs });
    expect(loaded.filesRead).toEqual([
      "model-p0-t0.safetensors",
      "model-p0-t1.safetensors",
      "optimizer-p0-t0.safetensors",
      "optimizer-p0-t1.safetensors",
    ]);
    const paramsOnly = loadCheckpointShard(saved22, {
      layout: layoutOf(2, 1),
      coord: { stage: 0, tpRank: 0 },
      params: specs,
      optimizer: false,
    });
    expect(paramsOnly.filesRead).toEqual(["model-p0-t0.safetensors", "model-p0-t1.safetensors"]);
    expect(paramsOnly.optimizerState).toEqual([]);
  });

  it("resumes a single-rank checkpoint on (pp 2, tp 2)", () => {
    const dir = saveCheckpoint(
      path.join(root, "single"),
      {
        ...info(4),
        params: specs.map((p) => globals.get(p.name)!),
        optimizerState: specs.flatMap((p) => [globals.get(`${p.name}.exp_avg`)!, globals.get(`${p.name}.exp_avg_sq`)!]),
      },
      { keep: 1 },
    );
    const layout = layoutOf(2, 2);
    for (let stage = 0; stage < 2; stage++)
      for (let tpRank = 0; tpRank < 2; tpRank++) {
        const loaded = loadCheckpointShard(dir, { layout, coord: { stage, tpRank }, params: specs });
        const direct = directSplit(layout, stage, tpRank);
        expectSame(loaded.params, direct.params);
        expectSame(loaded.optimizerState, direct.optimizerState);
      }
  });

  it("leaves the previous checkpoint latest when a save dies before its commit, and cleans up after the next", () => {
    const dir = path.join(root, "crash");
    const first = saveSharded(dir, layoutOf(1, 2), 1, (s, t) => directSplit(layoutOf(1, 2), s, t));
    const staging = prepareStagingDir(dir, 2);
    writeCheckpointShard(
      staging,
      { coord: { stage: 0, tpRank: 0 }, ...directSplit(layoutOf(1, 2), 0, 0), step: 2, optimizerStepCount: 2 },
      layoutOf(1, 2),
      globalShapes,
    );
    expect(latestCheckpointDir(dir)).toBe(first); // rank 1 never wrote, nobody committed
    saveSharded(dir, layoutOf(1, 2), 3, (s, t) => directSplit(layoutOf(1, 2), s, t));
    expect(existsSync(staging)).toBe(false);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([1, 3]);
  });

  it("refuses a corrupt or missing shard file, naming it; other stages still load", () => {
    const dir = saveSharded(path.join(root, "c"), layoutOf(2, 2), 7, (s, t) => directSplit(layoutOf(2, 2), s, t));
    const file = path.join(dir, "model-p1-t1.safetensors");
    const data = readFileSync(file);
    data[data.length - 3] ^= 0xff;
    writeFileSync(file, data);
    const target = (stage: number) => ({ layout: layoutOf(2, 2), coord: { stage, tpRank: 1 }, params: specs });
    expect(() => loadCheckpointShard(dir, target(1))).toThrow(`checkpoint file ${file} is corrupt`);
    expect(() => loadCheckpointShard(dir, target(0))).not.toThrow();
    rmSync(file);
    expect(() => loadCheckpointShard(dir, target(1))).toThrow(`checkpoint file ${file} is missing`);
    expect(() => loadCheckpoint(dir)).toThrow(`checkpoint file ${file} is missing`);
  });

  it("refuses an incomplete set of shards and a model that does not match", () => {
    const layout = layoutOf(1, 2);
    const staging = prepareStagingDir(path.join(root, "d"), 1);
    const one = writeCheckpointShard(
      staging,
      { coord: { stage: 0, tpRank: 0 }, ...directSplit(layout, 0, 0), step: 1, optimizerStepCount: 1 },
      layout,
      globalShapes,
    );
    expect(() => buildManifest(info(1), { dp: 1, pp: 1, tp: 2 }, [one])).toThrow(/no shard from stage 0, tp rank 1/);
    expect(() => buildManifest(info(1), { dp: 1, pp: 1, tp: 2 }, [one, one])).toThrow(/two shards for stage 0, tp rank 0/);
    const wrong = directSplit(layout, 0, 1);
    expect(() =>
      writeCheckpointShard(
        staging,
        {
          coord: { stage: 0, tpRank: 0 },
          params: wrong.params.map((t) => ({ ...t, shape: [1, ...t.shape] })),
          optimizerState: [],
          step: 1,
          optimizerStepCount: 1,
        },
        layout,
        globalShapes,
      ),
    ).toThrow(/tensor wte: local shape \[1,8,8\] on stage 0, tp rank 0, the layout gives \[8,8\]/);
    const bigger = gptParameterLayout({ ...config, vocabSize: 32 });
    expect(() => loadCheckpointShard(saved22, { layout, coord: { stage: 0, tpRank: 0 }, params: bigger })).toThrow(
      /parameter wte has global shape \[16,8\], the model expects \[32,8\]/,
    );
  });
});
