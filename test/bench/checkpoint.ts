// Checkpoint save/load speed against the machine's own raw file throughput (ratios within one run).
// Shape: a GPT of 6 layers, d 512, vocab 8192, context 256 (≈23M parameters) with AdamW moments.
// Asynchronous save: the time the step loop is blocked (memory copy) against a synchronous save, the time until
// the background write is whole, and how much a simulated step loop slows while the write runs, for troupe's
// writer (one worker_thread) and for the alternative, libuv's thread pool (fs/promises + WebCrypto digest).
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadCheckpointShard } from "../../ml/checkpoint/load-shard.ts";
import { writeCheckpointShard } from "../../ml/checkpoint/shard-files.ts";
import { buildManifest } from "../../ml/checkpoint/build-manifest.ts";
import { commitCheckpoint, loadCheckpoint, prepareStagingDir, saveCheckpoint } from "../../ml/checkpoint/store.ts";
import { CheckpointWriter } from "../../ml/checkpoint/async-save.ts";
import { safetensorsImage } from "../../ml/checkpoint/file-image.ts";
import { webcrypto } from "node:crypto";
import { open } from "node:fs/promises";
import { extractShard } from "../../ml/checkpoint/tensor-blocks.ts";
import { rankShards, type ShardLayout } from "../../ml/parallel/shard-spec.ts";
import { gptParameterLayout, elementCount } from "../../ml/model/mod.ts";
import type { NamedTensor } from "../../ml/model/types.ts";

const config = { vocabSize: 8192, seqLen: 256, layers: 6, dModel: 512, heads: 8 };
const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-ckpt-"));
const seconds = (t: number) => (performance.now() - t) / 1000;

function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(seed + i * 0.001);
  return a;
}

try {
  const params: NamedTensor[] = gptParameterLayout(config).map((s, i) => ({
    name: s.name,
    shape: [...s.shape],
    data: filled(elementCount(s.shape), i),
  }));
  const moments = params.flatMap((p) => [
    { name: `${p.name}.exp_avg`, shape: p.shape, data: filled(p.data.length, 1) },
    { name: `${p.name}.exp_avg_sq`, shape: p.shape, data: filled(p.data.length, 2) },
  ]);
  const tensorBytes = [...params, ...moments].reduce((n, t) => n + t.data.byteLength, 0);
  const paramCount = params.reduce((n, p) => n + p.data.length, 0);
  console.log(
    `checkpoint of ${(paramCount / 1e6).toFixed(1)}M parameters + AdamW moments: ${(tensorBytes / 1e6).toFixed(0)} MB of tensors`,
  );

  // Raw baseline: the same bytes written as one file with fsync, then read back and hashed.
  const raw = path.join(dir, "raw.bin");
  let t = performance.now();
  const fd = openSync(raw, "w");
  for (const x of [...params, ...moments]) writeSync(fd, Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength));
  fsyncSync(fd);
  closeSync(fd);
  const rawWriteS = seconds(t);
  t = performance.now();
  createHash("sha256").update(readFileSync(raw)).digest("hex");
  const rawReadS = seconds(t);
  rmSync(raw);

  const content = {
    step: 1,
    tokensSeen: 1,
    samplesSeen: 1,
    seed: 1,
    data: { tokenizerFile: "none", seed: 1, nextSample: 1 },
    config: { model: config },
    params,
    optimizerState: moments,
    optimizerStepCount: 1,
  };
  t = performance.now();
  const saved = saveCheckpoint(path.join(dir, "ckpt"), content, { keep: 1 });
  let saveS = seconds(t);
  const diskBytes = ["model-p0-t0.safetensors", "optimizer-p0-t0.safetensors", "manifest.json"].reduce(
    (n, f) => n + statSync(path.join(saved, f)).size,
    0,
  );
  t = performance.now();
  const loaded = loadCheckpoint(saved);
  const loadS = seconds(t);
  if (loaded.params.size !== params.length) throw new Error("loaded checkpoint lacks tensors");

  // Sharded: (pp 2, tp 2) written rank by rank, then one rank of (pp 1, tp 2) loaded from it (a layout change).
  const specs = gptParameterLayout(config);
  const globalShapes = new Map(specs.map((p) => [p.name, p.shape]));
  const byName = new Map([...params, ...moments].map((x) => [x.name, x.data]));
  const l22: ShardLayout = { tp: 2, pp: 2, layersPerStage: [3, 3], heads: config.heads };
  const locals = [0, 1].flatMap((stage) =>
    [0, 1].map((tpRank) => {
      const shards = rankShards(specs, l22, { stage, tpRank });
      const cut = (name: string, sh: (typeof shards)[number]) => ({
        name,
        shape: sh.localShape,
        data: extractShard(byName.get(name)!, sh),
      });
      return {
        coord: { stage, tpRank },
        step: 2,
        optimizerStepCount: 2,
        params: shards.map((sh) => cut(sh.name, sh)),
        optimizerState: shards.flatMap((sh) => [cut(`${sh.name}.exp_avg`, sh), cut(`${sh.name}.exp_avg_sq`, sh)]),
      };
    }),
  );
  const shardedRoot = path.join(dir, "sharded");
  const saveSharded = (step: number) => {
    const staging = prepareStagingDir(shardedRoot, step);
    const described = locals.map((c) => writeCheckpointShard(staging, { ...c, step }, l22, globalShapes));
    const manifest = buildManifest({ ...content, step }, { dp: 1, pp: 2, tp: 2, layersPerStage: [3, 3] }, described);
    return commitCheckpoint(shardedRoot, manifest, step, { keep: 1 });
  };
  // Best of two, each beside a second single-rank save, so disk writeback from earlier writes hits both alike.
  t = performance.now();
  saveSharded(2);
  let shardedSaveS = seconds(t);
  t = performance.now();
  saveCheckpoint(path.join(dir, "ckpt"), { ...content, step: 3 }, { keep: 1 });
  saveS = Math.min(saveS, seconds(t));
  t = performance.now();
  const shardedDir = saveSharded(4);
  shardedSaveS = Math.min(shardedSaveS, seconds(t));
  t = performance.now();
  const oneRank = loadCheckpointShard(shardedDir, {
    layout: { tp: 2, pp: 1, layersPerStage: [6], heads: config.heads },
    coord: { stage: 0, tpRank: 1 },
    params: specs,
  });
  const reshardLoadS = seconds(t);
  const rankBytes = [...oneRank.params, ...oneRank.optimizerState].reduce((n, x) => n + x.data.byteLength, 0);
  console.log(
    `sharded save (pp 2 × tp 2, 4 ranks in turn) ${shardedSaveS.toFixed(2)} s; one rank of (pp 1 × tp 2) loaded from it ${reshardLoadS.toFixed(2)} s ` +
      `(${(rankBytes / 1e6).toFixed(0)} MB local, ${oneRank.filesRead.length} files read)`,
  );

  // A simulated step loop: 2 ms slices of arithmetic with an event-loop turn between, for `ms` milliseconds or
  // until `done` settles; returns the slices completed per second.
  const stepLoop = async (ms: number, done?: Promise<unknown>): Promise<number> => {
    let finished = false;
    void done?.finally(() => (finished = true));
    const t0 = performance.now();
    let slices = 0;
    let x = 0;
    while (done ? !finished : performance.now() - t0 < ms) {
      const s0 = performance.now();
      while (performance.now() - s0 < 2) x += Math.sqrt(x + slices);
      slices++;
      await new Promise((r) => setImmediate(r));
    }
    return slices / ((performance.now() - t0) / 1000) + (x < 0 ? 1 : 0);
  };
  const idleRate = await stepLoop(1000);

  // troupe's writer: the first copy goes into fresh memory, later ones reuse the previous checkpoint's images.
  let firstBlockedS = 0;
  let blockedS = Infinity;
  let asyncWholeS = Infinity;
  let threadLoopRate = 0;
  const writer = new CheckpointWriter();
  for (const step of [10, 11, 12]) {
    t = performance.now();
    const pending = await writer.save(path.join(dir, "async"), { ...content, step }, { keep: 1 });
    const blocked = seconds(t);
    const rate = await stepLoop(0, pending.written);
    await pending.written;
    if (step === 10) {
      firstBlockedS = blocked;
      continue;
    }
    blockedS = Math.min(blockedS, blocked);
    asyncWholeS = Math.min(asyncWholeS, seconds(t));
    threadLoopRate = Math.max(threadLoopRate, rate);
  }
  await writer.close();

  // The alternative: write and hash on libuv's thread pool, both files at once.
  const writeOnPool = async (file: string, image: Buffer) => {
    const digest = webcrypto.subtle.digest("SHA-256", image);
    const fh = await open(file, "w");
    for (let at = 0; at < image.length;) at += (await fh.write(image, at, image.length - at)).bytesWritten;
    await fh.sync();
    await fh.close();
    return Buffer.from(await digest).toString("hex");
  };
  let poolWholeS = Infinity;
  let poolLoopRate = 0;
  const images = [safetensorsImage(params), safetensorsImage(moments)];
  for (const step of [13, 14]) {
    const staging = prepareStagingDir(path.join(dir, "pool"), step);
    t = performance.now();
    images.forEach((img, i) => safetensorsImage(i === 0 ? params : moments, {}, img.buffer as ArrayBuffer)); // the copy, as above
    const written = Promise.all(images.map((img, i) => writeOnPool(path.join(staging, `${i}.safetensors`), img)));
    const rate = await stepLoop(0, written);
    await written;
    poolWholeS = Math.min(poolWholeS, seconds(t));
    poolLoopRate = Math.max(poolLoopRate, rate);
  }
  const blockedRatio = blockedS / saveS;
  console.log(
    `async save: step loop blocked ${(blockedS * 1000).toFixed(0)} ms (${blockedRatio.toFixed(3)} of a synchronous save's ${saveS.toFixed(2)} s; ` +
      `the first copy, into fresh memory, ${(firstBlockedS * 1000).toFixed(0)} ms), whole after ${asyncWholeS.toFixed(2)} s`,
  );
  console.log(
    `step loop rate while the write runs: ${((threadLoopRate / idleRate) * 100).toFixed(0)}% of idle with the writer thread (whole after ${asyncWholeS.toFixed(2)} s), ` +
      `${((poolLoopRate / idleRate) * 100).toFixed(0)}% with the thread pool (whole after ${poolWholeS.toFixed(2)} s)`,
  );

  const mbps = (s: number) => tensorBytes / s / 1e6;
  console.log(`raw write+fsync ${mbps(rawWriteS).toFixed(0)} MB/s, raw read+sha256 ${mbps(rawReadS).toFixed(0)} MB/s`);
  console.log(
    `save ${saveS.toFixed(2)} s (${mbps(saveS).toFixed(0)} MB/s), load+verify ${loadS.toFixed(2)} s (${mbps(loadS).toFixed(0)} MB/s), ${(diskBytes / tensorBytes).toFixed(4)}x bytes on disk`,
  );
  const saveRatio = rawWriteS / saveS;
  const loadRatio = rawReadS / loadS;
  const overhead = diskBytes / tensorBytes;
  console.log(
    JSON.stringify({
      bench: "checkpoint",
      figures: {
        parameters: paramCount,
        tensorBytes,
        diskBytes,
        saveSeconds: saveS,
        loadSeconds: loadS,
        shardedSaveSeconds: shardedSaveS,
        reshardLoadOneRankSeconds: reshardLoadS,
        reshardRankBytes: rankBytes,
        asyncBlockedSeconds: blockedS,
        asyncFirstBlockedSeconds: firstBlockedS,
        asyncWholeSeconds: asyncWholeS,
        stepLoopRateDuringThreadWrite: threadLoopRate / idleRate,
        poolWholeSeconds: poolWholeS,
        stepLoopRateDuringPoolWrite: poolLoopRate / idleRate,
        saveMBps: mbps(saveS),
        loadMBps: mbps(loadS),
        rawWriteMBps: mbps(rawWriteS),
        rawReadSha256MBps: mbps(rawReadS),
      },
      targets: {
        saveSpeedVsRawWrite: { op: ">=", value: 0.5, actual: saveRatio, met: saveRatio >= 0.5 },
        loadSpeedVsRawReadSha256: { op: ">=", value: 0.5, actual: loadRatio, met: loadRatio >= 0.5 },
        shardedSaveVsSingleSave: { op: ">=", value: 0.5, actual: saveS / shardedSaveS, met: saveS / shardedSaveS >= 0.5 },
        asyncBlockedVsSyncSave: { op: "<=", value: 0.25, actual: blockedRatio, met: blockedRatio <= 0.25 },
        diskBytesOverTensorBytes: { op: "<=", value: 1.01, actual: overhead, met: overhead <= 1.01 },
      },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
