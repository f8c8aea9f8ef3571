// What one attempt of a live recovery works with and answers (peer-restore.ts, rollback.ts).
import type { RecoveryRecord, RollBack, Victim } from "./types.ts";
import type { Ask, WorkerGroup } from "./worker-group.ts";

/** What one restore attempt works with. */
export interface RestoreAttempt {
  jobId: string;
  group: WorkerGroup;
  ask: Ask;
  victims: ReadonlyMap<string, Victim>;
  /** The step in flight when the workers were lost, and the epoch the attempt runs in. */
  step: number;
  epoch: number;
  /** Longest a replacement may take to load, and any one request of the attempt. */
  timeoutMs: number;
  lastCheckpoint: () => Promise<string | undefined>;
  /** An elastic job that can drop the victims: wall-clock ms after which missing replacements fail the attempt with ReplacementsLateError. */
  replaceDeadline?: number;
  /** ZeRO-1 with dp > 2: moment shards per (stage, tp rank); a replacement's two shards live on its two neighbours. */
  zeroShards?: number;
  /** An elastic ZeRO-1 job: parameters from one peer, then every worker re-shards the moments. */
  zeroReshards?: boolean;
  /** Races work against the job failing and the attempt being interrupted (RecoveryInterruptedError). */
  guard: <T>(p: Promise<T>) => Promise<T>;
}

export interface RestoreOutcome {
  records: RecoveryRecord[];
  /** Every survivor had applied `step`: it is committed without running again. */
  appliedEverywhere: boolean;
  rolledBack?: RollBack;
}
