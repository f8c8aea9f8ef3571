// The single-rank GPT: pre-LN blocks, learned positions, GELU-tanh MLP, tied input/output embedding.
// Each call records its kernels into one KernelStream (forward, head, backward), which nothing cuts on one rank, and
// runs it as a single job on the backend (native: on a worker thread), so the JS thread stays free for the whole
// step. The blocks are the ones a tensor-parallel pipeline stage runs (block.ts), with a group of one rank.
import { ModelBusyError } from "./errors.ts";
import type { Backend } from "../../native/backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { KernelProgram, runKernel, type KernelSink } from "../../native/ops.ts";
import { Activations } from "./activations.ts";
import { blockBackward, blockForward, blockTensors, ONE_RANK, type BlockContext, type BlockTensors } from "./block.ts";
import { validateGptConfig } from "./config.ts";
import { GptDecoder } from "./decoder.ts";
import { initParameter } from "./init.ts";
import { KernelStream } from "./kernel-stream.ts";
import { gptParameterLayout } from "./param-layout.ts";
import { ParameterStore } from "./parameter-store.ts";
import type { Decoder, GptConfig, GptModel, NamedTensor, StepResult } from "./types.ts";

/** Head logits per chunk on a device backend: 2²⁸ floats (1 GiB), so GPT-2's 50,257-word head runs in a few chunks. */
const DEVICE_LOGITS_BUDGET = 1 << 28;

export interface CreateGptOptions {
  /** Initialisation seed; the same seed gives bit-identical parameters. */
  seed: number;
  /** Kernel backend (default: the native addon). */
  backend?: Backend;
}

/** Builds the model and initialises its parameters (off the JS thread on the native backend). */
export async function createGpt(config: GptConfig, options: CreateGptOptions): Promise<Gpt> {
  const model = new Gpt(validateGptConfig(config), options);
  await model.initialize(options.seed);
  return model;
}

export class Gpt implements GptModel {
  readonly config: GptConfig;
  readonly backend: Backend;
  readonly store: ParameterStore;
  private readonly blocks: BlockTensors[];
  private readonly activations = new Map<number, Activations>();
  private busy = false;

  constructor(config: GptConfig, options: CreateGptOptions) {
    if (!Number.isInteger(options.seed)) throw new RangeError(`createGpt: 'seed' must be an integer, got ${options.seed}`);
    this.config = config;
    this.backend = options.backend ?? nativeBackend;
    this.store = new ParameterStore(gptParameterLayout(config), (n) => this.backend.alloc(n));
    this.blocks = Array.from({ length: config.layers }, (_, l) => blockTensors(this.store, l));
  }

  /** Sets every parameter to its deterministic initial value for `seed`. */
  async initialize(seed: number): Promise<void> {
    const layout = gptParameterLayout(this.config);
    await this.exclusive("initialize", async () => {
      const program = new KernelProgram();
      layout.forEach((spec, i) => initParameter(program, spec, this.store.params[i]!.data, seed, this.config.layers));
      await program.run(this.backend);
    });
  }

  parameters(): NamedTensor[] {
    return this.store.params;
  }

  gradients(): NamedTensor[] {
    return this.store.grads;
  }

  /** Number of parameters (without alignment padding). */
  parameterCount(): number {
    return this.store.params.reduce((s, p) => s + p.data.length, 0);
  }

  async zeroGrad(): Promise<void> {
    // Off the JS thread: for a 100M-parameter model this memset alone would stall the event loop ~100 ms.
    await this.exclusive("zeroGrad", () =>
      this.k("fill", { x: this.store.flatGrads, n: this.store.flatGrads.length, value: 0 }).then(() => undefined),
    );
  }

  forwardBackward(inputs: Int32Array, targets: Int32Array, batch: number, gradScale: number): Promise<StepResult> {
    return this.exclusive("forwardBackward", async () => {
      this.checkBatch("forwardBackward", inputs, targets, batch);
      if (!Number.isFinite(gradScale)) throw new RangeError(`forwardBackward: 'gradScale' must be finite, got ${gradScale}`);
      const acts = this.activationsFor(batch);
      const stream = new KernelStream(this.backend);
      await this.forward(stream, acts, inputs);
      const losses = this.head(stream, acts, targets, gradScale / acts.rows, true);
      await this.backward(stream, acts, inputs);
      const results = await stream.flush();
      return { loss: sumAt(results, losses) / acts.rows };
    });
  }

  evaluate(inputs: Int32Array, targets: Int32Array, batch: number): Promise<number> {
    return this.exclusive("evaluate", async () => {
      this.checkBatch("evaluate", inputs, targets, batch);
      const acts = this.activationsFor(batch);
      const stream = new KernelStream(this.backend);
      await this.forward(stream, acts, inputs);
      const losses = this.head(stream, acts, targets, 0, false);
      return sumAt(await stream.flush(), losses) / acts.rows;
    });
  }

  tokenLogProbs(inputs: Int32Array, targets: Int32Array, batch: number): Promise<Float32Array> {
    return this.exclusive("tokenLogProbs", async () => {
      this.checkBatch("tokenLogProbs", inputs, targets, batch);
      const acts = this.activationsFor(batch);
      const stream = new KernelStream(this.backend);
      await this.forward(stream, acts, inputs);
      this.head(stream, acts, targets, 0, false);
      await stream.flush();
      return Float32Array.from(acts.losses, (l) => -l);
    });
  }

  createDecoder(batch: number): Decoder {
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`createDecoder: 'batch' must be a positive integer, got ${batch}`);
    return new GptDecoder(this, batch, this.blocks);
  }

  /** Runs `fn` unless another call is in flight: the activation buffers are shared. */
  async exclusive<T>(method: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new ModelBusyError(method);
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  private checkBatch(method: string, inputs: Int32Array, targets: Int32Array, batch: number): void {
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`${method}: 'batch' must be a positive integer, got ${batch}`);
    const n = batch * this.config.seqLen;
    for (const [name, a] of [
      ["inputs", inputs],
      ["targets", targets],
    ] as const) {
      if (!(a instanceof Int32Array)) throw new TypeError(`${method}: '${name}' must be an Int32Array`);
      if (a.length !== n) {
        throw new RangeError(`${method}: '${name}' has ${a.length} tokens, expected batch*seqLen = ${batch}*${this.config.seqLen} = ${n}`);
      }
      for (let i = 0; i < n; i++) {
        if (a[i]! < 0 || a[i]! >= this.config.vocabSize) {
          throw new RangeError(`${method}: '${name}'[${i}] = ${a[i]} is outside the vocabulary [0, ${this.config.vocabSize})`);
        }
      }
    }
  }

  /** Buffers for this batch size; keeps the two most recently used sizes (training and evaluation). */
  private activationsFor(batch: number): Activations {
    let acts = this.activations.get(batch);
    if (acts) {
      this.activations.delete(batch); // re-insert: Map order = least recently used first
    } else {
      acts = new Activations(
        this.config,
        batch,
        (n) => this.backend.alloc(n),
        this.backend.memory === "device" ? DEVICE_LOGITS_BUDGET : undefined,
      );
      if (this.activations.size >= 2) this.activations.delete(this.activations.keys().next().value!);
    }
    this.activations.set(batch, acts);
    return acts;
  }

  private k(name: Parameters<typeof runKernel>[1], inputs: Parameters<typeof runKernel>[2]): Promise<number> {
    return runKernel(this.backend, name, inputs);
  }

  /** The blocks' context: every head and MLP column on this one rank. */
  private blockContext(stream: KernelStream, batch: number): BlockContext {
    const { seqLen, dModel: d, heads } = this.config;
    return {
      stream,
      shape: { batch, seq: seqLen, dModel: d, heads, attnWidth: d, mlpWidth: 4 * d },
      addsReplicated: true,
      copy: ONE_RANK,
      reduce: ONE_RANK,
    };
  }

  private async forward(stream: KernelStream, acts: Activations, tokens: Int32Array): Promise<void> {
    const { vocabSize, seqLen, dModel: d } = this.config;
    const rows = acts.rows,
      batch = acts.batch,
      s = this.store;
    stream.add("embeddingForward", {
      tokens,
      wte: s.param("wte"),
      wpe: s.param("wpe"),
      out: acts.layers[0]?.input ?? acts.output,
      batch,
      seq: seqLen,
      dModel: d,
      vocabStart: 0,
      vocabSize,
      vocabTotal: vocabSize,
    });
    const c = this.blockContext(stream, batch);
    for (let l = 0; l < this.config.layers; l++) {
      await blockForward(c, this.blocks[l]!, acts.layers[l]!, acts, acts.layers[l + 1]?.input ?? acts.output);
    }
    stream.add("layerNormForward", {
      x: acts.output,
      gamma: s.param("lnf.weight"),
      beta: s.param("lnf.bias"),
      out: acts.lnf,
      mean: acts.meanf,
      rstd: acts.rstdf,
      rows,
      cols: d,
    });
  }

  /**
   * Tied output head + cross-entropy in row chunks; returns the indices of the calls whose results are the
   * chunks' summed losses. With `train`, each chunk's dlogits (scaled by `scale`) immediately flow back into
   * dwte and into d(lnf output) (acts.dLnOut).
   */
  private head(sink: KernelSink, acts: Activations, targets: Int32Array, scale: number, train: boolean): number[] {
    const { vocabSize: v, dModel: d } = this.config;
    const wte = this.store.param("wte"),
      dwte = this.store.grad("wte");
    const lossCalls: number[] = [];
    for (let r0 = 0; r0 < acts.rows; r0 += acts.headChunk) {
      const rows = Math.min(acts.headChunk, acts.rows - r0);
      const x = acts.lnf.subarray(r0 * d, (r0 + rows) * d);
      const logits = acts.logits.subarray(0, rows * v);
      sink.add("linearForward", { x, weight: wte, bias: null, residual: null, out: logits, rows, inFeatures: d, outFeatures: v });
      lossCalls.push(
        sink.add("crossEntropyFused", {
          logits,
          targets: targets.subarray(r0, r0 + rows),
          losses: acts.losses.subarray(r0, r0 + rows),
          rows,
          cols: v,
          scale,
        }),
      );
      if (train) {
        sink.add("linearBackward", {
          dout: logits,
          x,
          weight: wte,
          dx: acts.dLnOut.subarray(r0 * d, (r0 + rows) * d),
          dweight: dwte,
          dbias: null,
          rows,
          inFeatures: d,
          outFeatures: v,
          accumulateDx: 0,
        });
      }
    }
    return lossCalls;
  }

  private async backward(stream: KernelStream, acts: Activations, tokens: Int32Array): Promise<void> {
    const { vocabSize, seqLen, dModel: d } = this.config;
    const rows = acts.rows,
      batch = acts.batch,
      s = this.store;
    const dx = acts.dResidual;
    stream.add("layerNormBackward", {
      dout: acts.dLnOut,
      x: acts.output,
      gamma: s.param("lnf.weight"),
      mean: acts.meanf,
      rstd: acts.rstdf,
      dx,
      dgamma: s.grad("lnf.weight"),
      dbeta: s.grad("lnf.bias"),
      rows,
      cols: d,
      accumulateDx: 0,
    });
    const c = this.blockContext(stream, batch);
    for (let l = this.config.layers - 1; l >= 0; l--) await blockBackward(c, this.blocks[l]!, acts.layers[l]!, acts);
    stream.add("embeddingBackward", {
      tokens,
      dout: dx,
      dwte: s.grad("wte"),
      dwpe: s.grad("wpe"),
      batch,
      seq: seqLen,
      dModel: d,
      vocabStart: 0,
      vocabSize,
      vocabTotal: vocabSize,
    });
  }
}

/** Sum of the selected results, in order (so the total is the same on every run). */
function sumAt(results: Float64Array, indices: readonly number[]): number {
  let total = 0;
  for (const i of indices) total += results[i]!;
  return total;
}
