// Shared by the elastic tests: a tiny data-parallel job with an `elastic` section, its failure-free reference run,
// and the loss guarantee (every step before the change bit for bit, every step from it within 1e-6 relative).
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { expect } from "vitest";
import type { DistributedRunResult } from "../../actors/coordinator/run-distributed.ts";
import type { FaultSpec } from "../../actors/worker/faults.ts";
import { writeTinyConfig } from "../recovery/fixtures.ts";

/**
 * A dp-replica job of `steps` steps (4 sequences, 2 micro-batches, per replica) that may shrink to minDp 1; `zero`
 * 1 shards its AdamW moments (ZeRO-1, dp ≤ 2).
 */
export function elasticConfig(dir: string, name: string, dp: number, steps: number, replaceTimeout = 3, zero: 0 | 1 = 0): string {
  const file = writeTinyConfig(dir, { name, dp, pp: 1, tp: 1, steps });
  if (zero === 1) {
    const parallel = `parallel: {dp: ${dp}, pp: 1, tp: 1}`;
    const yaml = readFileSync(file, "utf8");
    if (!yaml.includes(parallel)) throw new Error(`${file}: no \`${parallel}\` line to add zero: 1 to`);
    writeFileSync(file, yaml.replace(parallel, `parallel: {dp: ${dp}, pp: 1, tp: 1, zero: 1}`));
  }
  appendFileSync(file, `elastic: {minDp: 1, replaceTimeout: ${replaceTimeout}}\n`);
  return file;
}

/**
 * Worker `rank` is SIGKILLed at the all-reduce of `step`, and every replacement of it hangs (SIGSTOP) before it
 * joins: no replacement ever comes, as when no host has room for it.
 */
export function lostForGood(rank: number, step: number): FaultSpec[] {
  return [
    { rank, step, phase: "allreduce" },
    { rank, step: 0, phase: "join", signal: "SIGSTOP", repeat: "replacement" },
  ];
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** The loss guarantee against the failure-free run; answers the worst relative difference from `changedAt` on. */
export function expectSameLosses(run: DistributedRunResult, reference: DistributedRunResult, changedAt: number, after: number): number {
  expect(run.steps.map((s) => s.step)).toEqual(reference.steps.map((s) => s.step));
  const before = (r: DistributedRunResult) => r.steps.filter((s) => s.step < changedAt).map((s) => [s.loss, s.gradNorm]);
  expect(before(run)).toEqual(before(reference));
  const later = run.steps.filter((s) => s.step >= changedAt);
  expect(later.length).toBeGreaterThanOrEqual(after);
  let worst = 0;
  for (const s of later) {
    const ref = reference.steps.find((r) => r.step === s.step)!;
    const d = relative(s.loss, ref.loss);
    expect(d, `step ${s.step}: loss ${s.loss} vs ${ref.loss}`).toBeLessThan(1e-6);
    worst = Math.max(worst, d);
  }
  return worst;
}
