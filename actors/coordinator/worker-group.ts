// The job's workers as an actor group (runtime/group/actor-group.ts): one process per world rank, started through
// the host agents under a one_for_one supervisor whose parent is the coordinator; and `ask` as the coordinator's
// parts use it: a request that fails because a worker was lost fails with WorkerLostError, so it is recovered
// and asked again, while an error of the worker's own stays that error.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describeDeath } from "../../runtime/death-cause.ts";
import { KEEP_SPARE_ENV } from "../../runtime/agent/spare-pool.ts";
import { ActorGroup, type GroupDeps } from "../../runtime/group/actor-group.ts";
import { EpochMovedError, MemberLostError } from "../../runtime/group/errors.ts";
import type { AskOptions } from "../../runtime/group/protocol.ts";
import { rankMembers, wireCoords, type RankMember, type RankPlace } from "../rank-members.ts";
import { workerSubject, type WorkerProtocol } from "../worker/protocol.ts";
import { WorkerLostError } from "./errors.ts";
import { retriedVerbs, retryAttemptMs } from "./idempotent-verbs.ts";
import type { CoordinatorOptions, Victim } from "./types.ts";

const workerMain = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../worker/main.ts");

/** What the coordinator's parts use of the group (a fake one in unit tests). */
export type WorkerGroup = Pick<
  ActorGroup<RankPlace, WorkerProtocol>,
  | "members"
  | "epoch"
  | "bumpEpoch"
  | "ask"
  | "settle"
  | "waitFor"
  | "waitAll"
  | "restart"
  | "retire"
  | "retiredMembers"
  | "reinstate"
  | "record"
  | "records"
  | "failed"
  | "failure"
  | "fail"
  | "onLost"
  | "timeouts"
>;

/** Asks a worker; see workerAsk. */
export type Ask = <V extends keyof WorkerProtocol & string>(
  w: RankMember,
  verb: V,
  req: WorkerProtocol[V]["req"],
  o?: AskOptions,
) => Promise<WorkerProtocol[V]["reply"]>;

export function workerGroup(deps: GroupDeps, o: CoordinatorOptions): ActorGroup<RankPlace, WorkerProtocol> {
  // one worker per world rank, named by rank; rank = dp when pp = tp = 1
  const coords = o.layout?.coords ?? Array.from({ length: o.dp }, (_, d) => ({ dp: d, pp: 0, tp: 0 }));
  return new ActorGroup<RankPlace, WorkerProtocol>(deps, {
    id: o.jobId,
    members: rankMembers(o.jobId, coords),
    // single-threaded GC: many workers per machine gain nothing from GC helper threads (test/bench/parallel-overhead.ts)
    // the agent keeps a warm spare worker process: a lost worker's replacement skips the slow start (agent/spare-pool.ts)
    start: (w) => ({
      coords: wireCoords(w.coords),
      ...(o.hosts?.[w.coords.rank] ? { host: o.hosts[w.coords.rank] } : {}),
      argv: ["node", "--import", "tsx", "--single-threaded-gc", workerMain, "--job", o.jobFile],
      env: { [KEEP_SPARE_ENV]: "1" },
      // the config's relative paths (data cache) mean what they mean here, on every host that shares the filesystem
      cwd: process.cwd(),
    }),
    strategy: "one_for_one",
    intensity: o.intensity ?? { maxRestarts: 3, periodMs: 60_000 },
    backoff: o.backoff ?? { initialMs: 20, maxMs: 500, jitter: 0.1 },
    // start: a worker boots (imports, native addon) slowly on a loaded machine; it may take as long as loading
    // suspect after two missed beats: suspect only makes the supervisor ask the worker's host agent (a lost host
    // fails it at once, runtime/supervisor-host-probe.ts); a worker on a live host is killed after killMs of silence.
    // Beats every 250 ms and suspect after 600 ms were tried (host loss p50 2.73 s against 3.32 s on an idle machine,
    // p95 3.38 against 3.48): the CI run with them missed a chaos fault (a worker not `alive` at its tick) under load,
    // so the margin against flapping to suspect was kept
    timeouts: { heartbeatMs: 500, suspectMs: 1000, killMs: 10_000, stepMs: 300_000, startMs: 180_000, ...o.timeouts },
    subject: (id, verb) => workerSubject(deps.ns, id, verb),
    epoch: o.epoch ?? 1,
    retry: { verbs: retriedVerbs, attemptMs: retryAttemptMs },
    probe: { verb: "status", req: {} },
    lifecycleKind: "worker",
  });
}

/**
 * The coordinator's ask. A request fails because a worker died before that death is known (a step on a live worker
 * fails when its peer's connection breaks): after a failure the other workers are settled (each answers or is lost)
 * and a loss since the request began is reported as WorkerLostError instead of the symptom.
 */
export function workerAsk(group: WorkerGroup, victims: ReadonlyMap<string, Victim>): Ask {
  return async (w, verb, req, o) => {
    const lostBefore = victims.size;
    const epoch = group.epoch;
    try {
      return await group.ask(w, verb, req, o);
    } catch (err) {
      if (group.failure) throw group.failure;
      if (err instanceof MemberLostError) throw new WorkerLostError(err.memberId, describeDeath(err.death));
      if (!(err instanceof EpochMovedError))
        await group.settle(
          group.members.filter((m) => !victims.has(m.id)),
          { deadlineMs: group.timeouts.killMs },
        );
      if (group.failure) throw group.failure;
      if (victims.size > lostBefore || group.epoch !== epoch)
        throw new WorkerLostError([...victims.keys()].join(", ") || "a worker", "lost during the request");
      throw err;
    }
  };
}
