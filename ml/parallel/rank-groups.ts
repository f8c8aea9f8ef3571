// The communication groups of one rank, built from the rank function's groups (ml/parallel/ranks.ts).
import { groupsOfRank, type RankLayout } from "./ranks.ts";
import { CollectiveError } from "../../runtime/collectives/errors.ts";
import type { Collectives, CollectivesWorld } from "../../runtime/collectives/types.ts";

export interface RankGroups {
  tp: Collectives;
  pp: Collectives;
  dp: Collectives;
  /** only on first and last pipeline stages */
  embedding?: Collectives;
}

/** Creates this rank's TP, PP, DP and embedding groups on a world communicator. */
export function groupsForRank(world: CollectivesWorld, layout: RankLayout): RankGroups {
  if (layout.worldSize !== world.size) {
    throw new CollectiveError(`layout has ${layout.worldSize} ranks but the communicator has ${world.size}`);
  }
  const g = groupsOfRank(layout, world.rank);
  return {
    tp: world.group(g.tp),
    pp: world.group(g.pp),
    dp: world.group(g.dp),
    embedding: g.embedding ? world.group(g.embedding) : undefined,
  };
}
