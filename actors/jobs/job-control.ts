// Asking a running job to stop (`troupe stop`, a follower's Ctrl-C): its coordinator finishes the step in flight,
// saves a checkpoint and ends the job as stopped. The request goes to the job's control subject.
import type { NatsConnection } from "@nats-io/transport-node";
import { jobControlSubject } from "../coordinator/control.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { call } from "../../runtime/rpc.ts";

export interface StopReply {
  /** The last committed step when the stop was asked. */
  step: number;
}

export function requestJobStop(nc: NatsConnection, ns: Namespace, jobId: string, reason: string, timeoutMs = 5000): Promise<StopReply> {
  return call(nc, jobControlSubject(ns, jobId), { stop: { reason } }, timeoutMs) as Promise<StopReply>;
}
