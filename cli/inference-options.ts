// The command-line options `troupe eval` and `troupe generate` share for running on parallel workers, and
// turning them into a placement (undefined = one process).
import { asUsage } from "./errors.ts";
import type { Command } from "commander";
import { resolveConnection } from "./cluster/cluster-options.ts";
import { wholeNumber } from "../ml/eval/option-values.ts";
import type { ParallelPlacement } from "../actors/inference/open-model.ts";

export interface ParallelCliOptions {
  dp?: string;
  tp: string;
  pp: string;
  threads?: string;
  cluster?: string;
  nats?: string;
  tokenFile?: string;
  clusterId?: string;
}

export function addParallelOptions(cmd: Command): Command {
  return cmd
    .option("--tp <n>", "tensor-parallel workers per pipeline stage (heads and vocabulary split n ways)", "1")
    .option("--pp <n>", "pipeline stages (layers split into n contiguous runs)", "1")
    .option("--threads <n>", "BLAS threads per worker (with --tp/--pp)", "1")
    .option("--cluster <dir>", "run the workers on the cluster `troupe up` started in <dir> (default: a private one)")
    .option("--nats <url>", "run the workers on a running cluster at this NATS URL (its host agents need dp·pp·tp free slots)")
    .option("--token-file <file>", "file holding the NATS token (with --nats)")
    .option("--cluster-id <id>", "cluster id (with --nats)", "local");
}

/** Workers when --dp, --tp or --pp > 1 or a cluster is named; undefined = everything in this process. */
export function parallelPlacementOf(o: ParallelCliOptions): ParallelPlacement | undefined {
  const { tp, pp, dp, threads } = asUsage(() => ({
    tp: wholeNumber("--tp", o.tp, 1),
    pp: wholeNumber("--pp", o.pp, 1),
    dp: wholeNumber("--dp", o.dp ?? "1", 1),
    threads: wholeNumber("--threads", o.threads ?? "1", 1),
  }));
  const remote = o.cluster !== undefined || o.nats !== undefined || o.tokenFile !== undefined;
  if (dp * tp * pp === 1 && !remote) return undefined;
  const conn = remote ? resolveConnection(o) : undefined;
  return { dp, tp, pp, threads, natsUrl: conn?.url, token: conn?.token, caFile: conn?.caFile, clusterId: conn?.clusterId };
}
