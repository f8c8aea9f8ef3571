// Checkpoint save/load speed against the machine's own raw file throughput (ratios within one run).
// Shape: a GPT of 6 layers, d 512, vocab 8192, context 256 (≈23M parameters) with AdamW moments.
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadCheckpoint, saveCheckpoint } from "../../actors/checkpoint/store.ts";
import { gptParameterLayout, elementCount } from "../../actors/model/mod.ts";
import type { NamedTensor } from "../../actors/model/types.ts";

const config = { vocabSize: 8192, seqLen: 256, layers: 6, dModel: 512, heads: 8 };
const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-ckpt-"));
const seconds = (t: number) => (performance.now() - t) / 1000;

function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(seed + i * 0.001);
  return a;
}

try {
  const params: NamedTensor[] = gptParameterLayout(config).map((s, i) => ({ name: s.name, shape: [...s.shape], data: filled(elementCount(s.shape), i) }));
  const moments = params.flatMap((p) => [
    { name: `${p.name}.exp_avg`, shape: p.shape, data: filled(p.data.length, 1) },
    { name: `${p.name}.exp_avg_sq`, shape: p.shape, data: filled(p.data.length, 2) },
  ]);
  const tensorBytes = [...params, ...moments].reduce((n, t) => n + t.data.byteLength, 0);
  const paramCount = params.reduce((n, p) => n + p.data.length, 0);
  console.log(`checkpoint of ${(paramCount / 1e6).toFixed(1)}M parameters + AdamW moments: ${(tensorBytes / 1e6).toFixed(0)} MB of tensors`);

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
    step: 1, tokensSeen: 1, samplesSeen: 1, seed: 1, data: { tokenizerFile: "none", seed: 1, nextSample: 1 },
    config: { model: config }, params, optimizerState: moments, optimizerStepCount: 1,
  };
  t = performance.now();
  const saved = saveCheckpoint(path.join(dir, "ckpt"), content, { keep: 1 });
  const saveS = seconds(t);
  const diskBytes = ["model-p0-t0.safetensors", "optimizer-p0-t0.safetensors", "manifest.json"].reduce((n, f) => n + statSync(path.join(saved, f)).size, 0);
  t = performance.now();
  const loaded = loadCheckpoint(saved);
  const loadS = seconds(t);
  if (loaded.params.size !== params.length) throw new Error("loaded checkpoint lacks tensors");

  const mbps = (s: number) => tensorBytes / s / 1e6;
  console.log(`raw write+fsync ${mbps(rawWriteS).toFixed(0)} MB/s, raw read+sha256 ${mbps(rawReadS).toFixed(0)} MB/s`);
  console.log(`save ${saveS.toFixed(2)} s (${mbps(saveS).toFixed(0)} MB/s), load+verify ${loadS.toFixed(2)} s (${mbps(loadS).toFixed(0)} MB/s), ${(diskBytes / tensorBytes).toFixed(4)}x bytes on disk`);
  const saveRatio = rawWriteS / saveS;
  const loadRatio = rawReadS / loadS;
  const overhead = diskBytes / tensorBytes;
  console.log(
    JSON.stringify({
      bench: "checkpoint",
      figures: {
        parameters: paramCount, tensorBytes, diskBytes, saveSeconds: saveS, loadSeconds: loadS,
        saveMBps: mbps(saveS), loadMBps: mbps(loadS), rawWriteMBps: mbps(rawWriteS), rawReadSha256MBps: mbps(rawReadS),
      },
      targets: {
        saveSpeedVsRawWrite: { op: ">=", value: 0.5, actual: saveRatio, met: saveRatio >= 0.5 },
        loadSpeedVsRawReadSha256: { op: ">=", value: 0.5, actual: loadRatio, met: loadRatio >= 0.5 },
        diskBytesOverTensorBytes: { op: "<=", value: 1.01, actual: overhead, met: overhead <= 1.01 },
      },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
