// `troupe train` of a job in the cluster: the cluster is the one named (--nats URL, or --cluster DIR, default
// ./.troupe, started as `troupe up` starts one when it is not running), the job is submitted to its job service,
// then followed here (unless --detach). The job lives in the cluster: this process may go away.
import os from "node:os";
import path from "node:path";
import type { SubmitReply, SubmitRequest } from "../actors/jobs/job-service.ts";
import type { TrainConfig } from "../ml/train/config.ts";
import { RequestFailedError } from "../runtime/errors.ts";
import { call } from "../runtime/rpc.ts";
import { clusterDir } from "./cluster/cluster-file.ts";
import { openCluster, type ClusterOptions } from "./cluster/cluster-options.ts";
import { ensureLocalCluster } from "./cluster/local-cluster.ts";
import { followJob } from "./job-follow.ts";

export interface SubmitOptions extends ClusterOptions {
  configFile: string;
  config: TrainConfig;
  name?: string;
  detach?: boolean;
  resume: boolean;
  runDir?: string;
  steps?: number;
  threads?: number;
  noSamples: boolean;
  tty?: boolean;
}

/** Submits the job and follows it; returns the exit code (0 detached or done, 1 failed, 130/143 stopped). */
export async function submitAndFollow(o: SubmitOptions): Promise<number> {
  if (!o.nats) {
    const dir = clusterDir(o.cluster);
    const { started } = await ensureLocalCluster(dir, os.hostname().replace(/[^A-Za-z0-9_-]/g, "-"));
    if (started) console.log(`started a local cluster in ${dir} (it keeps running after the job: troupe down --cluster ${dir} stops it)`);
  }
  const c = await openCluster(o);
  try {
    const { dp, pp, tp } = o.config.parallel;
    const req: SubmitRequest = {
      ...(o.name !== undefined ? { name: o.name } : {}),
      configName: o.config.name,
      layout: { dp, pp, tp },
      request: {
        configFile: path.resolve(o.configFile),
        runDir: path.resolve(o.runDir ?? o.config.runDir ?? path.join("runs", o.config.name)),
        cwd: process.cwd(),
        resume: o.resume,
        noSamples: o.noSamples,
        ...(o.steps !== undefined ? { steps: o.steps } : {}),
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
      },
    };
    const reply = (await call(c.nc, c.ns.jobsSubject("submit"), req, 15_000).catch((err: unknown) => {
      if (err instanceof RequestFailedError && err.reason === "no-responders")
        throw new Error("no job service answers on this cluster (start it with troupe up, or troupe train starts one in ./.troupe)");
      throw err;
    })) as SubmitReply;
    console.log(`job ${reply.jobId} submitted (dp ${dp} · pp ${pp} · tp ${tp}); run dir ${reply.runDir}`);
    if (o.detach) {
      console.log(`detached: troupe attach ${reply.jobId} follows it · troupe stop ${reply.jobId} stops it · troupe jobs lists jobs`);
      return 0;
    }
    return await followJob(c.nc, c.ns, reply.jobId, o.tty === undefined ? {} : { tty: o.tty });
  } finally {
    await c.close().catch(() => undefined);
  }
}
