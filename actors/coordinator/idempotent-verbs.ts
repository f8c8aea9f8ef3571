// Worker verbs whose handlers are idempotent (a ReplyMemo per step and epoch in worker.ts): the coordinator asks them
// again when a request or its reply may have been lost (nats-server restart), every `attemptMs`, until the verb's
// timeout. Other verbs are asked once.
import type { WorkerVerb } from "../worker/protocol.ts";

export const retriedVerbs: ReadonlySet<WorkerVerb> = new Set<WorkerVerb>(["step", "apply", "validate"]);

/** How long to wait for one reply before asking again: short, so an outage costs about this much. */
export const retryAttemptMs = 2000;
