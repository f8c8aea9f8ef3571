// AdamW (decoupled weight decay, torch.optim.AdamW semantics) over a model's named parameters, one fused
// native kernel per tensor. Weight decay applies to matrices only (linear weights and embeddings),
// never to biases or LayerNorm gains.
import { OptimizerError } from "./errors.ts";
import type { Backend } from "../../native/backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { KernelProgram } from "../../native/ops.ts";
import { decaysWeight } from "../model/param-layout.ts";
import type { AdamWConfig, NamedTensor, Optimizer } from "../model/types.ts";

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

export interface ParameterSource {
  parameters(): NamedTensor[];
  gradients(): NamedTensor[];
}

interface Slot {
  param: NamedTensor;
  grad: Float32Array;
  expAvg: NamedTensor;
  expAvgSq: NamedTensor;
  decay: boolean;
}

/** The AdamW fields of `config` (callers may pass a wider one, with lr, clip, ...), defaulted and checked. */
export function adamwConfig(config: Partial<AdamWConfig>): AdamWConfig {
  const c = {
    beta1: config.beta1 ?? DEFAULT_ADAMW.beta1,
    beta2: config.beta2 ?? DEFAULT_ADAMW.beta2,
    eps: config.eps ?? DEFAULT_ADAMW.eps,
    weightDecay: config.weightDecay ?? DEFAULT_ADAMW.weightDecay,
  };
  const { beta1, beta2, eps, weightDecay } = c;
  if (!(beta1 >= 0 && beta1 < 1)) throw new OptimizerError(`optimizer.beta1 = ${beta1}: must be in [0, 1)`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new OptimizerError(`optimizer.beta2 = ${beta2}: must be in [0, 1)`);
  if (!(eps > 0)) throw new OptimizerError(`optimizer.eps = ${eps}: must be positive`);
  if (!(weightDecay >= 0)) throw new OptimizerError(`optimizer.weightDecay = ${weightDecay}: must be ≥ 0`);
  return c;
}

/** Checks the arguments of an optimizer step. */
export function checkStepArgs(lr: number, gradScale: number): void {
  if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`AdamW.step: 'lr' must be a finite number ≥ 0, got ${lr}`);
  if (!Number.isFinite(gradScale)) throw new RangeError(`AdamW.step: 'gradScale' must be finite, got ${gradScale}`);
}

export class AdamW implements Optimizer {
  stepCount = 0;
  readonly config: AdamWConfig;
  private readonly slots: Slot[];
  private readonly backend: Backend;

  constructor(source: ParameterSource, config: Partial<AdamWConfig> = {}, backend: Backend = nativeBackend) {
    this.config = adamwConfig(config);
    this.backend = backend;
    const params = source.parameters(),
      grads = source.gradients();
    if (params.length !== grads.length) throw new OptimizerError(`${params.length} parameters but ${grads.length} gradients`);
    this.slots = params.map((param, i) => {
      const grad = grads[i]!;
      if (grad.name !== param.name || grad.data.length !== param.data.length) {
        throw new OptimizerError(
          `gradient ${i} ('${grad.name}', ${grad.data.length}) does not match parameter '${param.name}' (${param.data.length})`,
        );
      }
      const n = param.data.length;
      return {
        param,
        grad: grad.data,
        expAvg: { name: `${param.name}.exp_avg`, shape: [...param.shape], data: backend.alloc(n) },
        expAvgSq: { name: `${param.name}.exp_avg_sq`, shape: [...param.shape], data: backend.alloc(n) },
        decay: decaysWeight(param.shape),
      };
    });
  }

  /** Sum of squared gradients of this rank's tensors (what the coordinator combines across shards). */
  async gradNormSquared(): Promise<number> {
    const program = new KernelProgram();
    for (const s of this.slots) program.add("sumSquares", { x: s.grad, n: s.grad.length });
    let total = 0;
    for (const r of await program.run(this.backend)) total += r; // fixed order: same sum on every run
    return total;
  }

  async gradNorm(): Promise<number> {
    return Math.sqrt(await this.gradNormSquared());
  }

  async step(lr: number, gradScale: number): Promise<void> {
    checkStepArgs(lr, gradScale);
    const step = this.stepCount + 1;
    const { beta1, beta2, eps, weightDecay } = this.config;
    const program = new KernelProgram();
    for (const s of this.slots) {
      program.add("adamw", {
        param: s.param.data,
        grad: s.grad,
        expAvg: s.expAvg.data,
        expAvgSq: s.expAvgSq.data,
        n: s.grad.length,
        lr,
        beta1,
        beta2,
        eps,
        weightDecay: s.decay ? weightDecay : 0,
        gradScale,
        step,
      });
    }
    await program.run(this.backend);
    this.stepCount = step;
  }

  state(): NamedTensor[] {
    return this.slots.flatMap((s) => [s.expAvg, s.expAvgSq]);
  }
}

/** Clip factor for global-norm clipping: min(1, maxNorm / norm). */
export function clipScale(norm: number, maxNorm: number): number {
  return norm > maxNorm ? maxNorm / norm : 1;
}

export function createAdamW(source: ParameterSource, config: Partial<AdamWConfig> = {}, backend?: Backend): AdamW {
  return new AdamW(source, config, backend);
}
