import { describe, expect, it } from "vitest";
import { addon } from "../../native/addon.ts";
import { kernelSpecs, type KernelName } from "../../native/kernel-specs.ts";
import { KernelProgram, runKernel, runKernelSync } from "../../native/ops.ts";
import { referenceKernels } from "../../native/reference/mod.ts";
import { cudaSkipReason, kernelBackends } from "./backends.ts";
import { expectClose, f32, randn64, rng } from "./helpers.ts";

function naiveGemm(
  ta: boolean,
  tb: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float64Array,
  b: Float64Array,
  beta: number,
  c: Float64Array,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i]! : a[i * k + p]!) * (tb ? b[j * k + p]! : b[p * n + j]!);
      out[i * n + j] = alpha * s + beta * c[i * n + j]!;
    }
  return out;
}

// Where the CUDA backend cannot run, one skipped case says why (its cases below run only where it can).
if (cudaSkipReason !== undefined) it.skip(`cuda backend: not run here: ${cudaSkipReason}`, () => {});

describe.each(kernelBackends)("$name backend", (backend) => {
  it("GEMM matches a naive loop for odd sizes, every transpose combination, alpha and beta", () => {
    const rand = rng(3);
    for (const [m, n, k] of [
      [1, 1, 1],
      [7, 5, 3],
      [33, 17, 65],
      [3, 129, 2],
    ] as const) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const a = randn64(m * k, rand),
            b = randn64(k * n, rand),
            c = randn64(m * n, rand);
          const want = naiveGemm(ta, tb, m, n, k, 0.75, a, b, 0.5, c);
          const got = f32(c);
          runKernelSync(backend, "gemm", { transA: ta, transB: tb, m, n, k, alpha: 0.75, a: f32(a), b: f32(b), beta: 0.5, c: got });
          expectClose(got, want, 1e-5, 1e-5 * Math.sqrt(k), `gemm ${m}x${n}x${k} ${ta} ${tb}`);
        }
      }
    }
  });

  it("linear forward without bias/residual, backward accumulating into dx", () => {
    const rand = rng(4);
    const rows = 3,
      inF = 4,
      outF = 5;
    const x = f32(randn64(rows * inF, rand)),
      weight = f32(randn64(outF * inF, rand));
    const out = new Float32Array(rows * outF);
    runKernelSync(backend, "linearForward", { x, weight, bias: null, residual: null, out, rows, inFeatures: inF, outFeatures: outF });
    const want = new Float32Array(rows * outF);
    runKernelSync(backend, "gemm", { transA: 0, transB: 1, m: rows, n: outF, k: inF, alpha: 1, a: x, b: weight, beta: 0, c: want });
    expectClose(out, want, 1e-6, 1e-6, "linear = x·Wᵀ");
    const dout = f32(randn64(rows * outF, rand));
    const dx = new Float32Array(rows * inF).fill(1),
      dweight = new Float32Array(outF * inF).fill(2);
    runKernelSync(backend, "linearBackward", {
      dout,
      x,
      weight,
      dx,
      dweight,
      dbias: null,
      rows,
      inFeatures: inF,
      outFeatures: outF,
      accumulateDx: 1,
    });
    const dxWant = new Float32Array(rows * inF).fill(1),
      dwWant = new Float32Array(outF * inF).fill(2);
    runKernelSync(backend, "gemm", { transA: 0, transB: 0, m: rows, n: inF, k: outF, alpha: 1, a: dout, b: weight, beta: 1, c: dxWant });
    runKernelSync(backend, "gemm", { transA: 1, transB: 0, m: outF, n: inF, k: rows, alpha: 1, a: dout, b: x, beta: 1, c: dwWant });
    expectClose(dx, dxWant, 1e-5, 1e-6, "dx += dout·W");
    expectClose(dweight, dwWant, 1e-5, 1e-6, "dW += doutᵀ·x");
  });

  it("cross-entropy split over two vocabulary shards equals the unsplit loss and gradient", () => {
    const rand = rng(8);
    const rows = 6,
      vocab = 11,
      split = 4;
    const logits = f32(randn64(rows * vocab, rand, 2));
    const targets = Int32Array.from({ length: rows }, (_, r) => (r * 5) % vocab);
    const whole = Float32Array.from(logits),
      losses = new Float32Array(rows);
    const total = runKernelSync(backend, "crossEntropyFused", { logits: whole, targets, losses, rows, cols: vocab, scale: 1 });
    // Each shard holds a column block; the "all-reduces" are max, sum and sum over shards.
    const shards = [
      { start: 0, cols: split },
      { start: split, cols: vocab - split },
    ].map(({ start, cols }) => {
      const block = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) block.set(logits.subarray(r * vocab + start, r * vocab + start + cols), r * cols);
      return { start, cols, block, max: new Float32Array(rows), sum: new Float32Array(rows), target: new Float32Array(rows) };
    });
    for (const s of shards) runKernelSync(backend, "ceRowMax", { logits: s.block, rowMax: s.max, rows, cols: s.cols });
    const gmax = Float32Array.from({ length: rows }, (_, r) => Math.max(...shards.map((s) => s.max[r]!)));
    for (const s of shards) {
      runKernelSync(backend, "ceRowSumExp", { logits: s.block, rowMax: gmax, sumExp: s.sum, rows, cols: s.cols });
      runKernelSync(backend, "ceTargetLogit", { logits: s.block, targets, out: s.target, rows, cols: s.cols, vocabStart: s.start });
    }
    const gsum = Float32Array.from({ length: rows }, (_, r) => shards[0]!.sum[r]! + shards[1]!.sum[r]!);
    let splitTotal = 0;
    for (let r = 0; r < rows; r++) {
      const loss = Math.log(gsum[r]!) + gmax[r]! - (shards[0]!.target[r]! + shards[1]!.target[r]!);
      expect(loss).toBeCloseTo(losses[r]!, 5);
      splitTotal += loss;
    }
    expect(splitTotal).toBeCloseTo(total, 4);
    for (const s of shards) {
      const d = new Float32Array(rows * s.cols);
      runKernelSync(backend, "ceBackward", {
        logits: s.block,
        rowMax: gmax,
        sumExp: gsum,
        targets,
        dlogits: d,
        rows,
        cols: s.cols,
        vocabStart: s.start,
        scale: 1,
      });
      for (let r = 0; r < rows; r++)
        expectClose(
          d.subarray(r * s.cols, (r + 1) * s.cols),
          whole.subarray(r * vocab + s.start, r * vocab + s.start + s.cols),
          1e-5,
          1e-6,
          "shard dlogits",
        );
    }
  });

  it("AdamW: first step moves each weight by lr·sign(grad) after decoupled decay; later steps match the float64 reference", () => {
    const rand = rng(12);
    const n = 37,
      lr = 0.01,
      wd = 0.1;
    const param = f32(randn64(n, rand)),
      before = Float32Array.from(param);
    const m = new Float32Array(n),
      v = new Float32Array(n);
    const grads = [f32(randn64(n, rand)), f32(randn64(n, rand)), f32(randn64(n, rand))];
    const common = { n, lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: wd, gradScale: 0.5 };
    runKernelSync(backend, "adamw", { ...common, param, grad: grads[0]!, expAvg: m, expAvgSq: v, step: 1 });
    const first = Float64Array.from(before, (p, i) => p * (1 - lr * wd) - lr * Math.sign(grads[0]![i]!));
    expectClose(param, first, 1e-5, 1e-6, "first AdamW step");
    // Continue two steps and compare with an independent float64 loop (torch.optim.AdamW semantics).
    const p64 = Float64Array.from(param),
      m64 = Float64Array.from(m),
      v64 = Float64Array.from(v);
    for (let step = 2; step <= 3; step++) {
      const g = grads[step - 1]!;
      runKernelSync(backend, "adamw", { ...common, param, grad: g, expAvg: m, expAvgSq: v, step });
      for (let i = 0; i < n; i++) {
        const gi = g[i]! * 0.5;
        m64[i] = 0.9 * m64[i]! + 0.1 * gi;
        v64[i] = 0.95 * v64[i]! + 0.05 * gi * gi;
        const mhat = m64[i]! / (1 - 0.9 ** step),
          vhat = v64[i]! / (1 - 0.95 ** step);
        p64[i] = p64[i]! * (1 - lr * wd) - (lr * mhat) / (Math.sqrt(vhat) + 1e-8);
      }
    }
    expectClose(param, p64, 1e-5, 1e-6, "AdamW steps 2-3");
  });

  it("initNormal draws N(0, std²) values that depend only on (key, index)", () => {
    const big = new Float32Array(100_001),
      small = new Float32Array(7);
    runKernelSync(backend, "initNormal", { x: big, n: big.length, std: 0.5, key: 0xdeadbeef });
    runKernelSync(backend, "initNormal", { x: small, n: small.length, std: 0.5, key: 0xdeadbeef });
    expect(small).toEqual(big.subarray(0, 7));
    const mean = big.reduce((s, x) => s + x, 0) / big.length;
    const std = Math.sqrt(big.reduce((s, x) => s + (x - mean) ** 2, 0) / big.length);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(std).toBeCloseTo(0.5, 2);
    const other = new Float32Array(7);
    runKernelSync(backend, "initNormal", { x: other, n: 7, std: 0.5, key: 0xdeadbeee });
    expect(other).not.toEqual(small);
    // Both backends implement the same generator.
    const ref = new Float64Array(7);
    referenceKernels.initNormal(ref, 7, 0.5, 0xdeadbeef);
    expectClose(small, ref, 1e-6, 1e-7, "initNormal vs float64 reference");
  });

  it("a kernel program runs its calls in order as one job and returns every result", async () => {
    const x = new Float32Array(4);
    const program = new KernelProgram();
    program.add("fill", { x, n: 4, value: 2 });
    const first = program.add("sumSquares", { x, n: 4 });
    program.add("fill", { x, n: 2, value: 1 });
    const second = program.add("sumSquares", { x, n: 4 });
    expect(program.length).toBe(4);
    const results = await program.run(backend);
    expect([results[first], results[second]]).toEqual([16, 10]);
    expect([...x]).toEqual([1, 1, 2, 2]);
    // Calls are checked when added: a bad one never joins the program.
    expect(() => program.add("sumSquares", { x, n: 5 })).toThrow(/'x' has 4 elements, needs 5/);
  });

  it("fill sets the first n elements", () => {
    const x = new Float32Array(5).fill(3);
    runKernelSync(backend, "fill", { x, n: 4, value: -0.5 });
    expect([...x]).toEqual([-0.5, -0.5, -0.5, -0.5, 3]);
  });

  it("sum of squares accumulates in double precision", () => {
    const x = new Float32Array(100_001).fill(0.1);
    const got = runKernelSync(backend, "sumSquares", { x, n: x.length });
    expect(got).toBeCloseTo(100_001 * Math.fround(0.1) ** 2, 6);
  });

  it("attention decode with a KV cache reproduces each row of the full causal attention", () => {
    const rand = rng(21);
    const batch = 2,
      seq = 6,
      heads = 3,
      headDim = 4,
      d = heads * headDim;
    const qkv = f32(randn64(batch * seq * 3 * d, rand));
    const full = new Float32Array(batch * seq * d),
      probs = new Float32Array(batch * heads * seq * seq);
    runKernelSync(backend, "attentionForward", { qkv, out: full, probs, batch, seq, heads, headDim });
    const maxLen = seq + 2;
    const kCache = new Float32Array(batch * maxLen * d),
      vCache = new Float32Array(batch * maxLen * d);
    for (let pos = 0; pos < seq; pos++) {
      const step = new Float32Array(batch * 3 * d),
        out = new Float32Array(batch * d);
      for (let b = 0; b < batch; b++) step.set(qkv.subarray((b * seq + pos) * 3 * d, (b * seq + pos + 1) * 3 * d), b * 3 * d);
      runKernelSync(backend, "attentionDecode", { qkv: step, kCache, vCache, out, batch, heads, headDim, maxLen, pos });
      for (let b = 0; b < batch; b++)
        expectClose(
          out.subarray(b * d, (b + 1) * d),
          full.subarray((b * seq + pos) * d, (b * seq + pos + 1) * d),
          1e-5,
          1e-6,
          `decode pos ${pos}`,
        );
    }
  });

  it("rejects wrong dtypes, lengths and values with errors naming the argument", () => {
    const a = new Float32Array(6),
      b = new Float32Array(6),
      c = new Float32Array(4);
    const gemm = { transA: 0, transB: 0, m: 2, n: 2, k: 3, alpha: 1, a, b, beta: 0, c };
    expect(() => runKernelSync(backend, "gemm", { ...gemm, a: new Float64Array(6) as unknown as Float32Array })).toThrow(
      /gemm: 'a' must be a Float32Array, got Float64Array/,
    );
    expect(() => runKernelSync(backend, "gemm", { ...gemm, c: new Float32Array(3) })).toThrow(RangeError);
    expect(() => runKernelSync(backend, "gemm", { ...gemm, c: new Float32Array(3) })).toThrow(/'c' has 3 elements, needs 4 \(m\*n\)/);
    expect(() => runKernelSync(backend, "gemm", { ...gemm, m: 2.5 })).toThrow(/'m' must be a non-negative 32-bit integer/);
    expect(() => runKernelSync(backend, "gemm", { ...gemm, alpha: NaN })).toThrow(/'alpha' must be finite/);
    expect(() => runKernelSync(backend, "gemm", { ...gemm, extra: 1 })).toThrow(/unknown argument 'extra'/);
    const { c: _c, ...missing } = gemm;
    expect(() => runKernelSync(backend, "gemm", missing)).toThrow(TypeError);
    const tokens = Int32Array.from([0, 9]);
    expect(() =>
      runKernelSync(backend, "embeddingForward", {
        tokens,
        wte: new Float32Array(8),
        wpe: null,
        out: new Float32Array(8),
        batch: 1,
        seq: 2,
        dModel: 4,
        vocabStart: 0,
        vocabSize: 2,
        vocabTotal: 2,
      }),
    ).toThrow(/'tokens' has value 9 at index 1, outside \[0, 2\)/);
    return expect(runKernel(backend, "sumSquares", { x: a, n: 7 })).rejects.toThrow(RangeError);
  });
});

describe("native addon", () => {
  it("declares the same kernel signatures as the TypeScript specs", () => {
    const native = addon.kernelSignatures();
    for (const name of Object.keys(kernelSpecs) as KernelName[]) expect(native[name], name).toBe(kernelSpecs[name].signature);
    expect(Object.keys(native).sort()).toEqual(Object.keys(kernelSpecs).sort());
  });

  it("checks every call itself too: raw calls with bad arguments throw instead of crashing", () => {
    expect(() =>
      addon.runSync("gemm", 0, 0, 1000, 1000, 1000, 1, new Float32Array(1), new Float32Array(1), 0, new Float32Array(1)),
    ).toThrow(/'a' has 1 elements, needs 1000000/);
    expect(() =>
      addon.runSync("attentionForward", new Float32Array(100), new Float32Array(100), new Float32Array(100), 1, 4, 0, 2),
    ).toThrow(/'heads' must be positive/);
    expect(() => addon.runSync("nope" as never)).toThrow(/unknown kernel 'nope'/);
    expect(() => addon.runSync("sumSquares", new Int32Array(3) as never, 3)).toThrow(TypeError);
    expect(() => addon.run("sumSquares", new Float32Array(3), -1)).toThrow(RangeError);
    expect(() => addon.runSync("crossEntropyFused", new Float32Array(4), Int32Array.from([5]), new Float32Array(1), 1, 4, 1)).toThrow(
      /'targets' has value 5/,
    );
  });

  it("runProgram validates every call before running any", () => {
    const x = new Float32Array(3).fill(5);
    expect(() =>
      addon.runProgram([
        ["fill", x, 3, 0],
        ["sumSquares", x, 4],
      ]),
    ).toThrow(/'x' has 3 elements, needs 4/);
    expect([...x]).toEqual([5, 5, 5]);
    expect(() => addon.runProgram([["fill", x, 3, 0], "nope" as never])).toThrow(/call 1 must be an array/);
  });

  it("async runs give the same result as synchronous ones", async () => {
    const rand = rng(2);
    const a = f32(randn64(64 * 48, rand)),
      b = f32(randn64(48 * 32, rand));
    const c1 = new Float32Array(64 * 32),
      c2 = new Float32Array(64 * 32);
    addon.runSync("gemm", 0, 0, 64, 32, 48, 1, a, b, 0, c1);
    await addon.run("gemm", 0, 0, 64, 32, 48, 1, a, b, 0, c2);
    expect(c2).toEqual(c1);
  });
});
