// ZeRO-1 shard files (dp > 2): every dp rank writes the flat ranges of its (stage, tp rank)'s tensors it owns, cut
// into boxes of the global tensors. Such a checkpoint assembles whole and loads into another layout exactly as the
// tensors it was cut from; a missing shard is found by the manifest's coverage check. Real files, written by the
// background writer thread.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { shardLayoutOf } from "./fixtures/content.ts";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointWriter } from "../../ml/checkpoint/async-save.ts";
import { buildManifest, type CheckpointInfo } from "../../ml/checkpoint/build-manifest.ts";
import { loadCheckpointShard } from "../../ml/checkpoint/load-shard.ts";
import type { ShardDescription, ZeroShardContent } from "../../ml/checkpoint/shard-files.ts";
import { commitCheckpoint, loadCheckpoint, prepareStagingDir } from "../../ml/checkpoint/store.ts";
import { extractShard, flatRangeBoxes } from "../../ml/checkpoint/tensor-blocks.ts";
import { gptParameterLayout, type GptConfig } from "../../ml/model/mod.ts";
import { shardBounds } from "../../ml/optim/zero-shards.ts";
import { rankShards, shardOf, type ShardLayout } from "../../ml/parallel/shard-spec.ts";

const config: GptConfig = { vocabSize: 16, seqLen: 4, layers: 2, dModel: 8, heads: 2 };
const specs = gptParameterLayout(config);
const globalShapes = new Map(specs.map((p) => [p.name, p.shape]));
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-zero-shards-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Distinct values per tensor and kind, so any misplaced element shows. */
const globals = new Map(
  specs.flatMap((p, i) =>
    ["", ".exp_avg", ".exp_avg_sq"].map((suffix, k) => {
      const n = p.shape.reduce((a, b) => a * b, 1);
      return [p.name + suffix, Float32Array.from({ length: n }, (_, j) => i * 1000 + k * 100_000 + j)] as const;
    }),
  ),
);

const layoutOf = (pp: number, tp: number): ShardLayout => shardLayoutOf(config, pp, tp);

const info: CheckpointInfo = {
  step: 5,
  tokensSeen: 40,
  samplesSeen: 10,
  seed: 3,
  data: { tokenizerFile: "tok.json", seed: 1, nextSample: 10 },
  config: { model: config },
  optimizerStepCount: 5,
};

/** The contents dp rank `index` of `dp` writes for (stage, tpRank): its ZeRO-1 shard of the local tensors. */
function zeroContent(layout: ShardLayout, stage: number, tpRank: number, dp: number, index: number): ZeroShardContent {
  const shards = rankShards(specs, layout, { stage, tpRank });
  const local = (name: string, s: (typeof shards)[number]) => extractShard(globals.get(name)!, s);
  const b = shardBounds(
    shards.map((s) => s.localShape.reduce((x, y) => x * y, 1)),
    dp,
    index,
  );
  return {
    coord: { stage, tpRank },
    index,
    step: 5,
    optimizerStepCount: 5,
    pieces: b.segments.map((seg) => {
      const s = shards[seg.tensor]!;
      const cut = (suffix: string) => local(s.name + suffix, s).subarray(seg.start, seg.end);
      return {
        name: s.name,
        localShape: s.localShape,
        start: seg.start,
        end: seg.end,
        param: cut(""),
        expAvg: cut(".exp_avg"),
        expAvgSq: cut(".exp_avg_sq"),
      };
    }),
  };
}

async function saveZero(name: string, layout: ShardLayout, dp: number, skip?: number): Promise<{ dir: string } | { error: Error }> {
  const dir = path.join(root, name);
  const staging = prepareStagingDir(dir, 5);
  const writer = new CheckpointWriter();
  const shards: ShardDescription[] = [];
  try {
    for (let stage = 0; stage < layout.pp; stage++)
      for (let t = 0; t < layout.tp; t++)
        for (let d = 0; d < dp; d++) {
          if (d === skip) continue;
          const pending = await writer.saveZeroShards(staging, [zeroContent(layout, stage, t, dp, d)], layout, globalShapes);
          shards.push(await pending.written);
        }
  } finally {
    await writer.close();
  }
  try {
    const manifest = buildManifest(info, { dp, pp: layout.pp, tp: layout.tp, layersPerStage: [...layout.layersPerStage] }, shards);
    return { dir: commitCheckpoint(dir, manifest, 5, { keep: 2 }) };
  } catch (error) {
    return { error: error as Error };
  }
}

describe("flatRangeBoxes", () => {
  it("cuts a range of a 2-D tensor into a partial row, whole rows and a partial row", () => {
    const s = shardOf("h.0.mlp.fc.weight", [8, 32], layoutOf(1, 1), { stage: 0, tpRank: 0 });
    expect(flatRangeBoxes(s, 5, 100)).toEqual([
      { offset: [0, 5], shape: [1, 27], localStart: 5, length: 27 },
      { offset: [1, 0], shape: [2, 32], localStart: 32, length: 64 },
      { offset: [3, 0], shape: [1, 4], localStart: 96, length: 4 },
    ]);
    expect(flatRangeBoxes(s, 3, 7)).toEqual([{ offset: [0, 3], shape: [1, 4], localStart: 3, length: 4 }]);
  });
});

describe("ZeRO-1 shard files", () => {
  it.each([
    [1, 1, 3],
    [2, 2, 4],
  ])("pp %i × tp %i, dp %i: assemble whole and load into another layout exactly", async (pp, tp, dp) => {
    const saved = await saveZero(`z${pp}${tp}${dp}`, layoutOf(pp, tp), dp);
    if (!("dir" in saved)) throw saved.error;
    const whole = loadCheckpoint(saved.dir);
    for (const p of specs) {
      expect(whole.params.get(p.name)!.data, p.name).toEqual(globals.get(p.name));
      for (const m of [".exp_avg", ".exp_avg_sq"])
        expect(whole.optimizerState.get(p.name + m)!.data, p.name + m).toEqual(globals.get(p.name + m));
    }
    // into pp 1 × tp 2 (another cut of every tensor)
    const target = layoutOf(1, 2);
    for (const tpRank of [0, 1]) {
      const got = loadCheckpointShard(saved.dir, { layout: target, coord: { stage: 0, tpRank }, params: specs });
      const want = rankShards(specs, target, { stage: 0, tpRank });
      got.params.forEach((t, i) => expect(t.data, t.name).toEqual(extractShard(globals.get(want[i]!.name)!, want[i]!)));
      for (const t of got.optimizerState) {
        const s = want.find((w) => t.name.startsWith(`${w.name}.`))!;
        expect(t.data, t.name).toEqual(extractShard(globals.get(t.name)!, s));
      }
    }
  });

  it("a missing shard file is refused by name of the tensor it leaves uncovered", async () => {
    const saved = await saveZero("missing", layoutOf(1, 1), 3, 1);
    expect("error" in saved && saved.error.message).toMatch(/cover \d+ of \d+ elements/);
  });
});
