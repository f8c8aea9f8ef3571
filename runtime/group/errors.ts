// Error classes of the actor group.
import { describeDeath, type DeathCause } from "../death-cause.ts";

/** The member died (or was killed to be restarted) while something was asked of it or awaited from it. */
export class MemberLostError extends Error {
  override name = "MemberLostError";
  constructor(
    readonly memberId: string,
    readonly death: DeathCause,
  ) {
    super(`${memberId} lost: ${describeDeath(death)}`);
  }
}

/** The group moved to a newer epoch (its membership changed): what was asked or awaited in the older one is moot. */
export class EpochMovedError extends Error {
  override name = "EpochMovedError";
  constructor(
    readonly from: number,
    readonly to: number,
  ) {
    super(`the group moved on from epoch ${from} to ${to}`);
  }
}

/** A member did not reach a state in time; `last` is the last state it recorded (null: none seen). */
export class NotReachedError extends Error {
  override name = "NotReachedError";
  constructor(
    readonly memberId: string,
    readonly state: string,
    readonly last: string | null,
  ) {
    super(`${memberId} did not reach ${state} in time (last state: ${last ?? "none recorded"})`);
  }
}

/** The group was stopped while something was awaited of it. */
export class GroupStoppedError extends Error {
  override name = "GroupStoppedError";
}
