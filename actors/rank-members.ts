// A job's members placed by world rank: one per rank of a rank layout (ml/parallel/ranks.ts), named
// `<job>-w<rank>`, at {dp, pp, tp} plus the rank. On the wire (TROUPE_COORDS, the actor records' `coords`) a
// place is {d, p, t, rank}, as workers and `troupe ps` read it: converted here, nowhere else.
import type { RankCoord } from "../ml/parallel/ranks.ts";
import type { GroupMember } from "../runtime/group/actor-group.ts";
import type { Coordinates } from "../runtime/types.ts";

export type RankPlace = Readonly<RankCoord> & { readonly rank: number };
export type RankMember = GroupMember<RankPlace>;

/** The actor id of a job's worker of world rank `rank`. */
export function memberId(jobId: string, rank: number): string {
  return `${jobId}-w${rank}`;
}

export function rankMembers(jobId: string, coords: readonly Readonly<RankCoord>[]): RankMember[] {
  return coords.map((c, rank) => ({ id: memberId(jobId, rank), coords: { dp: c.dp, pp: c.pp, tp: c.tp, rank } }));
}

/** The place as workers read it (TROUPE_COORDS) and actor records keep it. */
export function wireCoords(c: RankPlace): Coordinates {
  return { d: c.dp, p: c.pp, t: c.tp, rank: c.rank };
}

/** Whether two places hold the same shard of the model (stage and tensor rank): data-parallel peers. */
export function sameShard(a: RankPlace, b: RankPlace): boolean {
  return a.pp === b.pp && a.tp === b.tp;
}
