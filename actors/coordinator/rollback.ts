// Rolling the whole job back to a checkpoint: a lost shard has no live data-parallel peer, so every worker
// (survivors and replacements) loads its slice of the newest checkpoint written whole, and the job continues from
// that checkpoint's step (the runner replays the steps after it).
import { readManifest } from "../../ml/checkpoint/store.ts";
import type { RankMember } from "../rank-members.ts";
import type { RestoreReport } from "../worker/protocol.ts";
import { RecoveryFailedError, RecoveryInterruptedError } from "./errors.ts";
import type { RestoreAttempt, RestoreOutcome } from "./restore-attempt.ts";
import type { RecoveryRecord } from "./types.ts";

export async function rollBack(a: RestoreAttempt, dir: string, lost: readonly RankMember[]): Promise<RestoreOutcome> {
  const workers = a.group.members;
  let restored: RestoreReport[];
  try {
    restored = await a.guard(Promise.all(workers.map((w) => a.ask(w, "loadCheckpoint", { dir }, { timeoutMs: a.timeoutMs }))));
  } catch (err) {
    if (err instanceof RecoveryInterruptedError) throw err;
    throw new RecoveryFailedError(`rolling back to ${dir} failed: ${(err as Error).message}`, { cause: err });
  }
  if (a.group.epoch !== a.epoch) throw new RecoveryInterruptedError(`another worker was lost while rolling back to ${dir}`);
  const m = readManifest(dir);
  const records = lost.map((w): RecoveryRecord => {
    const at = a.victims.get(w.id)!.at;
    const mine = restored[workers.indexOf(w)]!;
    return {
      jobId: a.jobId,
      actorId: w.id,
      cause: a.victims.get(w.id)!.cause,
      epoch: a.epoch,
      step: a.step,
      rerun: true,
      source: "checkpoint",
      from: dir,
      restoreSeconds: mine.seconds,
      seconds: (Date.now() - at) / 1000,
      detectedAt: at,
    };
  });
  return { records, appliedEverywhere: false, rolledBack: { dir, step: m.step, tokensSeen: m.tokensSeen, samplesSeen: m.samplesSeen } };
}
