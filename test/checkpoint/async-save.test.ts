// Asynchronous checkpoints: the save returns after the memory copy, the files land later, byte for byte those
// of a synchronous save; one write in flight at a time; a failed background write leaves `latest` alone.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointWriter } from "../../ml/checkpoint/async-save.ts";
import { writeCheckpointShard } from "../../ml/checkpoint/shard-files.ts";
import { latestCheckpointDir, loadCheckpoint, saveCheckpoint, stepDirName } from "../../ml/checkpoint/store.ts";
import { extractShard } from "../../ml/checkpoint/tensor-blocks.ts";
import { gptParameterLayout, type GptConfig } from "../../ml/model/mod.ts";
import { rankShards, type ShardLayout } from "../../ml/parallel/shard-spec.ts";
import { checkpointContent, tensor } from "./fixtures/content.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-async-ckpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const withoutTime = (dir: string) => ({ ...JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")), createdAt: undefined });

describe("asynchronous checkpoints", () => {
  it("writes files identical to a synchronous save", async () => {
    const syncDir = saveCheckpoint(path.join(root, "sync"), checkpointContent(4), { keep: 2 });
    const pending = await new CheckpointWriter().save(path.join(root, "async"), checkpointContent(4), { keep: 2 });
    const asyncDir = await pending.written;
    expect(path.basename(asyncDir)).toBe(stepDirName(4));
    expect(latestCheckpointDir(path.join(root, "async"))).toBe(asyncDir);
    for (const f of ["model-p0-t0.safetensors", "optimizer-p0-t0.safetensors"]) {
      expect(readFileSync(path.join(asyncDir, f)).equals(readFileSync(path.join(syncDir, f)))).toBe(true);
    }
    expect(withoutTime(asyncDir)).toEqual(withoutTime(syncDir));
  });

  it("returns after the copy: nothing is on disk yet, and later changes to the tensors do not reach the files", async () => {
    const r = path.join(root, "order");
    const writer = new CheckpointWriter();
    await (
      await writer.save(r, checkpointContent(1), { keep: 3 })
    ).written;
    const content = checkpointContent(2);
    const pending = await writer.save(r, content, { keep: 3 });
    // the step loop continues here: the write has not completed, `latest` still names step 1
    expect(writer.busy).toBe(true);
    expect(existsSync(path.join(r, stepDirName(2)))).toBe(false);
    expect(path.basename(latestCheckpointDir(r)!)).toBe(stepDirName(1));
    for (const t of [...content.params, ...content.optimizerState]) t.data.fill(42); // the next step changes the weights
    const dir = await pending.written;
    expect(writer.busy).toBe(false);
    expect(path.basename(latestCheckpointDir(r)!)).toBe(stepDirName(2));
    const loaded = loadCheckpoint(dir);
    expect(loaded.params.get("wte")!.data).toEqual(checkpointContent(2).params[0]!.data);
    expect(loaded.optimizerState.get("wte.exp_avg_sq")!.data).toEqual(checkpointContent(2).optimizerState[1]!.data);
  });

  it("keeps one write in flight: the next save copies only after the previous write is whole", async () => {
    const r = path.join(root, "one");
    const writer = new CheckpointWriter();
    const events: string[] = [];
    const first = await writer.save(r, checkpointContent(1, 20_000), { keep: 3 });
    void first.written.then(() => events.push("1 written"));
    const second = writer.save(r, checkpointContent(2), { keep: 3 }).then((p) => {
      events.push("2 copied");
      return p;
    });
    await (
      await second
    ).written;
    expect(events).toEqual(["1 written", "2 copied"]);
    expect(path.basename(latestCheckpointDir(r)!)).toBe(stepDirName(2));
  });

  it("reports a failed background write, leaving the previous checkpoint latest and refusing the next save until drained", async () => {
    const r = path.join(root, "fail");
    const writer = new CheckpointWriter();
    const good = await (await writer.save(r, checkpointContent(1), { keep: 3 })).written;
    const pending = await writer.save(r, checkpointContent(2), { keep: 3 });
    rmSync(path.join(r, `.staging-${stepDirName(2)}`), { recursive: true }); // the folder vanishes under the write
    await expect(pending.written).rejects.toThrow(/checkpoint of step 2 \(step-00000002\) could not be written: .*(ENOENT|is missing)/);
    expect(latestCheckpointDir(r)).toBe(good);
    await expect(writer.save(r, checkpointContent(3), { keep: 3 })).rejects.toThrow("checkpoint of step 2");
    expect(readdirSync(r).filter((n) => n.startsWith("step-"))).toEqual([stepDirName(1)]);
    await (
      await writer.save(r, checkpointContent(3), { keep: 3 })
    ).written; // reported once, then it goes on
    expect(path.basename(latestCheckpointDir(r)!)).toBe(stepDirName(3));
  });

  it("writes a tensor-parallel shard identical to the synchronous shard writer, after the copy", async () => {
    const config: GptConfig = { vocabSize: 16, seqLen: 4, layers: 2, dModel: 8, heads: 2 };
    const specs = gptParameterLayout(config);
    const globalShapes = new Map(specs.map((p) => [p.name, p.shape]));
    const layout: ShardLayout = { pp: 2, tp: 2, heads: 2, layersPerStage: [1, 1] };
    const coord = { stage: 1, tpRank: 1 };
    const shards = rankShards(specs, layout, coord);
    const whole = (name: string, shape: readonly number[], seed: number) => tensor(name, [...shape], seed).data;
    const cut = (name: string, s: (typeof shards)[number], seed: number) => ({
      name,
      shape: s.localShape,
      data: extractShard(whole(name, s.globalShape, seed), s),
    });
    const content = {
      coord,
      step: 7,
      optimizerStepCount: 7,
      params: shards.map((s, i) => cut(s.name, s, i)),
      optimizerState: shards.flatMap((s, i) => [cut(`${s.name}.exp_avg`, s, i + 100), cut(`${s.name}.exp_avg_sq`, s, i + 200)]),
    };
    const syncDir = path.join(root, "shard-sync");
    const expected = writeCheckpointShard(syncDir, content, layout, globalShapes);
    const asyncDir = path.join(root, "shard-async");
    const pending = await new CheckpointWriter().saveShard(asyncDir, content, layout, globalShapes);
    for (const t of content.params) t.data.fill(0);
    const described = await pending.written;
    expect(described).toEqual(expected);
    for (const f of expected.files)
      expect(readFileSync(path.join(asyncDir, f.file)).equals(readFileSync(path.join(syncDir, f.file)))).toBe(true);
  });
});
