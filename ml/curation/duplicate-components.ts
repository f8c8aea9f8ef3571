// The last step of fuzzy dedup, shared by every way of running it (worker threads or actors): verified
// candidate pairs with Jaccard ≥ threshold join documents into components; one document stays per
// component (highest priority, then lowest index).
import { UnionFind } from "./union-find.ts";

export interface DuplicateComponents {
  /** keep[i] is false for every document removed as a near-duplicate. */
  keep: boolean[];
  /** For a removed document: the index of the one kept in its component. */
  keptFor: Map<number, number>;
  /** Verified duplicate edges (lo, hi, jaccard). */
  edges: Array<[number, number, number]>;
  /** Components with more than one member. */
  components: number;
}

/** `pairs` flattened [lo0, hi0, …] and sorted, `sims[p]` the exact Jaccard of pair p. */
export function resolveComponents(
  n: number,
  pairs: Uint32Array,
  sims: Float64Array,
  priorities: readonly number[],
  threshold: number,
): DuplicateComponents {
  const uf = new UnionFind(n);
  const edges: Array<[number, number, number]> = [];
  for (let p = 0; p < sims.length; p++) {
    if (sims[p]! < threshold) continue;
    edges.push([pairs[2 * p]!, pairs[2 * p + 1]!, sims[p]!]);
    uf.union(pairs[2 * p]!, pairs[2 * p + 1]!);
  }
  const keep = new Array<boolean>(n).fill(true);
  const keptFor = new Map<number, number>();
  const groups = uf.groups();
  for (const g of groups) {
    let best = g[0]!;
    for (const d of g) if (priorities[d]! > priorities[best]!) best = d;
    for (const d of g) {
      if (d === best) continue;
      keep[d] = false;
      keptFor.set(d, best);
    }
  }
  return { keep, keptFor, edges, components: groups.length };
}
