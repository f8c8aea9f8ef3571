// Kernels recorded as a pass produces them and run only when something must see their results: a collective
// (a TP all-reduce of partial sums) or the JS side. On one rank nothing cuts a pass, so a whole training step of
// the single-rank model crosses to the backend's thread once; with tensor parallelism the cuts fall exactly at
// the communication points.
import type { Backend } from "../../native/backend.ts";
import type { KernelName } from "../../native/kernel-specs.ts";
import { KernelProgram, type KernelInputs, type KernelSink } from "../../native/ops.ts";

const NO_RESULTS = new Float64Array(0);

export class KernelStream implements KernelSink {
  private program = new KernelProgram();

  constructor(readonly backend: Backend) {}

  /** Validates the call and records it; returns its index in the results of the next flush. */
  add(kernel: KernelName, inputs: KernelInputs): number {
    return this.program.add(kernel, inputs);
  }

  /** Runs what was recorded (as one job) and starts afresh; resolves to the recorded calls' results. */
  flush(): Promise<Float64Array> {
    const program = this.program;
    if (program.length === 0) return Promise.resolve(NO_RESULTS);
    this.program = new KernelProgram();
    return program.run(this.backend);
  }
}
