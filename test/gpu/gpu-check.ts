// The device check's program (bundled into .gpu-check/gpu-check.mjs by scripts/gpu-prepare.sh, run by
// scripts/gpu-check.sh): one JSON line per result, exit status 1 when a check fails.
//   kernels [--precision fp32|bf16] [--backend cuda|native]   every kernel against the float64 reference
//   tiny    [--precision fp32|bf16] [--backend cuda|native]   3 training steps of the tiny example vs the
//                                     CPU reference backend (--backend native: a dry run of the check on a CPU)
//   nccl                              a one-rank NCCL world: init, every collective, close
//   gpt2    [--precision bf16] [--seconds 60] [--batch 16]   GPT-2 124M training: tokens/s and MFU
import type { Backend } from "../../native/backend.ts";
import { createCudaBackend, cudaStatus, type CudaPrecision } from "../../native/cuda-backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { referenceBackend } from "../../native/reference/mod.ts";
import { createNcclCollectives } from "../../runtime/collectives/nccl-collectives.ts";
import { randn64, rng } from "../native/random.ts";
import { checkKernel, GEMM_KERNELS, KERNEL_CASES } from "./kernel-check.ts";
import { GPT2_124M, throughput, TINY, trainSteps } from "./train-check.ts";

const argv = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : fallback;
};
const precision = option("precision", argv[0] === "gpt2" ? "bf16" : "fp32") as CudaPrecision;
let failed = false;
const report = (line: Record<string, unknown>) => {
  if (line.ok === false) failed = true;
  console.log(JSON.stringify(line));
};

/** fp32: 1e-4 of the tensor's scale. bf16 GEMMs: 1e-2 (see docs/gpu.md: bf16 rounds each input to 8 bits). */
const tolerance = (kernel: string) => (precision === "bf16" && GEMM_KERNELS.has(kernel as never) ? 1e-2 : 1e-4);

function backendFor(name: string): Backend {
  if (name === "native") return nativeBackend;
  return createCudaBackend({ precision });
}

async function kernels(): Promise<void> {
  const backend = backendFor(option("backend", "cuda"));
  KERNEL_CASES.forEach((c, i) => {
    const r = checkKernel(backend, c, 1000 + i);
    const tol = tolerance(c.kernel);
    report({ check: "kernel", backend: backend.name, ...r, tolerance: tol, ok: r.error <= tol });
  });
}

async function tiny(): Promise<void> {
  const cuda = backendFor(option("backend", "cuda"));
  const steps = 3,
    batch = 4;
  const want = await trainSteps(referenceBackend, TINY, batch, steps);
  const got = await trainSteps(cuda, TINY, batch, steps);
  const again = await trainSteps(cuda, TINY, batch, steps);
  const rel = got.losses.map((l, i) => Math.abs(l - want.losses[i]!) / want.losses[i]!);
  const tol = precision === "fp32" ? 1e-3 : 3e-2;
  const sameBits = got.losses.every((l, i) => l === again.losses[i]) && got.params.every((p, i) => Object.is(p, again.params[i]));
  report({
    check: "tiny-train",
    backend: cuda.name,
    precision,
    steps,
    batch,
    cpuLosses: want.losses,
    gpuLosses: got.losses,
    relDiff: rel,
    tolerance: tol,
    ok: rel.every((r) => r <= tol),
  });
  report({
    check: "tiny-train-deterministic",
    precision,
    note: "two GPU runs from the same seed: losses and final parameters bit-identical",
    ok: sameBits,
  });
}

async function nccl(): Promise<void> {
  const backend = createCudaBackend({ precision });
  const published = new Map<string, Uint8Array>();
  const ids = {
    publish: async (g: readonly number[], id: Uint8Array) => void published.set(g.join(","), id),
    lookup: async (g: readonly number[]) => published.get(g.join(","))!,
  };
  const rendezvous = { publish: async () => {}, lookup: async () => ({ host: "127.0.0.1", port: 0 }) };
  const world = await createNcclCollectives({
    rank: 0,
    worldSize: 1,
    session: "gpu-check",
    rendezvous,
    ids,
    backend,
    key: new Uint8Array(32),
  });
  const host = Float32Array.from(randn64(1003, rng(5)));
  const x = backend.alloc(host.length);
  x.set(host);
  await backend.upload([x]);
  await world.allReduce(x);
  const rs = await world.reduceScatter(x);
  const ag = await world.allGather(x);
  await world.broadcast(x, 0);
  await world.group([0]).allReduce(x, "max");
  await backend.download([x, rs, ag]);
  await world.close();
  const same = (a: Float32Array) => a.length === host.length && a.every((v, i) => v === host[i]);
  report({ check: "nccl-one-rank", ok: same(x) && same(rs) && same(ag) });
}

async function gpt2(): Promise<void> {
  const status = cudaStatus();
  const cuda = createCudaBackend({ precision }) as ReturnType<typeof createCudaBackend>;
  const batch = Number(option("batch", "16")),
    seconds = Number(option("seconds", "60"));
  const before = cuda.stats();
  const t = await throughput(cuda, GPT2_124M, batch, seconds);
  const after = cuda.stats();
  const name = status.available ? (status.probe.name ?? "") : "";
  // Dense bf16 peak of an H100/H200 SXM (NVIDIA datasheet), as llm.c's mfu.h; TROUPE_PEAK_FLOPS overrides.
  const peak = Number(process.env.TROUPE_PEAK_FLOPS ?? (/H100|H200/.test(name) ? 989.4e12 : NaN));
  const totalSteps = t.steps + 2;
  report({
    name: "gpt2-124m-train",
    device: name,
    precision,
    batch,
    seqLen: GPT2_124M.seqLen,
    ...t,
    peakFlops: peak,
    mfu: t.modelFlopsPerSecond / peak,
    stagedBytesPerStep: (after.stagedIn + after.stagedOut - before.stagedIn - before.stagedOut) / totalSteps,
  });
}

const commands: Record<string, () => Promise<void>> = { kernels, tiny, nccl, gpt2 };
const run = commands[argv[0] ?? ""];
if (!run) {
  console.error(`usage: gpu-check.mjs ${Object.keys(commands).join("|")} [--precision fp32|bf16] ...`);
  process.exit(2);
}
await run().catch((e: unknown) => {
  report({ check: argv[0], ok: false, error: (e as Error).stack ?? String(e) });
});
process.exit(failed ? 1 : 0);
