// Which host runs which rank: the topology-aware placement (ml/parallel/placement.ts) over the live host agents that
// have worker slots, by host name. Tensor-parallel groups stay inside one host and pipeline stages go across hosts.
// When the ranks do not fit that way (fewer slots than ranks, one host), the supervisor picks hosts by load instead.
import { topologyAwarePlacement } from "../../ml/parallel/placement.ts";
import type { RankLayout } from "../../ml/parallel/ranks.ts";
import { HOST_SILENT_MS } from "../../runtime/host-calls.ts";
import type { Registry } from "../../runtime/registry.ts";
import type { HostRecord } from "../../runtime/types.ts";

/** The host of each rank (index = rank), or undefined when the placement does not fit the live hosts. */
export function placeRanks(layout: RankLayout, hosts: readonly HostRecord[], now = Date.now()): string[] | undefined {
  const usable = hosts.filter((h) => h.slots > 0 && now - h.lastSeen < HOST_SILENT_MS).sort((a, b) => a.name.localeCompare(b.name));
  if (usable.length === 0) return undefined;
  const slotsPerHost = Math.min(...usable.map((h) => h.slots));
  try {
    const placement = topologyAwarePlacement(layout, { hosts: usable.length, slotsPerHost });
    return placement.slots.map((s) => usable[s.host]!.name);
  } catch {
    return undefined;
  }
}

/** placeRanks over the hosts registered now; undefined when the registry cannot be read. */
export async function workerHosts(registry: Registry, layout: RankLayout): Promise<string[] | undefined> {
  const hosts = await registry.listHosts().catch(() => undefined);
  return hosts && placeRanks(layout, hosts);
}
