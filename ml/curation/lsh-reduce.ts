// The reducer side of LSH: documents whose key is equal in the same band become candidate pairs.

/** Band entries routed to one reducer: parallel arrays of band index, band key and document index. */
export interface BandEntries {
  band: Uint16Array;
  key: Float64Array;
  doc: Uint32Array;
}

/**
 * Candidate pairs (lo, hi), lo < hi, deduplicated and sorted, flattened as [lo0, hi0, lo1, hi1, …].
 * Every pair inside a bucket is emitted, so the later union-find sees all verified edges.
 */
export function candidatePairs(entries: BandEntries): Uint32Array {
  const buckets = new Map<string, number[]>();
  for (let i = 0; i < entries.doc.length; i++) {
    const id = `${entries.band[i]}:${entries.key[i]}`;
    const list = buckets.get(id);
    if (list) list.push(entries.doc[i]!);
    else buckets.set(id, [entries.doc[i]!]);
  }
  const seen = new Set<number>();
  const pairs: number[] = [];
  for (const members of buckets.values()) {
    if (members.length < 2) continue;
    members.sort((a, b) => a - b);
    for (let x = 0; x < members.length; x++) {
      for (let y = x + 1; y < members.length; y++) {
        const lo = members[x]!;
        const hi = members[y]!;
        if (lo === hi) continue;
        const code = lo * 67108864 + hi; // exact while documents < 2^26
        if (seen.has(code)) continue;
        seen.add(code);
        pairs.push(lo, hi);
      }
    }
  }
  return sortPairs(Uint32Array.from(pairs));
}

/** Sort flattened pairs by (lo, hi) and drop repeats. */
export function sortPairs(flat: Uint32Array): Uint32Array {
  const n = flat.length / 2;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => flat[2 * a]! - flat[2 * b]! || flat[2 * a + 1]! - flat[2 * b + 1]!);
  const out: number[] = [];
  for (const i of order) {
    const lo = flat[2 * i]!;
    const hi = flat[2 * i + 1]!;
    const m = out.length;
    if (m > 0 && out[m - 2] === lo && out[m - 1] === hi) continue;
    out.push(lo, hi);
  }
  return Uint32Array.from(out);
}
