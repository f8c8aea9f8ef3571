// The data-parallel replicas a job runs with now: the dp indices of the group's members, in order. An elastic job
// (pp = tp = 1) that shrank holds a subset of its replicas; its communicator is theirs, a worker's communicator rank
// its replica's position among them. A step's micro-batches are split over the replicas by position, so the same
// global batch (same samples, same order) is trained whatever the replica count.
import type { RankMember } from "../rank-members.ts";

/** The dp indices of the members, ascending. */
export function liveReplicas(members: readonly RankMember[]): number[] {
  return [...new Set(members.map((w) => w.coords.dp))].sort((a, b) => a - b);
}

/** Whether each replica is one worker (pp = tp = 1): only such a job can change its replicas. */
export function elasticLayout(members: readonly RankMember[]): boolean {
  return members.every((w) => w.coords.pp === 0 && w.coords.tp === 0);
}

/** A worker's rank in the job's communicator now: its world rank, or with pp = tp = 1 its replica's position. */
export function communicatorRank(members: readonly RankMember[], w: RankMember): number {
  return elasticLayout(members) ? liveReplicas(members).indexOf(w.coords.dp) : w.coords.rank;
}

/** What the survivors of a recovery are told: the replicas of the new communicator (absent with pp or tp > 1). */
export function replicasOf(members: readonly RankMember[]): { replicas?: number[] } {
  return elasticLayout(members) ? { replicas: liveReplicas(members) } : {};
}

/**
 * ZeRO-1 above 2 live replicas: the moments of each (stage, tp rank) are cut into one chunk per live replica, a
 * worker's chunk being its replica's position. Undefined at 2 replicas or fewer (every worker holds them whole).
 */
export function zeroChunks(members: readonly RankMember[]): { of: number; index: (w: RankMember) => number } | undefined {
  const replicas = liveReplicas(members);
  if (replicas.length <= 2) return undefined;
  return { of: replicas.length, index: (w) => replicas.indexOf(w.coords.dp) };
}
