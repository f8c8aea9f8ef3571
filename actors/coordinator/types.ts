// Plain types shared by the coordinator's parts.
import type { Coordinates } from "../../runtime/types.ts";

/** A worker of the job: its actor id and place {d, p, t, rank}. */
export interface WorkerRef {
  id: string;
  coords: Coordinates;
}
