// Elastic data parallelism, growing by itself (the config's `elastic.growOnJoin`): a job that shrank grows back to
// its configured dp when a host agent joins the cluster (a host registered that was not live before, or one back
// after it went silent), as `troupe scale --dp <configured>` would ask, with the agent named as the reason. Hosts
// are read from the registry every second; a scale that is refused (one pending, the job stopping) is logged.
import { HOST_SILENT_MS } from "../../runtime/host-calls.ts";
import { delay } from "../../runtime/async.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { Registry } from "../../runtime/registry.ts";
import type { JobActor, Resize } from "./job-machine.ts";

export interface GrowOnJoinDeps {
  registry: Pick<Registry, "listHosts">;
  /** The job's configured dp: what it grows back to. */
  dp: number;
  /** Whether the job runs fewer replicas than configured now. */
  shrunk: () => boolean;
  scale: (dp: number, reason: string) => Promise<Resize>;
  logger: Logger;
  everyMs?: number;
}

/** What growOnJoin needs of a coordinator `c` of a job configured with `dp` replicas. */
export function joinWatch(
  c: { job: Pick<JobActor, "getSnapshot">; scale: (dp: number, reason: string) => Promise<Resize> },
  registry: GrowOnJoinDeps["registry"],
  dp: number,
  logger: Logger,
): GrowOnJoinDeps {
  const shrunk = () => (c.job.getSnapshot().context.resizes.at(-1)?.to ?? dp) < dp;
  return { registry, dp, shrunk, scale: (n, reason) => c.scale(n, reason), logger };
}

/** Watches for joining agents until `signal` aborts; resolves then. */
export async function growOnJoin(d: GrowOnJoinDeps, signal: AbortSignal): Promise<void> {
  const liveHosts = async () => {
    const now = Date.now();
    const hosts = await d.registry.listHosts().catch(() => undefined);
    return hosts && new Set(hosts.filter((h) => h.slots > 0 && now - h.lastSeen < HOST_SILENT_MS).map((h) => h.name));
  };
  let known = (await liveHosts()) ?? new Set<string>();
  let scaling: Promise<unknown> | undefined;
  while (!signal.aborted) {
    await delay(d.everyMs ?? 1000, signal).catch(() => undefined);
    if (signal.aborted) break;
    const live = await liveHosts();
    if (!live) continue;
    const joined = [...live].filter((h) => !known.has(h));
    known = live;
    if (joined.length === 0 || !d.shrunk() || scaling) continue;
    const reason = `host agent ${joined.join(", ")} joined`;
    d.logger.info({ joined, dp: d.dp }, "a host agent joined a shrunk elastic job: growing it back");
    scaling = d
      .scale(d.dp, reason)
      .catch((err: unknown) => d.logger.warn({ err, joined }, "growing on a joining agent was refused"))
      .finally(() => (scaling = undefined));
  }
}
