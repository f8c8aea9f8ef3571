// Live recovery of lost workers (design: "A step, and recovery"). The supervisor has already restarted each lost
// worker with the new epoch. Every survivor is told to `recover` (abort the step in flight, finish an apply it
// started, join the communicator of the new epoch); each replacement joins that communicator too and waits in
// `restoring`. Then a live DP peer holding the same shard sends it parameters, AdamW moments and step count over
// the data plane. Whether step k runs again follows from what the survivors applied: none → rerun; all →
// committed as it is (the replacement took the post-apply state).
import type { EventLog } from "../../runtime/event-log.ts";
import { readManifest } from "../../ml/checkpoint/store.ts";
import type { RecoverReport, RestoreReport, WorkerStatus, WorkerVerb } from "../worker/protocol.ts";
import type { WorkerRef } from "./types.ts";

export class WorkerLostError extends Error {
  override name = "WorkerLostError";
  constructor(
    readonly actorId: string,
    cause: string,
  ) {
    super(`worker ${actorId} lost: ${cause}`);
  }
}

export class RecoveryFailedError extends Error {
  override name = "RecoveryFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** One recovered worker: where its state came from and how long it took. */
export interface RecoveryRecord {
  jobId: string;
  actorId: string;
  cause: string;
  /** Epoch of the communicator the job runs in after the recovery. */
  epoch: number;
  /** The step in flight when the worker was lost. */
  step: number;
  /** false when every worker had applied `step` (it is committed without running again). */
  rerun: boolean;
  source: "peer" | "checkpoint";
  /** The peer's actor id or the checkpoint folder. */
  from: string;
  /** Time the state transfer took. */
  restoreSeconds: number;
  /** From the failure's detection to the job ready to step again. */
  seconds: number;
  detectedAt: number;
}

/** What recovery needs of the coordinator. */
export interface RecoveryHost {
  readonly jobId: string;
  readonly epoch: number;
  readonly workers: readonly WorkerRef[];
  readonly lost: ReadonlyMap<string, { cause: string; at: number }>;
  request<T>(w: WorkerRef, verb: WorkerVerb, payload: object, timeoutMs?: number): Promise<T>;
  status(id: string): Promise<WorkerStatus>;
  /** Races against the job failing. */
  orFail<T>(p: Promise<T>): Promise<T>;
  giveUp(err: Error): Error;
  markRecovered(ids: readonly string[]): void;
  /** The newest checkpoint written whole, to roll every worker back to when no peer holds a lost shard. */
  lastCheckpoint(): Promise<string | undefined>;
}

/** Progress of the checkpoint the job rolled back to: the runner continues from it. */
export interface RollBack {
  dir: string;
  step: number;
  tokensSeen: number;
  samplesSeen: number;
}

/** runStep's answer when the job rolled back to a checkpoint: steps after `to.step` are lost and run again. */
export class RolledBackError extends Error {
  override name = "RolledBackError";
  constructor(readonly to: RollBack) {
    super(`rolled back to the checkpoint of step ${to.step} (${to.dir})`);
  }
}

export async function recoverJob(c: RecoveryHost, step: number, o: { events: EventLog; timeoutMs: number }): Promise<{ records: RecoveryRecord[]; appliedEverywhere: boolean; rolledBack?: RollBack }> {
  const epoch = c.epoch;
  const lost = c.workers.filter((w) => c.lost.has(w.id));
  const survivors = c.workers.filter((w) => !c.lost.has(w.id));
  const causes = lost.map((w) => `${w.id} (${c.lost.get(w.id)!.cause})`).join(", ");
  const peers = new Map(lost.map((w) => [w.id, survivors.find((s) => s.coords.p === w.coords.p && s.coords.t === w.coords.t)]));
  const orphan = lost.find((w) => !peers.get(w.id));
  const checkpoint = orphan ? await c.lastCheckpoint() : undefined;
  if (orphan && !checkpoint) {
    throw c.giveUp(
      new RecoveryFailedError(`worker ${orphan.id} lost, no live data-parallel peer holds its shard (stage ${orphan.coords.p ?? 0}, tp rank ${orphan.coords.t ?? 0}) and there is no checkpoint to roll back to; lost: ${causes}`),
    );
  }
  let reports: RecoverReport[];
  try {
    const recovered = Promise.all(survivors.map((w) => c.request<RecoverReport>(w, "recover", {}, o.timeoutMs)));
    const waiting = Promise.all(lost.map((w) => waitForState(c, w.id, "restoring", Date.now() + o.timeoutMs)));
    [reports] = await c.orFail(Promise.all([recovered, waiting]));
  } catch (err) {
    throw c.giveUp(new RecoveryFailedError(`recovery of ${causes} failed: ${(err as Error).message}`, { cause: err }));
  }
  if (checkpoint) return rollBack(c, checkpoint, lost, epoch, step, o);
  const applied = new Set(reports.map((r) => r.applied));
  if (applied.size > 1) throw c.giveUp(new RecoveryFailedError(`after losing ${causes} the survivors disagree on the last applied step (${[...applied].join(", ")})`));
  const appliedEverywhere = reports[0]?.applied === step;

  const records = await Promise.all(
    lost.map(async (w): Promise<RecoveryRecord> => {
      const peer = peers.get(w.id)!;
      try {
        const [, restored] = await c.orFail(
          Promise.all([c.request(peer, "sendState", { to: w.coords.rank }, o.timeoutMs), c.request<RestoreReport>(w, "restore", { from: peer.coords.rank }, o.timeoutMs)]),
        );
        const lostAt = c.lost.get(w.id)!;
        return {
          jobId: c.jobId,
          actorId: w.id,
          cause: lostAt.cause,
          epoch,
          step,
          rerun: !appliedEverywhere,
          source: "peer",
          from: peer.id,
          restoreSeconds: restored.seconds,
          seconds: (Date.now() - lostAt.at) / 1000,
          detectedAt: lostAt.at,
        };
      } catch (err) {
        throw c.giveUp(new RecoveryFailedError(`restoring ${w.id} from ${peer.id} failed: ${(err as Error).message}`, { cause: err }));
      }
    }),
  );
  if (c.epoch !== epoch) throw c.giveUp(new RecoveryFailedError(`another worker was lost while recovering ${causes}`));
  c.markRecovered(lost.map((w) => w.id));
  await publishRestored(o.events, records);
  return { records, appliedEverywhere };
}

/** Every worker loads its slice of the checkpoint; the job continues from its step. */
async function rollBack(c: RecoveryHost, dir: string, lost: WorkerRef[], epoch: number, step: number, o: { events: EventLog; timeoutMs: number }) {
  let restored: RestoreReport[];
  try {
    restored = await c.orFail(Promise.all(c.workers.map((w) => c.request<RestoreReport>(w, "loadCheckpoint", { dir }, o.timeoutMs))));
  } catch (err) {
    throw c.giveUp(new RecoveryFailedError(`rolling back to ${dir} failed: ${(err as Error).message}`, { cause: err }));
  }
  if (c.epoch !== epoch) throw c.giveUp(new RecoveryFailedError(`another worker was lost while rolling back to ${dir}`));
  const m = readManifest(dir);
  const records = lost.map((w): RecoveryRecord => {
    const lostAt = c.lost.get(w.id)!;
    const mine = restored[c.workers.indexOf(w)]!;
    return { jobId: c.jobId, actorId: w.id, cause: lostAt.cause, epoch, step, rerun: true, source: "checkpoint", from: dir, restoreSeconds: mine.seconds, seconds: (Date.now() - lostAt.at) / 1000, detectedAt: lostAt.at };
  });
  c.markRecovered(lost.map((w) => w.id));
  await publishRestored(o.events, records);
  return { records, appliedEverywhere: false, rolledBack: { dir, step: m.step, tokensSeen: m.tokensSeen, samplesSeen: m.samplesSeen } };
}

async function publishRestored(events: EventLog, records: readonly RecoveryRecord[]): Promise<void> {
  for (const r of records) {
    await events.publish({ type: "worker.restored", subject: r.actorId, time: Date.now(), data: { ...r } }, `job:${r.jobId}:restored:${r.actorId}:e${r.epoch}`);
  }
}

async function waitForState(c: RecoveryHost, id: string, state: string, deadline: number): Promise<void> {
  for (;;) {
    const s = await c.status(id).catch(() => undefined);
    if (s?.state === state && s.epoch === c.epoch) return;
    if (Date.now() > deadline) throw new RecoveryFailedError(`replacement ${id} did not reach ${state} in time (last state: ${s?.state ?? "not answering"})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
