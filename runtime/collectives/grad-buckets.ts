// Data-parallel gradient all-reduce in buckets, started while backward is still running (Megatron/DDP style).
// Gradients are registered in the order backward finishes them; consecutive ones are packed into buckets of
// about `bucketBytes`. When every gradient of a bucket is marked ready the bucket is copied into one flat buffer,
// all-reduced, and copied back (times `scale`) — or, when its gradients lie back to back in one buffer (as a
// parameter store's do), all-reduced in place through one view. Buckets are launched strictly in index order, so every rank
// issues the same collectives in the same order, and the per-element result is the same as one all-reduce of
// everything: bit for bit, whatever the bucket size.
import { CollectiveError } from "./errors.ts";
import type { Collectives } from "./types.ts";

/** [first, end) gradient indices of each bucket: consecutive gradients, each bucket at most `bucketBytes` unless a
 * single gradient is larger. */
export function assignBuckets(sizes: readonly number[], bucketBytes: number): [number, number][] {
  if (!(bucketBytes > 0)) throw new CollectiveError(`bucket size must be positive, got ${bucketBytes}`);
  const buckets: [number, number][] = [];
  let start = 0;
  let bytes = 0;
  sizes.forEach((n, i) => {
    if (i > start && bytes + 4 * n > bucketBytes) {
      buckets.push([start, i]);
      start = i;
      bytes = 0;
    }
    bytes += 4 * n;
  });
  if (sizes.length > start) buckets.push([start, sizes.length]);
  return buckets;
}

export interface GradientBucketOptions {
  /** target bytes per bucket (default 4 MiB) */
  bucketBytes?: number;
  /** multiply the reduced gradients by this (1 / data-parallel size to average; default 1) */
  scale?: number;
}

export class GradientBuckets {
  private readonly buckets: [number, number][];
  /** per bucket: one view over its gradients when they are contiguous, else null (copied through a flat buffer) */
  private readonly spans: (Float32Array | null)[];
  private ready: boolean[];
  private launched = 0;
  private readonly inFlight: Promise<void>[] = [];

  /** `grads` in the order backward completes them (usually reverse parameter order). */
  constructor(
    private readonly group: Collectives,
    private readonly grads: readonly Float32Array[],
    private readonly options: GradientBucketOptions = {},
  ) {
    this.buckets = assignBuckets(
      grads.map((g) => g.length),
      options.bucketBytes ?? 4 << 20,
    );
    this.spans = this.buckets.map(([a, b]) => contiguousSpan(grads, a, b));
    this.ready = new Array<boolean>(grads.length).fill(false);
  }

  get bucketCount(): number {
    return this.buckets.length;
  }

  /** Gradient `index` holds its final value for this step; launches every bucket that has become complete. */
  markReady(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.grads.length) {
      throw new CollectiveError(`gradient index ${index} is outside 0..${this.grads.length - 1}`);
    }
    if (this.ready[index]) throw new CollectiveError(`gradient ${index} was marked ready twice in one step`);
    this.ready[index] = true;
    while (this.launched < this.buckets.length) {
      const [a, b] = this.buckets[this.launched]!;
      if (!this.ready.slice(a, b).every(Boolean)) break;
      const span = this.spans[this.launched]!;
      const reduced = span ? this.reduceSpan(span) : this.reduceBucket(a, b);
      reduced.catch(() => {}); // awaited in finish(); a failure must not surface as unhandled meanwhile
      this.inFlight.push(reduced);
      this.launched++;
    }
  }

  private async reduceSpan(span: Float32Array): Promise<void> {
    await this.group.allReduce(span);
    const scale = this.options.scale ?? 1;
    if (scale !== 1) for (let i = 0; i < span.length; i++) span[i]! *= scale;
  }

  private async reduceBucket(a: number, b: number): Promise<void> {
    const parts = this.grads.slice(a, b);
    const flat = new Float32Array(parts.reduce((s, g) => s + g.length, 0));
    let offset = 0;
    for (const g of parts) {
      flat.set(g, offset);
      offset += g.length;
    }
    await this.group.allReduce(flat);
    const scale = this.options.scale ?? 1;
    offset = 0;
    for (const g of parts) {
      const view = flat.subarray(offset, offset + g.length);
      if (scale === 1) g.set(view);
      else for (let i = 0; i < g.length; i++) g[i] = view[i]! * scale;
      offset += g.length;
    }
  }

  /** Waits for every bucket; then the object is ready for the next step. */
  async finish(): Promise<void> {
    const missing = this.ready.flatMap((r, i) => (r ? [] : [i]));
    try {
      if (missing.length) {
        await Promise.allSettled(this.inFlight);
        throw new CollectiveError(
          `gradients ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ", …" : ""} were never marked ready`,
        );
      }
      await Promise.all(this.inFlight);
    } finally {
      this.ready = new Array<boolean>(this.grads.length).fill(false);
      this.launched = 0;
      this.inFlight.length = 0;
    }
  }
}

/** Bytes of alignment padding allowed between two gradients of one span (a parameter store aligns to 64 bytes). */
const MAX_GAP_BYTES = 64;

/**
 * One view over grads[a..b) when they tile a range of one buffer (in any order), with at most alignment padding
 * between them and no other of `grads` inside it; else null. The padding is reduced with them (it stays zero).
 */
export function contiguousSpan(grads: readonly Float32Array[], a: number, b: number): Float32Array | null {
  const buffer = grads[a]!.buffer;
  const parts = grads.slice(a, b).map((g) => [g.byteOffset, g.byteOffset + g.byteLength] as const);
  if (grads.slice(a, b).some((g) => g.buffer !== buffer)) return null;
  parts.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < parts.length; i++) {
    const gap = parts[i]![0] - parts[i - 1]![1];
    if (gap < 0 || gap >= MAX_GAP_BYTES) return null;
  }
  const lo = parts[0]![0],
    hi = parts.at(-1)![1];
  const foreign = grads.some((g, i) => (i < a || i >= b) && g.buffer === buffer && g.byteOffset < hi && g.byteOffset + g.byteLength > lo);
  return foreign ? null : new Float32Array(buffer, lo, (hi - lo) / 4);
}
