// Boot and load of a training rank: where it sits in the job (the rank layout, computed once from the config's
// `parallel` section), its communicator of an epoch, and its compute: the data-parallel replica when pp·tp = 1,
// else its (stage, TP shard) of the 3D model. A recovery rebuilds the compute with RankCompute.rejoin.
import type { NatsConnection } from "@nats-io/transport-node";
import { sha256File } from "../../ml/checkpoint/store.ts";
import { ZeroAdamW } from "../../ml/optim/zero-adamw.ts";
import { groupsForRank } from "../../ml/parallel/rank-groups.ts";
import { parseAxisOrder, rankLayout, type RankLayout } from "../../ml/parallel/ranks.ts";
import type { TrainBackends } from "../../ml/train/backends.ts";
import { zeroReshardsLive, type TrainConfig } from "../../ml/train/config.ts";
import type { TrainingData } from "../../ml/train/types.ts";
import { readCollectiveKeyFile } from "../../runtime/collectives/collective-key.ts";
import { KvRendezvous } from "../../runtime/collectives/kv-rendezvous.ts";
import { advertisedHost } from "../../runtime/advertise.ts";
import { createCpuCollectives } from "../../runtime/collectives/tcp-collectives.ts";
import type { TransportCounters } from "../../runtime/collectives/transport-counters.ts";
import type { CollectivesWorld } from "../../runtime/collectives/types.ts";
import type { Logger } from "../../runtime/logger.ts";
import { DataParallelCompute } from "./data-parallel-compute.ts";
import { WorkerProtocolError } from "./errors.ts";
import type { FaultInjector } from "./faults.ts";
import type { JobSpec } from "./job-spec.ts";
import type { RankCompute } from "./rank-compute.ts";
import { StageParallelCompute } from "./stage-parallel-compute.ts";

/** One rank of a job: what its compute is built from. */
export interface RankSetup {
  job: JobSpec;
  backends: TrainBackends;
  layout: RankLayout;
  /** World rank. */
  rank: number;
  faults: FaultInjector;
  /** The step the process is on: fault hooks fire at a step. */
  step: () => number;
  /** Bytes and seconds of this process's collectives, over every communicator it joins (reported with each step). */
  collectives: TransportCounters;
}

/** The tokenizer a rank's data came from, as a checkpoint names it. */
export interface TokenizerRef {
  file: string;
  sha256?: string;
}

/** The layout of the job's (dp, pp, tp) sizes in its axis order (Megatron's when the config names none). */
export function jobLayout(parallel: TrainConfig["parallel"]): RankLayout {
  const { dp, pp, tp, order } = parallel;
  return rankLayout({ dp, pp, tp }, order ? parseAxisOrder(order) : undefined);
}

/**
 * Connects to every rank of the communicator of `epoch` (session `<job session>-e<epoch>`), authenticated with the
 * job's key; a connection that fails the handshake (a stranger, a wrong key) is dropped and logged.
 */
export async function joinWorld(
  nc: NatsConnection,
  s: RankSetup,
  epoch: number,
  log: Logger,
  replicas?: readonly number[],
): Promise<CollectivesWorld> {
  const session = `${s.job.session}-e${epoch}`;
  const rendezvous = await KvRendezvous.open(nc, session);
  const { rank, worldSize } = communicatorPlace(s, replicas);
  const world = await createCpuCollectives({
    rank,
    worldSize,
    session,
    rendezvous,
    host: advertisedHost(),
    connectTimeoutMs: s.job.rendezvousTimeoutMs,
    key: readCollectiveKeyFile(s.job.collectiveKeyFile),
    onAuthFailure: (err) => log.warn({ err, epoch }, "collective connection refused: it failed authentication"),
    counters: s.collectives,
  });
  return s.collectives.timeWorld(world);
}

/** Elastic DP replicas are named in `TROUPE_DP_REPLICAS` ("0,2") for workers started after the replicas changed. */
export const DP_REPLICAS_ENV = "TROUPE_DP_REPLICAS";

export function replicasFromEnv(env: NodeJS.ProcessEnv = process.env): number[] | undefined {
  const v = env[DP_REPLICAS_ENV];
  return v ? v.split(",").map(Number) : undefined;
}

/**
 * Where this rank sits in the communicator: its world rank, or, when an elastic data-parallel job (pp = tp = 1)
 * runs with a subset of its replicas, its dp's index among them (rank = dp when pp = tp = 1).
 */
function communicatorPlace(s: RankSetup, replicas: readonly number[] | undefined): { rank: number; worldSize: number } {
  if (!replicas) return { rank: s.rank, worldSize: s.layout.worldSize };
  const at = replicas.indexOf(s.rank);
  if (s.layout.worldSize !== s.layout.sizes.dp || at < 0)
    throw new WorkerProtocolError(`rank ${s.rank} is not among the data-parallel replicas ${replicas.join(",")} (pp = tp = 1 only)`);
  return { rank: at, worldSize: replicas.length };
}

/** Prepares the job's data and builds this rank's compute on `world`. */
export async function loadRank(s: RankSetup, world: CollectivesWorld): Promise<{ compute: RankCompute; tokenizer: TokenizerRef }> {
  const c = s.job.config;
  s.backends.setThreads?.(c.threads);
  const corpus = await s.backends.prepareCorpus(c);
  const tokenizer = { file: corpus.tokenizerFile, sha256: sha256OrUndefined(corpus.tokenizerFile) };
  return { compute: await createRankCompute(s, world, corpus.data), tokenizer };
}

/** The data-parallel replica (pp·tp = 1) or this rank's stage of the 3D model, initialised from the job's seed. */
async function createRankCompute(s: RankSetup, world: CollectivesWorld, data: TrainingData): Promise<RankCompute> {
  const c = s.job.config;
  const { dp, pp, tp } = s.layout.sizes;
  const gpt = { ...c.model, vocabSize: c.data.vocabSize };
  if (pp * tp > 1) {
    const groupsOf = (w: CollectivesWorld) => s.faults.wrapGroups(groupsForRank(w, s.layout), s.step);
    const microBatches = c.batch.size / c.batch.microBatch / dp;
    return StageParallelCompute.create({ model: gpt, config: c, layout: s.layout, rank: s.rank, groupsOf, microBatches, data }, world);
  }
  const model = await s.backends.createModel(gpt, c.seed);
  const dpGroupOf = (w: CollectivesWorld) => s.faults.hooked(w, "allreduce", s.step, () => false);
  const optimizer =
    c.parallel.zero === 1
      ? new ZeroAdamW(model, c.optimizer, { group: dpGroupOf(world), deferGather: true, reshardsLive: zeroReshardsLive(c) })
      : s.backends.createOptimizer(model, c.optimizer);
  return new DataParallelCompute(model, optimizer, data, dpGroupOf, world);
}

function sha256OrUndefined(file: string): string | undefined {
  try {
    return sha256File(file);
  } catch {
    return undefined;
  }
}
