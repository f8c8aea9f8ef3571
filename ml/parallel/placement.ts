// Placement of ranks onto hosts and slots: which physical slot runs which (d, p, t).
import { type RankLayout } from "./ranks.ts";
import { InvalidLayoutError } from "./errors.ts";

export interface ClusterShape {
  hosts: number;
  slotsPerHost: number;
}

interface Slot {
  host: number;
  slot: number;
}

export interface Placement {
  kind: "topology" | "naive";
  /** slots[rank] */
  slots: readonly Slot[];
  cluster: ClusterShape;
}

function validateCluster(layout: RankLayout, cluster: ClusterShape): void {
  for (const [name, v] of [
    ["hosts", cluster.hosts],
    ["slots per host", cluster.slotsPerHost],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InvalidLayoutError(`${name} must be a positive integer, got ${String(v)}`);
  }
  const capacity = cluster.hosts * cluster.slotsPerHost;
  if (layout.worldSize > capacity) {
    throw new InvalidLayoutError(
      `dp·pp·tp = ${layout.worldSize} ranks do not fit on ${cluster.hosts} hosts × ${cluster.slotsPerHost} slots = ${capacity} slots`,
    );
  }
}

/**
 * Topology-aware placement: TP groups packed whole into one host (the 4 activation all-reduces per layer need
 * the fastest links), then DP replicas of a stage on consecutive hosts (the gradient all-reduce is the next
 * largest), and pipeline stages outermost across hosts (one point-to-point tensor per micro-batch per boundary).
 * A TP group never straddles hosts when tp ≤ slots per host: a host with fewer free slots than tp is left
 * partly empty instead. Groups are placed in (pp, dp) order regardless of the rank numbering's axis order.
 */
export function topologyAwarePlacement(layout: RankLayout, cluster: ClusterShape): Placement {
  validateCluster(layout, cluster);
  const { dp, pp, tp } = layout.sizes;
  const byCoord = new Map(layout.coords.map((c, r) => [`${c.dp},${c.pp},${c.tp}`, r]));
  const slots = new Array<Slot>(layout.worldSize);
  let host = 0;
  let slot = 0;
  for (let p = 0; p < pp; p++) {
    for (let d = 0; d < dp; d++) {
      if (tp <= cluster.slotsPerHost && cluster.slotsPerHost - slot < tp) {
        host++;
        slot = 0;
      }
      for (let t = 0; t < tp; t++) {
        if (slot === cluster.slotsPerHost) {
          host++;
          slot = 0;
        }
        if (host >= cluster.hosts) {
          throw new InvalidLayoutError(
            `cannot keep each TP group of ${tp} inside one host: ${cluster.hosts} hosts × ${cluster.slotsPerHost} slots ` +
              `leave too many slots unusable; use more hosts or a tp that divides the slots per host`,
          );
        }
        slots[byCoord.get(`${d},${p},${t}`)!] = { host, slot };
        slot++;
      }
    }
  }
  return { kind: "topology", slots, cluster };
}

/** Naive placement: ranks dealt round-robin over hosts (what a group-unaware scheduler spreading load does). */
export function naivePlacement(layout: RankLayout, cluster: ClusterShape): Placement {
  validateCluster(layout, cluster);
  const slots = Array.from({ length: layout.worldSize }, (_, r) => ({
    host: r % cluster.hosts,
    slot: Math.floor(r / cluster.hosts),
  }));
  return { kind: "naive", slots, cluster };
}

/** True when every rank of the group runs on the same host. */
export function groupOnOneHost(placement: Placement, group: readonly number[]): boolean {
  return group.every((r) => placement.slots[r]!.host === placement.slots[group[0]!]!.host);
}

/** Ranks per host, in slot order (hosts with no rank give an empty list). */
export function ranksByHost(placement: Placement): number[][] {
  const hosts = Array.from({ length: placement.cluster.hosts }, () => [] as number[]);
  placement.slots.forEach((s, r) => (hosts[s.host]![s.slot] = r));
  return hosts.map((h) => h.filter((r) => r !== undefined));
}
