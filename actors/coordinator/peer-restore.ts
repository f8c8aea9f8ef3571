// Restoring lost workers from their data-parallel peers (one attempt of a live recovery, live-recovery.ts). The
// supervisor has already restarted each lost worker in the new epoch. Every survivor is told to `recover` (abort the
// step in flight, finish an apply it started, join the communicator of the new epoch); each replacement joins that
// communicator too and waits in `restoring`. Then a live DP peer holding the same shard sends it parameters, AdamW
// moments and step count over the data plane. Whether step k runs again follows from what the survivors applied:
// none → rerun; all → committed as it is (the replacement took the post-apply state). When no live peer holds a
// lost shard, every worker rolls back to the newest checkpoint instead (rollback.ts).
// ZeRO-1 with dp > 2 (a.zeroShards): dp rank r holds moment shards r and r + 1, so a replacement takes its
// parameters and shard r from the peer before it (its backup copy) and shard r + 1 from the peer after it; with
// both back, every worker gathers the shards' parameters from their owners (a gather the loss broke is redone).
import { NotReachedError } from "../../runtime/group/errors.ts";
import { sameShard, type RankMember } from "../rank-members.ts";
import type { RecoverReport, RestoreReport } from "../worker/protocol.ts";
import { RecoveryFailedError, RecoveryInterruptedError, ReplacementsLateError } from "./errors.ts";
import { communicatorRank, replicasOf } from "./replicas.ts";
import { rollBack } from "./rollback.ts";
import type { RestoreAttempt, RestoreOutcome } from "./restore-attempt.ts";
import type { RecoveryRecord } from "./types.ts";

export async function restoreLost(a: RestoreAttempt): Promise<RestoreOutcome> {
  const lost = a.group.members.filter((w) => a.victims.has(w.id));
  const survivors = a.group.members.filter((w) => !a.victims.has(w.id));
  const causes = lost.map((w) => `${w.id} (${a.victims.get(w.id)!.cause})`).join(", ");
  const peers = new Map(lost.map((w) => [w.id, donorsOf(a, survivors, w)]));
  const orphan = lost.find((w) => !peers.get(w.id));
  const checkpoint = orphan ? await a.lastCheckpoint() : undefined;
  if (orphan && !checkpoint && a.zeroShards && !a.zeroReshards) {
    const n = a.zeroShards,
      d = orphan.coords.dp;
    throw new RecoveryFailedError(
      `worker ${orphan.id} lost, its ZeRO-1 shards ${d} and ${(d + 1) % n} are held by dp ranks ${(d + n - 1) % n} and ${(d + 1) % n} of stage ${orphan.coords.pp}, tp rank ${orphan.coords.tp}, not both alive, and there is no checkpoint to roll back to; lost: ${causes}`,
    );
  }
  if (orphan && !checkpoint) {
    throw new RecoveryFailedError(
      `worker ${orphan.id} lost, no live data-parallel peer holds its shard (stage ${orphan.coords.pp}, tp rank ${orphan.coords.tp}) and there is no checkpoint to roll back to; lost: ${causes}`,
    );
  }
  const reports = await rejoin(a, survivors, lost, causes);
  if (checkpoint) return rollBack(a, checkpoint, lost);
  const applied = new Set(reports.map((r) => r.applied));
  if (applied.size > 1)
    throw new RecoveryFailedError(`after losing ${causes} the survivors disagree on the last applied step (${[...applied].join(", ")})`);
  const appliedEverywhere = reports[0]?.applied === a.step;
  const records = await Promise.all(lost.map((w) => fromPeer(a, w, peers.get(w.id)!, !appliedEverywhere)));
  if (a.zeroReshards) await reshard(a, lost, causes);
  else if (a.zeroShards) await gatherShards(a, causes);
  if (a.group.epoch !== a.epoch) throw new RecoveryInterruptedError(`another worker was lost while recovering ${causes}`);
  return { records, appliedEverywhere };
}

/** Survivors join the new epoch's communicator; replacements reach `restoring` in it. Answers the survivors' reports. */
async function rejoin(a: RestoreAttempt, survivors: RankMember[], lost: RankMember[], causes: string): Promise<RecoverReport[]> {
  // an elastic job that may shrink waits for replacements only until its replace deadline (elastic.ts)
  const deadline = Math.min(Date.now() + a.timeoutMs, a.replaceDeadline ?? Infinity);
  const replicas = replicasOf(a.group.members);
  try {
    const recovered = Promise.all(survivors.map((w) => a.ask(w, "recover", replicas, { timeoutMs: a.timeoutMs })));
    const waiting = Promise.all(lost.map((w) => a.group.waitFor(w, "restoring", { epoch: a.epoch, deadline })));
    const [reports] = await a.guard(Promise.all([recovered, waiting]));
    return reports;
  } catch (err) {
    if (err instanceof RecoveryInterruptedError) throw err;
    if (err instanceof NotReachedError && a.replaceDeadline !== undefined)
      throw new ReplacementsLateError(`no replacement for ${causes} came within the elastic replace timeout: ${err.message}`, {
        cause: err,
      });
    const why = err instanceof NotReachedError ? `replacement ${err.message}` : (err as Error).message;
    throw new RecoveryFailedError(`recovery of ${causes} failed: ${why}`, { cause: err });
  }
}

/** The live peers a lost worker's state comes from: one of its shard, or (ZeRO-1, dp > 2) its two dp neighbours. */
type Donors = { peer: RankMember; next?: RankMember };

function donorsOf(a: RestoreAttempt, survivors: readonly RankMember[], w: RankMember): Donors | undefined {
  const peers = survivors.filter((s) => sameShard(s.coords, w.coords));
  const n = a.zeroShards;
  if (!n || a.zeroReshards) return peers[0] && { peer: peers[0] };
  const at = (d: number) => peers.find((s) => s.coords.dp === ((d % n) + n) % n);
  const [peer, next] = [at(w.coords.dp - 1), at(w.coords.dp + 1)];
  return peer && next ? { peer, next } : undefined;
}

/** ZeRO-1 with dp > 2, every worker back: each shard's parameters from its owner (a collective of all workers). */
async function gatherShards(a: RestoreAttempt, causes: string): Promise<void> {
  try {
    await a.guard(Promise.all(a.group.members.map((w) => a.ask(w, "gatherShards", {}, { timeoutMs: a.timeoutMs }))));
  } catch (err) {
    if (err instanceof RecoveryInterruptedError) throw err;
    throw new RecoveryFailedError(`gathering the ZeRO-1 shards after restoring ${causes} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * An elastic ZeRO-1 job, every worker back: all of them re-shard the moments over the live replicas (the
 * replacements, holding none yet, take part as `fresh`); the parameters come along.
 */
async function reshard(a: RestoreAttempt, lost: readonly RankMember[], causes: string): Promise<void> {
  const fresh = new Set(lost.map((w) => w.id));
  try {
    await a.guard(Promise.all(a.group.members.map((w) => a.ask(w, "reshard", { fresh: fresh.has(w.id) }, { timeoutMs: a.timeoutMs }))));
  } catch (err) {
    if (err instanceof RecoveryInterruptedError) throw err;
    const what = lost.length > 0 ? `after restoring ${causes}` : "over the live replicas";
    throw new RecoveryFailedError(`re-sharding the ZeRO-1 moments ${what} failed: ${(err as Error).message}`, { cause: err });
  }
}

async function fromPeer(a: RestoreAttempt, w: RankMember, donors: Donors, rerun: boolean): Promise<RecoveryRecord> {
  const { peer, next } = donors;
  let restored: RestoreReport;
  const rankOf = (m: RankMember) => communicatorRank(a.group.members, m);
  const opts = { timeoutMs: a.timeoutMs };
  try {
    if (a.zeroReshards) {
      // the parameters and step only: the moments come in the re-shard that follows
      const part = { zeroShards: [], params: true };
      [, restored] = await a.guard(
        Promise.all([
          a.ask(peer, "sendState", { to: rankOf(w), ...part }, opts),
          a.ask(w, "restore", { from: rankOf(peer), parts: [{ from: rankOf(peer), ...part }] }, opts),
        ]),
      );
    } else if (!next) {
      [, restored] = await a.guard(
        Promise.all([a.ask(peer, "sendState", { to: rankOf(w) }, opts), a.ask(w, "restore", { from: rankOf(peer) }, opts)]),
      );
    } else {
      const n = a.zeroShards!;
      const own = [w.coords.dp],
        backup = [(w.coords.dp + 1) % n];
      [, , restored] = await a.guard(
        Promise.all([
          a.ask(peer, "sendState", { to: rankOf(w), zeroShards: own }, opts),
          a.ask(next, "sendState", { to: rankOf(w), zeroShards: backup, params: false }, opts),
          a.ask(
            w,
            "restore",
            {
              from: rankOf(peer),
              parts: [
                { from: rankOf(peer), zeroShards: own, params: true },
                { from: rankOf(next), zeroShards: backup, params: false },
              ],
            },
            opts,
          ),
        ]),
      );
    }
  } catch (err) {
    if (err instanceof RecoveryInterruptedError) throw err;
    throw new RecoveryFailedError(`restoring ${w.id} from ${peer.id} failed: ${(err as Error).message}`, { cause: err });
  }
  const lost = a.victims.get(w.id)!;
  return {
    jobId: a.jobId,
    actorId: w.id,
    cause: lost.cause,
    epoch: a.epoch,
    step: a.step,
    rerun,
    source: "peer",
    from: peer.id,
    restoreSeconds: restored.seconds,
    seconds: (Date.now() - lost.at) / 1000,
    detectedAt: lost.at,
  };
}
