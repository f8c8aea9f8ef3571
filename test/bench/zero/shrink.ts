// The elastic-shrink part of the zero benchmark: time from the SIGKILL of a replica that no replacement can take
// over to the next step committed with one replica fewer. Each shrink is its own dp-2 elastic job (the tiny model
// of the recovery tests, pp = tp = 1, minDp 1): after two committed steps the bench SIGKILLs one worker, chosen
// at random, from outside; every replacement of either worker hangs (SIGSTOP) before it joins, as when no host has
// room for one, so the job drops the replica `replaceTimeout` after the loss and goes on at dp 1. Phases, from the
// coordinator's own records: kill → detected (the loss is in the coordinator's victims: the exit report arrived)
// → shrunk (the job's SHRUNK record: the configured replaceTimeout, then the shrink itself) → the first step
// committed after it (the survivor joins the smaller communicator and runs the step in flight again).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Coordinator } from "../../../actors/coordinator/coordinator.ts";
import type { FaultSpec } from "../../../actors/worker/faults.ts";
import { elasticConfig } from "../../elastic/fixtures.ts";
import { runJob } from "../../recovery/fixtures.ts";
import { killRandomWorker, seededRandom, sleep } from "../recovery/timed-job.ts";

export interface ShrinkTrace {
  id: string;
  killAt: number;
  detectedAt?: number;
  shrunkAt?: number;
  firstCommitAt?: number;
  from?: number;
  to?: number;
}

const POLL_MS = 5;
const GIVE_UP_MS = 90_000;

/** Every replacement of either dp-2 worker hangs before it joins: no replacement ever comes. */
const NO_REPLACEMENT: FaultSpec[] = [0, 1].map((rank) => ({ rank, step: 0, phase: "join", signal: "SIGSTOP", repeat: "replacement" }));

const committed = (c: Coordinator) => c.job.getSnapshot().context.committedStep;

async function until(what: string, deadline: number, ok: () => boolean): Promise<void> {
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`shrink bench: ${what} not within ${GIVE_UP_MS / 1000} s`);
    await sleep(POLL_MS);
  }
}

/** Kills one worker once two steps are committed and follows the job until a step commits after the shrink. */
async function drive(c: Coordinator, random: () => number): Promise<ShrinkTrace> {
  const deadline = Date.now() + GIVE_UP_MS;
  await until("two committed steps", deadline, () => committed(c) >= 2);
  const kill = killRandomWorker(c, random);
  if (!kill) throw new Error("shrink bench: no live worker to kill");
  const t: ShrinkTrace = { id: kill.id, killAt: kill.at };
  await until("the shrink", deadline, () => {
    t.detectedAt ??= c.lost.get(kill.id)?.at; // the victim leaves the map when the shrink drops it
    const r = c.job.getSnapshot().context.resizes.find((x) => x.kind === "shrunk");
    if (r) Object.assign(t, { shrunkAt: r.time, from: r.from, to: r.to });
    return r !== undefined;
  });
  const shrunkStep = committed(c);
  await until("a committed step after the shrink", deadline, () => committed(c) > shrunkStep);
  return t;
}

/** `shrinks` dp-2 elastic jobs, one SIGKILL each; the traces with the first commit after each shrink filled in. */
export async function measureShrinks(shrinks: number, replaceTimeoutS: number, seed: number): Promise<ShrinkTrace[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-shrink-"));
  const random = seededRandom(seed);
  const traces: ShrinkTrace[] = [];
  try {
    for (let i = 0; i < shrinks; i++) {
      const file = elasticConfig(dir, `shrink${i}`, 2, 1_000_000, replaceTimeoutS);
      const stop = new AbortController();
      let driving: Promise<ShrinkTrace> | undefined;
      const run = await runJob(file, path.join(dir, `run${i}`), {
        faults: NO_REPLACEMENT,
        stop: stop.signal,
        onStarted: (c) => {
          driving = drive(c, random).finally(() => stop.abort());
          driving.catch(() => {}); // awaited below, once the job has stopped
        },
      });
      if (!driving) throw new Error(`shrink bench: job ${i} ended before it started`);
      const t = await driving;
      t.firstCommitAt = run.steps.find((s) => s.time >= t.shrunkAt!)?.time;
      traces.push(t);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return traces;
}

/** Seconds of each phase of one shrink (undefined where a timestamp is missing). */
export function shrinkPhases(t: ShrinkTrace, replaceTimeoutS: number): Record<string, number> | undefined {
  const { detectedAt, shrunkAt, firstCommitAt } = t;
  if (detectedAt === undefined || shrunkAt === undefined || firstCommitAt === undefined) return undefined;
  const total = (firstCommitAt - t.killAt) / 1000;
  return {
    detect: (detectedAt - t.killAt) / 1000,
    wait: (shrunkAt - detectedAt) / 1000,
    recover: (firstCommitAt - shrunkAt) / 1000,
    total,
    net: total - replaceTimeoutS,
  };
}
