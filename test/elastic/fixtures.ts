// Shared by the elastic tests: a tiny data-parallel job with an `elastic` section, its failure-free reference run,
// and the loss guarantee (every step before the change bit for bit, every step from it within 1e-6 relative).
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { expect } from "vitest";
import { waitFor } from "xstate";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import type { Resize } from "../../actors/coordinator/job-machine.ts";
import type { DistributedRunResult } from "../../actors/coordinator/run-distributed.ts";
import { delay } from "../../runtime/async.ts";
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

/**
 * Grows coordinator `c`'s job back once it has shrunk and committed step `atStep`: `grow` makes the ask (c.scale, or
 * a host agent joining for growOnJoin), and the job's next step waits until the ask reached the coordinator (60 s at
 * most), as a slow step would: on a machine that steps fast the job does not end before the grow's step boundary.
 * Resolves with the grow; rejects, naming what the job did instead, when it ended without shrinking or growing.
 */
export function growWhenShrunk(c: Coordinator, atStep: number, grow: () => Promise<unknown>): Promise<Resize> {
  // the ask's promise in a box: resolving with a promise itself would wait for the grow, which waits for a step
  let asked!: (r: { grown: Promise<Resize> }) => void;
  const scaled = new Promise<{ grown: Promise<Resize> }>((resolve) => (asked = resolve));
  let holding = false;
  const runStep = c.runStep.bind(c);
  c.runStep = async (plan) => {
    if (holding) await Promise.race([scaled, delay(60_000)]);
    return runStep(plan);
  };
  const scale = c.scale.bind(c);
  c.scale = (dp, reason) => {
    const r = scale(dp, reason);
    asked({ grown: r });
    return r;
  };
  const shrunkAWhile = (s: ReturnType<typeof c.job.getSnapshot>) =>
    (holding ||= s.context.resizes.length === 1 && s.context.committedStep >= atStep);
  const grown = waitFor(c.job, shrunkAWhile, { timeout: 120_000 })
    .then(async () => {
      await grow();
      return await (
        await scaled
      ).grown;
    })
    .catch((err: unknown) => {
      const { resizes, committedStep } = c.job.getSnapshot().context;
      const did = resizes.map((r) => `${r.kind} ${r.from} → ${r.to} at step ${r.step}`).join(", ") || "no resize";
      throw new Error(
        `job did not grow after shrinking and stepping to ${atStep} (${did}; committed step ${committedStep}): ${String(err)}`,
      );
    });
  grown.catch(() => undefined); // awaited after the run
  return grown;
}
